// The gateway section checked whole (what fanoutd --check-config runs): the
// metadata allowlist holds only keys that are a caller's to forward.
#include "gateway/gateway_config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "node/config/yaml_proto.h"
#include "tests/support/status_matchers.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(GatewayConfigTest, AllowlistKeysMustBeSendableAsMetadata) {
  config::v1::GatewayConfig config;
  ASSERT_THAT(
      YamlTextToMessage(R"(metadata_allowlist: [X-Request-Id, "x request"])", "test", &config),
      IsOk());
  EXPECT_THAT(CheckGatewayConfig(config, {"lab"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(R"(gateway.metadata_allowlist[1]: metadata key "x request")")));
  config.mutable_metadata_allowlist()->RemoveLast();
  EXPECT_THAT(CheckGatewayConfig(config, {"lab"}), IsOk());  // Upper case is folded.
}

TEST(GatewayConfigTest, AllowlistRefusesKeysThatAreNotTheCallersToForward) {
  struct Case {
    std::string key;
    std::string why;
  };
  for (const Case& c : std::vector<Case>{
           {"x-fanout-subject", "x-fanout-* keys are set by the gateway itself"},
           {"X-Fanout-Hops", "x-fanout-* keys are set by the gateway itself"},
           {"grpc-timeout", "grpc-* keys are gRPC's own"},
           {":authority", "an HTTP/2 pseudo-header"},
           {"content-type", "gRPC sets it on every call itself"},
           {"te", "gRPC sets it on every call itself"},
           {"host", "describes the caller's HTTP connection or body"},
           {"connection", "describes the caller's HTTP connection or body"},
           {"keep-alive", "describes the caller's HTTP connection or body"},
           {"transfer-encoding", "describes the caller's HTTP connection or body"},
           {"upgrade", "describes the caller's HTTP connection or body"},
           {"proxy-authorization", "describes the caller's HTTP connection or body"},
           {"content-length", "describes the caller's HTTP connection or body"},
       }) {
    config::v1::GatewayConfig config;
    config.add_metadata_allowlist("x-request-id");
    config.add_metadata_allowlist(c.key);
    EXPECT_THAT(CheckGatewayConfig(config, {"lab"}),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr(absl::StrCat("gateway.metadata_allowlist[1]: \"",
                                                      absl::AsciiStrToLower(c.key),
                                                      "\" cannot be forwarded: ")),
                               HasSubstr(c.why))))
        << c.key;
  }
  // A bearer token may go on: backends may check it again. Without auth, a
  // caller's x-user-id may too (nothing is verified there anyway).
  config::v1::GatewayConfig open;
  for (const char* key : {"authorization", "x-user-id", "x-tenant-id", "cookie"}) {
    open.add_metadata_allowlist(key);
  }
  EXPECT_THAT(CheckGatewayConfig(open, {"lab"}), IsOk());
}

TEST(GatewayConfigTest, AllowlistRefusesXUserIdOnceCallersAreVerified) {
  std::string keys = std::filesystem::path(::testing::TempDir()) /
                     absl::StrCat("route_test_api_keys_", ::getpid());
  {
    std::ofstream out(keys);
    out << "ci " << std::string(64, 'a') << " orders.read\n";
  }
  config::v1::GatewayConfig config;
  ASSERT_THAT(
      YamlTextToMessage(absl::StrCat("auth: {api_keys: {file: \"", keys,
                                     "\"}}\nmetadata_allowlist: [authorization, X-User-Id]"),
                        "test", &config),
      IsOk());
  EXPECT_THAT(CheckGatewayConfig(config, {"lab"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("gateway.metadata_allowlist[1]: \"x-user-id\""),
                             HasSubstr("backends read the verified x-fanout-subject"))));
  config.mutable_metadata_allowlist()->RemoveLast();
  EXPECT_THAT(CheckGatewayConfig(config, {"lab"}), IsOk());
  std::filesystem::remove(keys);
}

}  // namespace
}  // namespace fanout::gateway
