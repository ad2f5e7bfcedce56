// A whole fanoutd node in this process, on 127.0.0.1:0, as its config makes
// it: what the default node publishes (no lab, no admin routes), the gRPC
// door's limits and reflection switch, /config hiding secrets while the
// node still uses them, and TLS files read again every reload_interval_ms
// (two nodes on the same files, one looking every second, one hourly).
#include "services/fanoutd/node.h"

#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "fanout/lab/v1/lab.grpc.pb.h"
#include "node/async/spawn.h"
#include "node/config/yaml_proto.h"
#include "node/rpc/reflection_client.h"
#include "node/rpc/server.h"
#include "services/lab/lab_service.h"
#include "tests/support/eventually.h"
#include "tests/support/http_client.h"
#include "tests/support/https_test_client.h"
#include "tests/support/loop_fixture.h"
#include "tests/support/otlp_collector.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_certificates.h"

namespace fanout::fanoutd {
namespace {

using ::fanout::testing::Eventually;
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
    for (const std::filesystem::path& dir : data_dirs_) std::filesystem::remove_all(dir);
  }

  // The embedded defaults with free ports, `yaml` over them, started; null
  // (with the test failed) when the config is refused or the node does not
  // start.
  std::unique_ptr<Node> NewNode(const std::string& yaml = "") {
    data_dirs_.push_back(std::filesystem::temp_directory_path() /
                         absl::StrCat("fanout-node-test-", ::getpid(), "-", ++serial_));
    NodeConfig config = DefaultNodeConfig();
    config.set_grpc_address("127.0.0.1:0");
    config.set_admin_address("127.0.0.1:0");
    config.set_loops(1);
    config.set_data_dir(data_dirs_.back().string());
    config.mutable_gateway()->set_rest_address("127.0.0.1:0");
    absl::Status parsed = YamlTextToMessage(yaml, "test", &config);
    if (parsed.ok()) parsed = ValidateNodeConfig(config);
    EXPECT_THAT(parsed, IsOk());
    if (!parsed.ok()) return nullptr;
    auto node = std::make_unique<Node>(config);
    absl::Status started = node->Start();
    EXPECT_THAT(started, IsOk());
    return started.ok() ? std::move(node) : nullptr;
  }
  void StartNode(const std::string& yaml = "") {
    node_ = NewNode(yaml);
    ASSERT_NE(node_, nullptr);
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

  std::vector<std::filesystem::path> data_dirs_;  // Every node's, the last one's last.
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

// proves: roles.lab, gateway.admin_routes
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

// proves: grpc_server.reflection
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

// proves: grpc_server.max_metadata_bytes
TEST_F(NodeTest, TheGrpcDoorHasTheConfiguredLimits) {
  StartNode("roles: {lab: true}\ngrpc_server: {max_metadata_bytes: 2048}");
  EXPECT_TRUE(Echo(std::string(1000, 'a')).ok());
  EXPECT_EQ(Echo(std::string(4000, 'a')).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

// proves: admin_address, tracing.otlp_endpoint, tracing.headers
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

// Each role alone: the node serves its service and no other role's (the
// others are backends elsewhere); only the gateway opens the REST door (its
// gRPC door is a generic service, which reflection does not list).
// proves: roles.users, roles.orders, roles.recommendations, roles.gateway
TEST_F(NodeTest, EachRoleServesItsServiceAndNoOther) {
  const std::vector<std::pair<std::string, std::string>> roles = {
      {"users", "fanout.users.v1.Users"},
      {"orders", "fanout.orders.v1.Orders"},
      {"recommendations", "fanout.recommendations.v1.Recommendations"},
      {"gateway", "fanout.gateway.v1.Gateway"}};
  for (const auto& [role, service] : roles) {
    SCOPED_TRACE(role);
    node_.reset();
    std::string only;
    for (const auto& [other, unused] : roles) {
      absl::StrAppend(&only, only.empty() ? "" : ", ", other, ": ",
                      other == role ? "true" : "false");
    }
    StartNode(absl::StrCat("roles: {", only,
                           "}\nbackends: {users: {target: \"127.0.0.1:1\"}, orders: {target: "
                           "\"127.0.0.1:1\"}, recommendations: {target: \"127.0.0.1:1\"}}"));
    ASSERT_NE(node_, nullptr);
    absl::StatusOr<std::vector<std::string>> served = ReflectedServices();
    ASSERT_THAT(served, IsOk());
    for (const auto& [other, other_service] : roles) {
      if (other == "gateway") continue;
      if (other == role) {
        EXPECT_THAT(*served, Contains(other_service));
      } else {
        EXPECT_THAT(*served, Not(Contains(other_service)));
      }
    }
    if (role == "gateway") {
      EXPECT_EQ(HttpCall(node_->rest_port(), "GET", "/nowhere").status, 404);
    } else {
      EXPECT_EQ(node_->rest_port(), 0);
    }
  }
}

// proves: node_name
TEST_F(NodeTest, TheLabAnswersInTheNodesName) {
  StartNode("node_name: lab-7\nroles: {lab: true}");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  lab::v1::EchoResponse response;
  ASSERT_TRUE(lab::v1::Lab::NewStub(Channel())->Echo(&context, {}, &response).ok());
  EXPECT_EQ(response.served_by(), "lab-7");
}

// proves: data_dir, store.sqlite
TEST_F(NodeTest, SqliteKeepsItsFilesInTheDataDir) {
  StartNode("store: {sqlite: {}}");
  EXPECT_TRUE(std::filesystem::exists(data_dirs_.back() / "users.db"));
  EXPECT_TRUE(std::filesystem::exists(data_dirs_.back() / "orders.db"));
}

// proves: grpc_address
TEST_F(NodeTest, TheGrpcDoorListensWhereTheConfigSays) {
  std::string socket = (std::filesystem::temp_directory_path() /
                        absl::StrCat("fanout-node-test-", ::getpid(), ".sock"))
                           .string();
  StartNode(absl::StrCat("grpc_address: \"unix:", socket, "\"\nroles: {lab: true}"));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  lab::v1::EchoResponse response;
  auto stub = lab::v1::Lab::NewStub(
      grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
  EXPECT_TRUE(stub->Echo(&context, {}, &response).ok());
  node_.reset();
  std::filesystem::remove(socket);
}

// Three jobs that block take the three threads, one waits in the queue of
// one, and the next is refused (the defaults: two threads, 1024 queued).
// proves: offload.threads, offload.queue_capacity
TEST_F(NodeTest, TheOffloadPoolHasTheConfiguredThreadsAndQueue) {
  StartNode("offload: {threads: 3, queue_capacity: 1}");
  OffloadPool& pool = node_->offload_pool();
  absl::Notification release;
  std::atomic<int> spawned{0}, finished{0};
  // However the test ends, no job is left blocked on the locals.
  absl::Cleanup unblock = [&] {
    if (!release.HasBeenNotified()) release.Notify();
    EXPECT_TRUE(testing::Eventually([&] { return finished.load() == spawned.load(); }));
  };
  auto blocked = [&]() -> Task<absl::Status> {
    ++spawned;
    absl::Status status = co_await pool.Run([&] {
      release.WaitForNotification();
      return absl::OkStatus();
    });
    ++finished;
    co_return status;
  };
  // One at a time: a job waits in the queue until a thread takes it, so
  // jobs sent together could find the queue of one full.
  for (int i = 1; i <= 3; ++i) {
    Spawn(loop(), blocked());
    EXPECT_TRUE(testing::Eventually([&] { return pool.running() == i; }))
        << "running " << pool.running() << " of " << i;
  }
  Spawn(loop(), blocked());
  EXPECT_TRUE(testing::Eventually([&] { return pool.queue_depth() == 1; }));
  EXPECT_EQ(pool.running(), 3);
  auto one_more = [&]() -> Task<absl::Status> {
    co_return co_await pool.Run([] { return absl::OkStatus(); });
  };
  EXPECT_THAT(Run(one_more()), StatusIs(absl::StatusCode::kResourceExhausted));
}

// Two lab replicas behind one target: round_robin (the default) spreads the
// proxied calls over both, pick_first sends them all to one.
// proves: backends.*.load_balancing
TEST_F(NodeTest, LoadBalancingChoosesHowCallsSpreadOverReplicas) {
  std::vector<std::unique_ptr<Server>> servers;
  std::vector<std::unique_ptr<lab::LabService>> labs;
  std::vector<std::string> addresses;
  for (const char* name : {"replica-a", "replica-b"}) {
    servers.push_back(std::make_unique<Server>(
        Server::Options{.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1}));
    labs.push_back(std::make_unique<lab::LabService>(lab::LabService::Options{.name = name}));
    labs.back()->Register(*servers.back());
    ASSERT_THAT(servers.back()->Start(), IsOk());
    labs.back()->Serve(*servers.back());
    addresses.push_back(absl::StrCat("127.0.0.1:", servers.back()->port()));
  }
  auto served_by = [&](const std::string& policy) {
    node_.reset();
    StartNode(absl::StrCat("backends: {lab: {target: \"ipv4:", absl::StrJoin(addresses, ","),
                           "\", services: [fanout.lab.v1.Lab]", policy, "}}"));
    std::set<std::string> seen;
    for (int i = 0; i < 50 && seen.size() < 2; ++i) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      lab::v1::EchoResponse response;
      grpc::Status status = lab::v1::Lab::NewStub(Channel())->Echo(&context, {}, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      seen.insert(response.served_by());
    }
    return seen;
  };
  EXPECT_EQ(served_by("").size(), 2u);
  EXPECT_EQ(served_by(", load_balancing: pick_first").size(), 1u);
  node_.reset();
  for (auto& server : servers) server->Shutdown(absl::Seconds(1));
}

// A TLS backend whose certificate names localhost and 127.0.0.1: asked for
// another name, the node refuses to call it.
// proves: backends.*.tls.server_name_override
TEST_F(NodeTest, ABackendsCertificateMustCarryTheNameAsked) {
  absl::StatusOr<testing::TestCertificates> certs = testing::TestCertificates::Create();
  ASSERT_THAT(certs.status(), IsOk());
  Server sealed({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1, .tls = certs->ServerTls()});
  lab::LabService lab({.name = "sealed"});
  lab.Register(sealed);
  ASSERT_THAT(sealed.Start(), IsOk());
  lab.Serve(sealed);
  auto echo_through = [&](const std::string& name) {
    node_.reset();
    StartNode(absl::StrCat("backends: {lab: {target: \"127.0.0.1:", sealed.port(),
                           "\", services: [fanout.lab.v1.Lab], tls: {ca_file: ", certs->ca,
                           ", server_name_override: ", name, "}}}"));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    lab::v1::EchoResponse response;
    return lab::v1::Lab::NewStub(Channel())->Echo(&context, {}, &response);
  };
  grpc::Status named = echo_through("localhost");
  EXPECT_TRUE(named.ok()) << named.error_message();
  EXPECT_FALSE(echo_through("elsewhere.example").ok());
  node_.reset();
  sealed.Shutdown(absl::Seconds(1));
}

// The CN of the certificate the node's gRPC door shows a new connection.
std::string GrpcDoorName(const Node& node, const std::string& ca_file) {
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  args.SetInt("grpc.use_local_subchannel_pool", 1);  // A connection of its own.
  std::ifstream ca(ca_file);
  auto channel = grpc::CreateCustomChannel(
      absl::StrCat("127.0.0.1:", node.grpc_port()),
      grpc::SslCredentials({.pem_root_certs = std::string(std::istreambuf_iterator<char>(ca), {})}),
      args);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = grpc::health::v1::Health::NewStub(channel)->Check(
      &context, grpc::health::v1::HealthCheckRequest(), &response);
  if (!status.ok() || context.auth_context() == nullptr) return status.error_message();
  std::vector<grpc::string_ref> names =
      context.auth_context()->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
  return names.empty() ? "" : std::string(names.front().data(), names.front().size());
}

// The CN of the certificate the node's REST door shows a new connection.
std::string RestDoorName(const Node& node, const testing::TestCertificates& certs) {
  testing::HttpsTestClient client;
  absl::Status connected = client.Connect(node.rest_port(), certs.ClientTls());
  return connected.ok() ? client.peer_common_name() : std::string(connected.message());
}

// A rotated certificate reaches new callers of each door once the door
// re-reads its files: a node looking every second serves the new one while
// a node looking every hour, started on the same files, still serves the old.
// proves: grpc_tls.reload_interval_ms, gateway.rest_tls.reload_interval_ms
TEST_F(NodeTest, TheDoorsServeARotatedCertificateAfterTheirReloadInterval) {
  absl::StatusOr<testing::TestCertificates> certs = testing::TestCertificates::Create();
  ASSERT_THAT(certs.status(), IsOk());
  auto node_reloading_every = [&](int reload_interval_ms) {
    std::string tls =
        absl::StrCat("{cert_file: ", certs->server_cert, ", key_file: ", certs->server_key,
                     ", reload_interval_ms: ", reload_interval_ms);
    return NewNode(absl::StrCat("grpc_tls: ", tls, ", ca_file: ", certs->ca,
                                "}\ngateway: {rest_tls: ", tls, "}}"));
  };
  std::unique_ptr<Node> every_second = node_reloading_every(1000);
  std::unique_ptr<Node> hourly = node_reloading_every(3600 * 1000);
  ASSERT_NE(every_second, nullptr);
  ASSERT_NE(hourly, nullptr);
  EXPECT_EQ(GrpcDoorName(*every_second, certs->ca), "localhost");
  EXPECT_EQ(RestDoorName(*every_second, *certs), "localhost");

  ASSERT_THAT(certs->RotateServer("rotated"), IsOk());
  std::string grpc_name, rest_name;
  EXPECT_TRUE(Eventually([&] {
    grpc_name = GrpcDoorName(*every_second, certs->ca);
    rest_name = RestDoorName(*every_second, *certs);
    return grpc_name == "rotated" && rest_name == "rotated";
  })) << "the gRPC door shows "
      << grpc_name << ", the REST door " << rest_name;
  EXPECT_EQ(GrpcDoorName(*hourly, certs->ca), "localhost");
  EXPECT_EQ(RestDoorName(*hourly, *certs), "localhost");
}

// A backend's ca_file replaced under a running node, as Kubernetes swaps a
// Secret: a node re-reading its backend TLS files every second comes to
// trust the backend, one re-reading them hourly still refuses it.
// proves: backends.*.tls.reload_interval_ms
TEST_F(NodeTest, ABackendsTlsFilesAreReadAgainEveryReloadInterval) {
  absl::StatusOr<testing::TestCertificates> certs = testing::TestCertificates::Create();
  absl::StatusOr<testing::TestCertificates> elsewhere = testing::TestCertificates::Create();
  ASSERT_THAT(certs.status(), IsOk());
  ASSERT_THAT(elsewhere.status(), IsOk());
  Server sealed({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1, .tls = certs->ServerTls()});
  lab::LabService lab({.name = "sealed"});
  lab.Register(sealed);
  ASSERT_THAT(sealed.Start(), IsOk());
  lab.Serve(sealed);
  // First the nodes trust another CA than the one that signed the backend.
  const std::string trusted = certs->dir + "/trusted-ca.crt";
  std::filesystem::copy_file(elsewhere->ca, trusted);
  auto node_reloading_every = [&](int reload_interval_ms) {
    return NewNode(absl::StrCat("backends: {lab: {target: \"127.0.0.1:", sealed.port(),
                                "\", services: [fanout.lab.v1.Lab], tls: {ca_file: ", trusted,
                                ", reload_interval_ms: ", reload_interval_ms, "}}}"));
  };
  std::unique_ptr<Node> every_second = node_reloading_every(1000);
  std::unique_ptr<Node> hourly = node_reloading_every(3600 * 1000);
  ASSERT_NE(every_second, nullptr);
  ASSERT_NE(hourly, nullptr);
  auto echo_through = [](const Node& node) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    lab::v1::EchoResponse response;
    return lab::v1::Lab::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", node.grpc_port()),
                                                     grpc::InsecureChannelCredentials()))
        ->Echo(&context, {}, &response);
  };
  EXPECT_FALSE(echo_through(*every_second).ok());
  EXPECT_FALSE(echo_through(*hourly).ok());

  std::filesystem::copy_file(certs->ca, trusted + ".next");
  std::filesystem::rename(trusted + ".next", trusted);
  grpc::Status status;
  EXPECT_TRUE(Eventually(
      [&] {
        status = echo_through(*every_second);
        if (!status.ok()) absl::SleepFor(absl::Milliseconds(100));  // Not a flood of probes.
        return status.ok();
      },
      absl::Seconds(60)))
      << status.error_message();
  status = echo_through(*hourly);
  EXPECT_FALSE(status.ok()) << "the hourly node trusts the new CA already";
  every_second.reset();
  hourly.reset();
  sealed.Shutdown(absl::Seconds(1));
}

}  // namespace
}  // namespace fanout::fanoutd
