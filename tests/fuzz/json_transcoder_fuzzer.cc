// libFuzzer target: the REST transcoder (gateway/json_parse.h,
// gateway/message_json.h) on arbitrary bytes.
//
// Properties: nothing crashes, leaks or trips a sanitizer; every input is
// decided (accepted or refused with INVALID_ARGUMENT) within the limits;
// what is accepted into a message prints, parses back and reads into an
// equal message.
//
// Fuzz for real (clang-14, libFuzzer):  bash tests/fuzz/fuzz.sh json_transcoder build 600
// The seed corpus (tests/fuzz/corpus/json_transcoder/) also runs as a unit
// test on every build (tests/unit/fuzz_corpus_test.cc), so a crash saved
// there stays fixed.

#include <cstdint>
#include <optional>
#include <string>

#include "fanout/test/v1/every_field.pb.h"
#include "gateway/json_parse.h"
#include "gateway/message_json.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/message_diff.h"

namespace fanout::fuzz {
namespace {

[[noreturn]] void Broken(const char* what, const std::string& detail) {
  fuzz::Broken("json_transcoder", what, detail);
}

}  // namespace

int FuzzJsonTranscoder(const uint8_t* data, size_t size) {
  using fanout::gateway::JsonLimits;
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  // Tight limits, so the fuzzer reaches them.
  JsonLimits limits{.max_depth = 16, .max_elements = 2000, .max_string_bytes = 4096};
  absl::StatusOr<google::protobuf::Value> value = fanout::gateway::ParseJson(text, limits);
  if (!value.ok()) {
    if (value.status().code() != absl::StatusCode::kInvalidArgument) {
      Broken("parse failed with a code other than INVALID_ARGUMENT", value.status().ToString());
    }
    return 0;
  }
  fanout::test::v1::EveryField message;
  absl::Status read = fanout::gateway::ValueToMessage(*value, &message);
  if (!read.ok()) {
    if (read.code() != absl::StatusCode::kInvalidArgument) {
      Broken("read failed with a code other than INVALID_ARGUMENT", read.ToString());
    }
    return 0;
  }
  std::string printed;
  if (absl::Status s = fanout::gateway::AppendMessageJson(message, &printed); !s.ok()) {
    Broken("an accepted message does not print", s.ToString());
  }
  absl::StatusOr<google::protobuf::Value> again =
      fanout::gateway::ParseJson(printed, JsonLimits::Internal());
  if (!again.ok()) Broken("printed JSON does not parse", printed);
  fanout::test::v1::EveryField back;
  if (absl::Status s = fanout::gateway::ValueToMessage(*again, &back); !s.ok()) {
    Broken("printed JSON does not read back", s.ToString() + " in " + printed);
  }
  if (std::optional<std::string> diff = MessageDifference(message, back)) {
    Broken("round trip changed the message", *diff);
  }
  return 0;
}

}  // namespace fanout::fuzz

FANOUT_FUZZ_ENTRY(fanout::fuzz::FuzzJsonTranscoder)
