// A whole fanoutd node in this process, on 127.0.0.1:0, as its config makes
// it: what the default node publishes (no lab, no admin routes), the gRPC
// door's limits and reflection switch, and /config hiding secrets while the
// node still uses them.
#include "services/fanoutd/node.h"

#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "fanout/lab/v1/lab.grpc.pb.h"
#include "node/config/yaml_proto.h"
#include "node/rpc/reflection_client.h"
#include "tests/support/http_client.h"
#include "tests/support/loop_fixture.h"
#include "tests/support/otlp_collector.h"
#include "tests/support/status_matchers.h"

namespace fanout::fanoutd {
namespace {

using ::fanout::testing::HttpCall;
using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

class NodeTest : public testing::LoopTest {
 protected:
  NodeTest() : LoopTest(1) {}
  ~NodeTest() override {
    node_.reset();
    if (!data_dir_.empty()) std::filesystem::remove_all(data_dir_);
  }

  // The embedded defaults with free ports, `yaml` over them.
  void StartNode(const std::string& yaml = "") {
    data_dir_ = std::filesystem::temp_directory_path() /
                absl::StrCat("fanout-node-test-", ::getpid(), "-", ++serial_);
    NodeConfig config = DefaultNodeConfig();
    config.set_grpc_address("127.0.0.1:0");
    config.set_admin_address("127.0.0.1:0");
    config.set_loops(1);
    config.set_data_dir(data_dir_.string());
    config.mutable_gateway()->set_rest_address("127.0.0.1:0");
    ASSERT_THAT(YamlTextToMessage(yaml, "test", &config), IsOk());
    ASSERT_THAT(ValidateNodeConfig(config), IsOk());
    node_ = std::make_unique<Node>(config);
    ASSERT_THAT(node_->Start(), IsOk());
  }

  std::shared_ptr<grpc::Channel> Channel() {
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", node_->grpc_port()),
                               grpc::InsecureChannelCredentials());
  }

  grpc::Status Echo(const std::string& metadata_value = "") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!metadata_value.empty()) context.AddMetadata("x-big", metadata_value);
    lab::v1::EchoRequest request;
    request.set_message("hi");
    lab::v1::EchoResponse response;
    return lab::v1::Lab::NewStub(Channel())->Echo(&context, request, &response);
  }

  absl::StatusOr<std::vector<std::string>> ReflectedServices() {
    grpc::GenericStub stub(Channel());
    return Run(ListServices(&stub, {.deadline = absl::Now() + absl::Seconds(10)}));
  }

  std::filesystem::path data_dir_;
  std::unique_ptr<Node> node_;
  static inline int serial_ = 0;
};

TEST_F(NodeTest, TheDefaultNodePublishesNoLabAndNoAdminRoutes) {
  StartNode();
  EXPECT_EQ(Echo().error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(HttpCall(node_->rest_port(), "GET", "/v1/lab/echo?message=x").status, 404);
  // Listing every user and deleting one are not routes; creating one is.
  testing::HttpResult list = HttpCall(node_->rest_port(), "GET", "/v1/users");
  EXPECT_EQ(list.status, 405) << list.body;
  EXPECT_EQ(list.headers["allow"], "POST");
  EXPECT_EQ(HttpCall(node_->rest_port(), "DELETE", "/v1/users/1").status, 405);
  EXPECT_EQ(HttpCall(node_->rest_port(), "POST", "/v1/users",
                     R"({"name": "Ada", "email": "ada@example.com"})")
                .status,
            201);
}

TEST_F(NodeTest, LabAndAdminRoutesWhenTheConfigAsksForThem) {
  StartNode("roles: {lab: true}\ngateway: {admin_routes: true}");
  EXPECT_TRUE(Echo().ok());
  testing::HttpResult echo = HttpCall(node_->rest_port(), "GET", "/v1/lab/echo?message=x");
  EXPECT_EQ(echo.status, 200) << echo.body;
  ASSERT_EQ(HttpCall(node_->rest_port(), "POST", "/v1/users",
                     R"({"name": "Ada", "email": "ada@example.com"})")
                .status,
            201);
  testing::HttpResult list = HttpCall(node_->rest_port(), "GET", "/v1/users");
  EXPECT_EQ(list.status, 200) << list.body;
  EXPECT_THAT(list.body, HasSubstr("ada@example.com"));
  EXPECT_EQ(HttpCall(node_->rest_port(), "DELETE", "/v1/users/1").status, 200);
}

TEST_F(NodeTest, ReflectionIsServedUnlessSwitchedOff) {
  StartNode("roles: {lab: true}");
  absl::StatusOr<std::vector<std::string>> services = ReflectedServices();
  ASSERT_THAT(services, IsOk());
  EXPECT_THAT(*services, Contains("fanout.lab.v1.Lab"));
  node_.reset();

  StartNode("roles: {lab: true}\ngrpc_server: {reflection: false}");
  EXPECT_THAT(ReflectedServices(), StatusIs(absl::StatusCode::kUnimplemented));
  EXPECT_TRUE(Echo().ok());  // Everything else is served as before.
}

TEST_F(NodeTest, TheGrpcDoorHasTheConfiguredLimits) {
  StartNode("roles: {lab: true}\ngrpc_server: {max_metadata_bytes: 2048}");
  EXPECT_TRUE(Echo(std::string(1000, 'a')).ok());
  EXPECT_EQ(Echo(std::string(4000, 'a')).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(NodeTest, ConfigShowsSecretsRedactedWhileTheNodeUsesThem) {
  testing::OtlpCollector collector;
  ASSERT_TRUE(collector.ok());
  StartNode(absl::StrCat("tracing: {otlp_endpoint: \"", collector.address(),
                         "\", flush_interval_ms: 50, headers: {authorization: \"Bearer "
                         "n0de-secret\"}}"));
  testing::HttpResult config = HttpCall(node_->admin_port(), "GET", "/config");
  ASSERT_EQ(config.status, 200);
  EXPECT_THAT(config.body, HasSubstr(R"("authorization": "[redacted]")"));
  EXPECT_THAT(config.body, Not(HasSubstr("n0de-secret")));
  // The collector gets the real value with the node's spans.
  ASSERT_EQ(HttpCall(node_->rest_port(), "POST", "/v1/users",
                     R"({"name": "Ada", "email": "ada@example.com"})")
                .status,
            201);
  ASSERT_TRUE(collector.WaitForSpans(1, absl::Seconds(10)));
  EXPECT_EQ(collector.last_metadata()["authorization"], "Bearer n0de-secret");
}

}  // namespace
}  // namespace fanout::fanoutd
