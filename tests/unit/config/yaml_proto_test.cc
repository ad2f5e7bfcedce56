#include "node/config/yaml_proto.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fanout/config/v1/node_config.pb.h"
#include "tests/support/status_matchers.h"

namespace fanout {
namespace {

using config::v1::NodeConfig;
using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

absl::Status Parse(std::string_view yaml, NodeConfig* config) {
  return YamlTextToMessage(yaml, "node.yaml", config);
}

TEST(YamlProtoTest, ReadsEveryKindOfField) {
  NodeConfig config;
  ASSERT_THAT(Parse(R"(
node_name: edge-1
grpc_address: 0.0.0.0:50051
loops: 4
roles: {users: true, gateway: true}
backends:
  users: {target: "dns:///users:50051", timeout_ms: 250}
  orders:
    target: 127.0.0.1:7000
shutdown: {grace_ms: 5000}
log: {level: warning}
)",
                    &config),
              IsOk());
  EXPECT_EQ(config.node_name(), "edge-1");
  EXPECT_EQ(config.loops(), 4);
  EXPECT_TRUE(config.roles().users());
  EXPECT_FALSE(config.roles().orders());
  EXPECT_EQ(config.backends().at("users").target(), "dns:///users:50051");
  EXPECT_EQ(config.backends().at("users").timeout_ms(), 250);
  EXPECT_EQ(config.backends().at("orders").target(), "127.0.0.1:7000");
  EXPECT_EQ(config.log().level(), config::v1::Log::WARNING);
}

TEST(YamlProtoTest, UnknownKeyNamesPathAndKnownKeys) {
  NodeConfig config;
  EXPECT_THAT(Parse("backends:\n  users: {target: x, timout_ms: 5}\n", &config),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("node.yaml: backends.users: unknown key \"timout_ms\""),
                             HasSubstr("timeout_ms"))));
}

TEST(YamlProtoTest, WrongTypeNamesPathAndValue) {
  NodeConfig config;
  EXPECT_THAT(Parse("loops: two\n", &config),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("loops: expected a 32-bit integer, got \"two\"")));
  EXPECT_THAT(Parse("roles: {users: maybe}\n", &config),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("roles.users: expected true or false, got \"maybe\"")));
  EXPECT_THAT(Parse("roles: [users]\n", &config),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("roles: expected a mapping")));
  EXPECT_THAT(Parse("log: {level: loud}\n", &config),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("log.level: expected one of level_unspecified, debug")));
  EXPECT_THAT(Parse("loops: 99999999999\n", &config),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("loops")));
}

// A key twice in one mapping is refused (YAML allows it; which one would
// win is not obvious), and a map key the message already holds is written
// over, not added again (found by fuzz_node_config: through reflection a
// proto map is a list, and two entries of one key printed as one).
TEST(YamlProtoTest, AKeyTwiceIsRefusedAndAMapKeyAlreadyHeldIsWrittenOver) {
  NodeConfig config;
  EXPECT_THAT(Parse("loops: 1\nloops: 2\n", &config),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("node.yaml: (top level): key \"loops\" appears twice")));
  EXPECT_THAT(
      Parse("backends: {a: {target: x}}\nbackends: {a: {target: y}}\n", &config),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("key \"backends\" appears twice")));
  EXPECT_THAT(Parse("backends: {a: {target: x}, a: {target: y}}\n", &config),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("node.yaml: backends.a: key appears twice")));

  NodeConfig merged;
  ASSERT_THAT(Parse("backends: {a: {target: x, timeout_ms: 5}}\n", &merged), IsOk());
  ASSERT_THAT(Parse("backends: {a: {target: y}, b: {target: z}}\n", &merged), IsOk());
  EXPECT_EQ(merged.backends_size(), 2);
  EXPECT_EQ(merged.GetReflection()->FieldSize(merged,
                                              merged.GetDescriptor()->FindFieldByName("backends")),
            2);  // One entry per key in the list view too.
  EXPECT_EQ(merged.backends().at("a").target(), "y");
  EXPECT_EQ(merged.backends().at("a").timeout_ms(), 5);  // Written over, as any message is.
}

TEST(YamlProtoTest, SyntaxErrorNamesLine) {
  NodeConfig config;
  EXPECT_THAT(Parse("loops: 1\nroles: {users: true\n", &config),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("node.yaml: YAML syntax error at line"))));
}

TEST(YamlProtoTest, MissingFileIsNotFound) {
  NodeConfig config;
  EXPECT_THAT(YamlFileToMessage("/nonexistent/fanout.yaml", &config),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/fanout.yaml")));
}

TEST(YamlProtoTest, EmptyDocumentKeepsDefaults) {
  NodeConfig config;
  config.set_loops(3);
  EXPECT_THAT(Parse("", &config), IsOk());
  EXPECT_EQ(config.loops(), 3);
}

}  // namespace
}  // namespace fanout
