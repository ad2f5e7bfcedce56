// fanoutd's config: how the gRPC door's limits are checked.
#include "services/fanoutd/node_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "node/config/yaml_proto.h"
#include "tests/support/status_matchers.h"

namespace fanout::fanoutd {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::testing::HasSubstr;

NodeConfig FromYaml(const std::string& yaml) {
  NodeConfig config = DefaultNodeConfig();
  EXPECT_THAT(YamlTextToMessage(yaml, "test", &config), IsOk());
  return config;
}

TEST(NodeConfigTest, GrpcServerLimitsAreCheckedByKey) {
  EXPECT_THAT(ValidateNodeConfig(FromYaml(R"(
grpc_server: {max_concurrent_streams: 100, max_metadata_bytes: 16384, min_ping_interval_ms: 5000,
              max_ping_strikes: 3, permit_keepalive_without_calls: true,
              max_connection_age_ms: 600000, max_connection_age_grace_ms: 1000,
              max_connection_idle_ms: 60000, reflection: false}
)")),
              IsOk());
  struct Case {
    std::string yaml;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {"grpc_server: {max_concurrent_streams: -1}",
            "grpc_server.max_concurrent_streams: must be >= 0 (0: 1000), got -1"},
           {"grpc_server: {max_metadata_bytes: 100}",
            "grpc_server.max_metadata_bytes: must be 0 (8192) or in [1024, 16777216], got 100"},
           {"grpc_server: {max_metadata_bytes: 20000000}",
            "grpc_server.max_metadata_bytes: must be 0 (8192) or in [1024, 16777216], got "
            "20000000"},
           {"grpc_server: {max_ping_strikes: -2}",
            "grpc_server.max_ping_strikes: must be >= 0 (0: 2), got -2"},
           {"grpc_server: {min_ping_interval_ms: -1}",
            "grpc_server.min_ping_interval_ms: must be in"},
           {"grpc_server: {max_connection_age_ms: 3000000000}",
            "grpc_server.max_connection_age_ms: must be in [0, 2147483647] (0: the default), got "
            "3000000000"},
           {"grpc_server: {max_connection_age_grace_ms: -5}",
            "grpc_server.max_connection_age_grace_ms: must be in"},
           {"grpc_server: {max_connection_idle_ms: -5}",
            "grpc_server.max_connection_idle_ms: must be in"},
       }) {
    EXPECT_THAT(ValidateNodeConfig(FromYaml(c.yaml)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.error)))
        << c.yaml;
  }
}

}  // namespace
}  // namespace fanout::fanoutd
