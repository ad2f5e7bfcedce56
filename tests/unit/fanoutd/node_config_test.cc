// fanoutd's config: how the limits of the gRPC and REST doors are checked.
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

TEST(NodeConfigTest, RestDoorLimitsAreCheckedByKey) {
  EXPECT_THAT(ValidateNodeConfig(FromYaml(R"(
gateway: {max_header_bytes: 16384, read_timeout_ms: 5000, idle_timeout_ms: 30000,
          max_requests_per_connection: 1000, max_connections: 500}
)")),
              IsOk());
  for (const auto& [yaml, error] : std::vector<std::pair<std::string, std::string>>{
           {"gateway: {max_header_bytes: -1}",
            "gateway.max_header_bytes: must be 0 (8192) to 1048576, got -1"},
           {"gateway: {max_header_bytes: 2000000}",
            "gateway.max_header_bytes: must be 0 (8192) to 1048576, got 2000000"},
           {"gateway: {read_timeout_ms: -1}", "gateway.read_timeout_ms: must be >= 0, got -1"},
           {"gateway: {idle_timeout_ms: -1}", "gateway.idle_timeout_ms: must be >= 0, got -1"},
           {"gateway: {max_requests_per_connection: -1}",
            "gateway.max_requests_per_connection: must be >= 0, got -1"},
           {"gateway: {max_connections: -1}", "gateway.max_connections: must be >= 0, got -1"},
       }) {
    EXPECT_THAT(ValidateNodeConfig(FromYaml(yaml)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(error)))
        << yaml;
  }
}

}  // namespace
}  // namespace fanout::fanoutd
