// libFuzzer target: a YAML config file through to compiled routes: YAML
// text → NodeConfig (node/config/yaml_proto.h) over the embedded defaults,
// as LoadNodeConfig reads a file → ValidateNodeConfig, which compiles the
// gateway's routes (gateway/route.h) when the gateway role is on.
//
// Properties: every input is decided (loaded or refused with
// INVALID_ARGUMENT naming the file), nothing crashes or leaks; a config
// that validates prints (NodeConfigToText, what /config shows and --config
// loads) into text that loads back into an equal config that validates.
//
// gateway.descriptor_sets is cleared: it names files to read, and a fuzzer
// must not open /dev/zero.
//
// Fuzz for real:  bash tests/fuzz/fuzz.sh node_config build 600

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "node/config/yaml_proto.h"
#include "services/fanoutd/node_config.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/message_diff.h"

namespace fanout::fuzz {
namespace {

[[noreturn]] void Broken(const char* what, const std::string& detail) {
  fuzz::Broken("node_config", what, detail);
}

void CheckRefusal(const absl::Status& status, const char* stage) {
  if (status.code() != absl::StatusCode::kInvalidArgument) {
    Broken(stage, "refused with a code other than INVALID_ARGUMENT: " + status.ToString());
  }
}

}  // namespace

int FuzzNodeConfig(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  fanoutd::NodeConfig config = fanoutd::DefaultNodeConfig();
  absl::Status loaded = YamlTextToMessage(text, "fuzz.yaml", &config);
  if (!loaded.ok()) {
    CheckRefusal(loaded, "loading");
    if (!absl::StartsWith(loaded.message(), "fuzz.yaml")) {
      Broken("a load error does not name the file", loaded.ToString());
    }
    return 0;
  }
  config.mutable_gateway()->clear_descriptor_sets();
  absl::Status valid = fanoutd::ValidateNodeConfig(config);
  if (!valid.ok()) {
    CheckRefusal(valid, "validation");
    return 0;
  }
  std::string printed = fanoutd::NodeConfigToText(config);
  fanoutd::NodeConfig again;
  if (absl::Status s = YamlTextToMessage(printed, "printed", &again); !s.ok()) {
    Broken("a valid config prints into text that does not load", s.ToString() + "\n" + printed);
  }
  if (std::optional<std::string> diff = MessageDifference(config, again)) {
    Broken("the printed config loads differently", *diff);
  }
  if (absl::Status s = fanoutd::ValidateNodeConfig(again); !s.ok()) {
    Broken("the printed config does not validate", s.ToString());
  }
  return 0;
}

}  // namespace fanout::fuzz

FANOUT_FUZZ_ENTRY(fanout::fuzz::FuzzNodeConfig)
