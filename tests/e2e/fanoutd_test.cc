// fanoutd as users run it: a real binary, real config files, free ports.
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "fanout/gateway/v1/gateway.grpc.pb.h"
#include "fanout/lab/v1/lab.grpc.pb.h"
#include "fanout/orders/v1/orders.grpc.pb.h"
#include "fanout/recommendations/v1/recommendations.grpc.pb.h"
#include "fanout/users/v1/users.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "node/async/gather.h"
#include "node/async/spawn.h"
#include "node/rpc/client.h"
#include "tests/support/free_port.h"
#include "tests/support/generic_unary.h"
#include "tests/support/http_client.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_certificates.h"
#include "tests/support/test_store.h"

namespace fanout {
namespace {

using ::fanout::testing::FreePort;
using ::fanout::testing::IsOk;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

// Runs a command, returns exit status and stderr+stdout.
std::pair<int, std::string> RunCommand(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  std::array<char, 4096> buffer;
  while (size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe))
    output.append(buffer.data(), n);
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

class FanoutdTest : public ::testing::Test {
 protected:
  FanoutdTest() {
    dir_ = std::filesystem::temp_directory_path() / absl::StrCat("fanoutd-e2e-", ::getpid());
    std::filesystem::create_directories(dir_);
  }
  ~FanoutdTest() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    for (pid_t other : others_) {
      ::kill(other, SIGKILL);
      ::waitpid(other, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }
  std::string WriteConfig(const std::string& name, const std::string& yaml) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << yaml;
    return path;
  }
  void Launch(const std::string& config) { pid_ = LaunchProcess(config, "fanoutd.log"); }
  // Another fanoutd (a backend of the one under test), killed with the test.
  pid_t LaunchProcess(const std::string& config, const std::string& log_name) {
    pid_t pid = ::fork();
    if (pid == 0) {
      std::string log = (dir_ / log_name).string();
      FILE* out = std::freopen(log.c_str(), "w", stderr);
      (void)out;
      ::execl(FANOUTD_PATH, FANOUTD_PATH, "--config", config.c_str(), nullptr);
      ::_exit(127);
    }
    if (log_name != "fanoutd.log") others_.push_back(pid);
    return pid;
  }
  int Wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // The names of the process's threads.
  std::vector<std::string> ThreadNames() {
    std::vector<std::string> names;
    for (auto& [name, policy] : Threads()) names.push_back(std::move(name));
    return names;
  }
  // Each thread's name and scheduling class (SCHED_OTHER, SCHED_BATCH, ...).
  std::vector<std::pair<std::string, int>> Threads() {
    std::vector<std::pair<std::string, int>> threads;
    for (const auto& task :
         std::filesystem::directory_iterator(absl::StrCat("/proc/", pid_, "/task"))) {
      std::ifstream comm(task.path() / "comm");
      std::string name;
      int tid = 0;
      if (std::getline(comm, name) && absl::SimpleAtoi(task.path().filename().string(), &tid)) {
        threads.emplace_back(name, sched_getscheduler(tid));
      }
    }
    return threads;
  }
  // Polls Lab Echo through a raw channel until it answers.
  bool WaitServing(const std::shared_ptr<grpc::Channel>& channel) {
    auto lab = lab::v1::Lab::NewStub(channel);
    for (int i = 0; i < 200; ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
      lab::v1::EchoRequest r;
      lab::v1::EchoResponse resp;
      if (lab->Echo(&ctx, r, &resp).ok()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  std::filesystem::path dir_;
  pid_t pid_ = -1;
  std::vector<pid_t> others_;
};

TEST_F(FanoutdTest, ServesEveryRoleAndDrainsOnSigterm) {
  int port = FreePort();
  int admin = FreePort();
  std::string config = WriteConfig("node.yaml", absl::StrCat(R"(
node_name: e2e
admin_address: 127.0.0.1:)",
                                                             admin, R"(
grpc_address: 127.0.0.1:)",
                                                             port, R"(
data_dir: )",
                                                             (dir_ / "data").string(), R"(
roles: {users: true, orders: true, recommendations: true, lab: true}
shutdown: {grace_ms: 3000}
)"));
  Launch(config);
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  ASSERT_TRUE(WaitServing(channel));

  // grpc.health.v1 per service, as a Kubernetes probe asks it.
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckResponse checked;
  for (int i = 0; i < 100 && checked.status() != checked.SERVING; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service("fanout.users.v1.Users");
    ASSERT_TRUE(health->Check(&ctx, request, &checked).ok());
    if (checked.status() != checked.SERVING) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(checked.status(), checked.SERVING);
  // It is served on the loops, not by gRPC's callback-API default service,
  // whose "nexting" threads would take the loops' socket work.
  EXPECT_THAT(ThreadNames(), Not(Contains("nexting_thread")));

  // The admin port: probes, the effective config, clear errors.
  std::string admin_url = absl::StrCat("http://127.0.0.1:", admin);
  EXPECT_EQ(RunCommand("curl -s " + admin_url + "/readyz").second, "ready\n");
  EXPECT_EQ(RunCommand("curl -s " + admin_url + "/healthz").second, "ok\n");
  EXPECT_THAT(RunCommand("curl -s " + admin_url + "/config").second,
              HasSubstr("\"node_name\": \"e2e\""));
  EXPECT_THAT(RunCommand("curl -s -i " + admin_url + "/nope").second, HasSubstr("404"));
  EXPECT_THAT(
      RunCommand("printf 'NONSENSE\\r\\n\\r\\n' | curl -s -i --max-time 2 telnet://127.0.0.1:" +
                 std::to_string(admin))
          .second,
      HasSubstr("400"));

  // Each service answers through the binary.
  auto users = users::v1::Users::NewStub(channel);
  auto orders = orders::v1::Orders::NewStub(channel);
  auto recs = recommendations::v1::Recommendations::NewStub(channel);
  {
    grpc::ClientContext ctx;
    users::v1::CreateUserRequest r;
    r.set_name("Eve");
    r.set_email("eve@example.com");
    users::v1::User u;
    ASSERT_TRUE(users->CreateUser(&ctx, r, &u).ok());
    EXPECT_GT(u.id(), 0);
  }
  {
    grpc::ClientContext ctx;
    orders::v1::CreateOrderRequest r;
    r.set_user_id(1);
    r.set_item("item-1");
    r.set_quantity(2);
    orders::v1::Order o;
    ASSERT_TRUE(orders->CreateOrder(&ctx, r, &o).ok());
    EXPECT_EQ(o.sequence(), 1);
  }
  {
    grpc::ClientContext ctx;
    recommendations::v1::RecommendRequest r;
    r.set_user_id(1);
    recommendations::v1::RecommendResponse resp;
    ASSERT_TRUE(recs->Recommend(&ctx, r, &resp).ok());
    EXPECT_EQ(resp.orders_considered(), 1);  // through orders, over gRPC
  }

  // A burst of slow calls, then SIGTERM while they are in flight: every
  // call the node accepted is answered, and it exits 0.
  LoopGroup loops({.num_loops = 1});
  auto lab = lab::v1::Lab::NewStub(channel);
  auto burst = [&]() -> Task<std::vector<absl::StatusOr<lab::v1::EchoResponse>>> {
    std::vector<Task<absl::StatusOr<lab::v1::EchoResponse>>> calls;
    for (int i = 0; i < 50; ++i) {
      lab::v1::EchoRequest r;
      r.set_message(absl::StrCat(i));
      r.set_delay_ms(2000);  // Inside the 3 s grace.
      calls.push_back(CallUnary(lab.get(), &lab::v1::Lab::Stub::PrepareAsyncEcho, r));
    }
    co_return co_await GatherSettled(std::move(calls));
  };
  // The signals go once the node holds all 50 calls (a call gRPC has not yet
  // handed to the node when draining starts is refused, not accepted). While
  // the calls drain, readiness is already off. A Ctrl-C and a SIGTERM
  // arriving together are one request to drain, not "exit at once".
  bool saw_not_ready = false;
  std::thread terminator([&] {
    const testing::PrometheusLabels echo = {{"service", "fanout.lab.v1.Lab"}, {"method", "Echo"}};
    for (int i = 0; i < 1000; ++i) {  // A hang guard of about 10 s.
      std::optional<double> held =
          testing::ParsePrometheusText(testing::HttpCall(admin, "GET", "/metrics").body)
              .value_or(testing::PrometheusText{})
              .Value("fanout_rpc_server_in_flight", echo);
      if (held.value_or(0) >= 50) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGINT);
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200 && !saw_not_ready; ++i) {
      saw_not_ready = testing::HttpCall(admin, "GET", "/readyz").body == "not ready\n";
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  auto results = BlockOn(loops.At(0), burst());
  terminator.join();
  for (const auto& r : results) EXPECT_THAT(r, IsOk());
  EXPECT_TRUE(saw_not_ready);
  EXPECT_EQ(Wait(), 0);
  loops.Stop(absl::Now() + absl::Seconds(2));
}

// The chart's topology, one role per process: a gateway-only node in front
// of a lab-only node. SIGTERM reaches the gateway with REST requests in
// flight: those that can finish inside shutdown.grace_ms are answered 200,
// those that cannot are answered 503 at the grace deadline (never 499 or a
// reset), a new connection is refused meanwhile, and the node exits 0.
// proves: shutdown.grace_ms
TEST_F(FanoutdTest, AGatewayOnlyNodeDrainsItsRestRequestsOnSigterm) {
  int lab_grpc = FreePort(), gw_grpc = FreePort(), gw_admin = FreePort(), rest = FreePort();
  std::string lab =
      WriteConfig("lab.yaml", absl::StrCat("node_name: lab\ngrpc_address: 127.0.0.1:", lab_grpc,
                                           "\nloops: 1\nroles: {lab: true}\n"));
  std::string gateway =
      WriteConfig("gateway.yaml", absl::StrCat(R"(node_name: gw
grpc_address: 127.0.0.1:)",
                                               gw_grpc, R"(
admin_address: 127.0.0.1:)",
                                               gw_admin, R"(
loops: 1
roles: {gateway: true}
shutdown: {grace_ms: 3000}
backends:
  lab: {target: "127.0.0.1:)",
                                               lab_grpc, R"(", services: [fanout.lab.v1.Lab]}
gateway:
  rest_address: 127.0.0.1:)",
                                               rest, "\n"));
  LaunchProcess(lab, "lab.log");
  Launch(gateway);
  bool up = false;
  for (int i = 0; i < 200 && !up; ++i) {
    up = testing::HttpCall(rest, "GET", "/v1/lab/echo?message=up").status == 200;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(up) << "the gateway never answered";

  // 10 requests of 2 s (inside the 3 s grace) and 5 of 8 s (past it).
  constexpr int kShort = 10, kLong = 5;
  std::vector<testing::HttpResult> results(kShort + kLong);
  std::vector<std::thread> callers;
  for (int i = 0; i < kShort + kLong; ++i) {
    callers.emplace_back([&, i] {
      results[i] = testing::HttpCall(
          rest, "GET", absl::StrCat("/v1/lab/echo?delay_ms=", i < kShort ? 2000 : 8000));
    });
  }
  // SIGTERM once the gateway holds all of them.
  for (int i = 0; i < 1000; ++i) {  // A hang guard of about 10 s.
    auto scraped =
        testing::ParsePrometheusText(testing::HttpCall(gw_admin, "GET", "/metrics").body);
    double held = 0;
    if (scraped.ok()) {
      held = scraped->Value("fanout_http_server_in_flight", {{"route", "lab-echo"}}).value_or(0);
    }
    if (held >= kShort + kLong) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGTERM);
  bool refused = false;
  for (int i = 0; i < 100 && !refused; ++i) {
    refused = testing::HttpCall(rest, "GET", "/v1/lab/echo").status == 0;
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_TRUE(refused) << "a new connection was still served while draining";
  for (int i = 0; i < kShort + kLong; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(results[i].status, i < kShort ? 200 : 503) << results[i].body;
  }
  EXPECT_THAT(results[kShort].body, HasSubstr("shutting down"));
  EXPECT_EQ(Wait(), 0);
}

// The README's main job: every role in one process; the sample curls work.
// The built-in routes' grpc_method: the dashboard over the typed gRPC method.
// proves: gateway.routes.*.grpc_method
TEST_F(FanoutdTest, GatewayAnswersTheDashboardOverRestAndGrpc) {
  int port = FreePort();
  int rest = FreePort();
  std::string config = WriteConfig("all.yaml", absl::StrCat(R"(
grpc_address: 127.0.0.1:)",
                                                            port, R"(
data_dir: )",
                                                            (dir_ / "data").string(), R"(
roles: {users: true, orders: true, recommendations: true, lab: true, gateway: true}
gateway: {rest_address: "127.0.0.1:)",
                                                            rest, R"("}
)"));
  Launch(config);
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  ASSERT_TRUE(WaitServing(channel));
  std::string url = absl::StrCat("http://127.0.0.1:", rest);
  auto [created, user] = RunCommand(absl::StrCat(
      "curl -s -X POST ", url, R"(/v1/users -d '{"name": "Ada", "email": "ada@example.com"}')"));
  EXPECT_THAT(user, HasSubstr(R"("name":"Ada")"));
  auto [ordered, order] = RunCommand(absl::StrCat(
      "curl -s -X POST ", url,
      R"(/v1/users/1/orders -d '{"item": "tea", "quantity": 2, "amountCents": 700}')"));
  EXPECT_THAT(order, HasSubstr(R"("item":"tea")"));
  // Orders asks users first: no user 999, no order, and REST says 404.
  auto [refused_code, refused] = RunCommand(absl::StrCat(
      "curl -s -i -X POST ", url,
      R"(/v1/users/999/orders -d '{"item": "tea", "quantity": 2, "amountCents": 700}')"));
  EXPECT_THAT(refused, HasSubstr("HTTP/1.1 404"));
  EXPECT_THAT(refused, HasSubstr("user_id 999: no such user"));
  auto [code, dashboard] = RunCommand(absl::StrCat("curl -s -i ", url, "/v1/users/1/dashboard"));
  EXPECT_THAT(dashboard, HasSubstr("HTTP/1.1 200"));
  EXPECT_THAT(dashboard, HasSubstr("X-Fanout-Completed: true"));
  // A part printed as it came: protobuf's field order, as grpc-gateway prints it.
  EXPECT_THAT(dashboard, HasSubstr(R"("user":{"id":"1","name":"Ada","email":"ada@example.com"})"));
  EXPECT_THAT(dashboard, HasSubstr(R"("orders":[{)"));
  EXPECT_THAT(dashboard, HasSubstr(R"("recommendations":[{)"));
  auto [missing_code, missing] =
      RunCommand(absl::StrCat("curl -s -i ", url, "/v1/users/999/dashboard"));
  EXPECT_THAT(missing, HasSubstr("HTTP/1.1 404"));

  // A method a served service lacks is UNIMPLEMENTED here, never proxied
  // back into this node (which proxied it again, without end).
  grpc::Status nope = testing::GenericUnaryStatus(channel, "/fanout.users.v1.Users/Nope");
  EXPECT_EQ(nope.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(nope.error_message(), HasSubstr("this node serves fanout.users.v1.Users"));

  // The same route on the gateway's typed gRPC method.
  auto gateway = gateway::v1::Gateway::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  gateway::v1::DashboardRequest request;
  request.set_id(1);
  gateway::v1::Dashboard reply;
  grpc::Status status = gateway->GetDashboard(&context, request, &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reply.user().name(), "Ada");
  EXPECT_EQ(reply.orders_size(), 1);
  EXPECT_GT(reply.recommendations_size(), 0);
  EXPECT_TRUE(reply.completed());
  EXPECT_EQ(reply.parts_size(), 3);

  // And streamed, part by part.
  grpc::ClientContext stream_context;
  stream_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto reader = gateway->StreamDashboard(&stream_context, request);
  gateway::v1::Part part;
  std::set<std::string> names;
  bool completed = false;
  while (reader->Read(&part)) {
    if (part.name().empty()) {
      completed = part.completed();
    } else {
      names.insert(part.name());
      EXPECT_EQ(part.status().code(), 0) << part.status().message();
    }
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(names, (std::set<std::string>{"user", "orders", "recommendations"}));
  EXPECT_TRUE(completed);
  ::kill(pid_, SIGTERM);
  EXPECT_EQ(Wait(), 0);
}

// TLS end to end: curl (HTTPS) and a gRPC client with SSL credentials reach
// a gateway whose doors (and frame relay) are TLS, which calls its backend
// over mTLS; the backend's mTLS door refuses a client without a certificate.
// proves: grpc_tls.cert_file, grpc_tls.key_file, grpc_tls.ca_file, grpc_tls.require_client_cert
// proves: gateway.rest_tls.cert_file, gateway.rest_tls.key_file, gateway.rest_tls.ca_file
// proves: gateway.rest_tls.require_client_cert, backends.*.target
// proves: backends.*.tls.ca_file, backends.*.tls.cert_file, backends.*.tls.key_file
// proves: gateway.grpc_relay_address
TEST_F(FanoutdTest, GatewayServesTlsDoorsAndCallsItsBackendOverMtls) {
  absl::StatusOr<testing::TestCertificates> certs = testing::TestCertificates::Create();
  ASSERT_THAT(certs.status(), IsOk());
  int lab_grpc = FreePort(), gw_grpc = FreePort(), rest = FreePort(), relay = FreePort();
  std::string server_tls =
      absl::StrCat("{cert_file: ", certs->server_cert, ", key_file: ", certs->server_key);
  std::string lab = WriteConfig(
      "lab.yaml", absl::StrCat("node_name: lab\ngrpc_address: 127.0.0.1:", lab_grpc,
                               "\nloops: 1\nroles: {lab: true}\ngrpc_tls: ", server_tls,
                               ", ca_file: ", certs->ca, ", require_client_cert: true}\n"));
  std::string gateway =
      WriteConfig("gateway.yaml", absl::StrCat(R"(node_name: gw
grpc_address: 127.0.0.1:)",
                                               gw_grpc, R"(
loops: 1
roles: {gateway: true}
grpc_tls: )",
                                               server_tls, R"(}
backends:
  lab:
    target: "127.0.0.1:)",
                                               lab_grpc, R"("
    services: [fanout.lab.v1.Lab]
    tls: {ca_file: )",
                                               certs->ca, ", cert_file: ", certs->client_cert,
                                               ", key_file: ", certs->client_key, R"(}
gateway:
  grpc_relay_address: 127.0.0.1:)",
                                               relay, R"(
  rest_address: 127.0.0.1:)",
                                               rest, R"(
  rest_tls: )",
                                               server_tls, ", ca_file: ", certs->ca,
                                               ", require_client_cert: true}\n"));
  auto [checked, why] = RunCommand(absl::StrCat(FANOUTD_PATH, " --check-config ", gateway));
  ASSERT_EQ(checked, 0) << why;
  LaunchProcess(lab, "lab.log");
  Launch(gateway);

  // The REST door is mTLS too: curl presents the client certificate.
  std::string curl_without_certificate =
      absl::StrCat("curl -sS --max-time 5 --cacert ", certs->ca, " --resolve localhost:", rest,
                   ":127.0.0.1 https://localhost:", rest, "/v1/lab/echo?message=sealed");
  std::string curl = absl::StrCat(curl_without_certificate, " --cert ", certs->client_cert,
                                  " --key ", certs->client_key);
  std::pair<int, std::string> echoed;
  for (int i = 0; i < 200; ++i) {
    echoed = RunCommand(curl);
    if (echoed.first == 0 && absl::StrContains(echoed.second, "sealed")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(echoed.first, 0) << echoed.second;
  EXPECT_THAT(echoed.second, HasSubstr(R"("message":"sealed")"));
  // Without a client certificate, and in plaintext, the HTTPS door refuses.
  EXPECT_NE(RunCommand(curl_without_certificate).first, 0);
  EXPECT_NE(
      RunCommand(absl::StrCat("curl -sS --max-time 5 http://127.0.0.1:", rest, "/v1/lab/echo"))
          .first,
      0);

  // gRPC with SSL credentials, proxied to the backend over mTLS.
  std::ifstream ca_in(certs->ca);
  std::string ca((std::istreambuf_iterator<char>(ca_in)), std::istreambuf_iterator<char>());
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", gw_grpc),
                                           grpc::SslCredentials({.pem_root_certs = ca}), args);
  auto echo = lab::v1::Lab::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  lab::v1::EchoRequest request;
  request.set_message("over tls");
  lab::v1::EchoResponse response;
  grpc::Status status = echo->Echo(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.message(), "over tls");
  // And through the frame relay: TLS in, mTLS on to the backend.
  auto relayed = lab::v1::Lab::NewStub(grpc::CreateCustomChannel(
      absl::StrCat("127.0.0.1:", relay), grpc::SslCredentials({.pem_root_certs = ca}), args));
  grpc::ClientContext relayed_context;
  relayed_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  request.set_message("relayed over tls");
  status = relayed->Echo(&relayed_context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.message(), "relayed over tls");

  // The backend's mTLS door refuses a caller without a client certificate.
  auto bare = lab::v1::Lab::NewStub(grpc::CreateCustomChannel(
      absl::StrCat("127.0.0.1:", lab_grpc), grpc::SslCredentials({.pem_root_certs = ca}), args));
  grpc::ClientContext refused_context;
  refused_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(bare->Echo(&refused_context, request, &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  ::kill(pid_, SIGTERM);
  EXPECT_EQ(Wait(), 0);
}

// One process, every call through its own TLS door: the gateway's loopback
// calls trust grpc_tls.ca_file and check the door certificate's name.
TEST_F(FanoutdTest, OneProcessCallsItsOwnTlsDoor) {
  absl::StatusOr<testing::TestCertificates> certs = testing::TestCertificates::Create();
  ASSERT_THAT(certs.status(), IsOk());
  int grpc = FreePort(), rest = FreePort();
  std::string door =
      absl::StrCat("grpc_tls: {cert_file: ", certs->server_cert, ", key_file: ", certs->server_key);
  std::string head = absl::StrCat("grpc_address: 127.0.0.1:", grpc,
                                  "\nroles: {lab: true, gateway: true}\ngateway: {rest_address: "
                                  "\"127.0.0.1:",
                                  rest, "\"}\n");
  // Without ca_file the node could not check its own door: refused up front.
  std::string no_ca = WriteConfig("no-ca.yaml", absl::StrCat(head, door, "}\n"));
  auto [refused, why] = RunCommand(absl::StrCat(FANOUTD_PATH, " --check-config ", no_ca));
  EXPECT_EQ(refused, 2);
  EXPECT_THAT(why, HasSubstr("grpc_tls.ca_file: must be set"));

  Launch(WriteConfig("one.yaml", absl::StrCat(head, door, ", ca_file: ", certs->ca, "}\n")));
  std::pair<int, std::string> echoed;
  for (int i = 0; i < 200; ++i) {
    echoed = RunCommand(
        absl::StrCat("curl -sS --max-time 5 http://127.0.0.1:", rest, "/v1/lab/echo?message=loop"));
    if (echoed.first == 0 && absl::StrContains(echoed.second, "loop")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_THAT(echoed.second, HasSubstr(R"("message":"loop")"));
  ::kill(pid_, SIGTERM);
  EXPECT_EQ(Wait(), 0);
}

TEST_F(FanoutdTest, BadConfigsAreRefusedWithTheirReason) {
  struct Case {
    std::string yaml, expected;
  };
  std::vector<Case> cases = {
      {"loops: many\n", "loops: expected a 32-bit integer, got \"many\""},
      {"roles: {users: true}\ncolour: blue\n", "unknown key \"colour\""},
      {"grpc_address: nowhere\nroles: {lab: true}\n", "grpc_address: expected host:port"},
      {"roles: {}\n", "roles: no role is enabled"},
      {"roles: {recommendations: true}\n", "backends.orders"},
      {"roles: {orders: true}\ndata_dir: d\n", "backends.users: orders checks every new user"},
      {"roles: {users: true, orders: true}\ndata_dir: d\norders: {max_user_actors: -1}\n",
       "orders.max_user_actors: must be in [0, 10000000]"},
      {"roles: {lab: true}\nbackends: {users: {target: x, load_balancing: random}}\n",
       "backends.users.load_balancing"},
      {"roles: {lab: true\n", "YAML syntax error at line"},
      {"roles: {lab: true}\ngrpc_tls: {cert_file: /no/such.crt, key_file: /no/such.key}\n",
       "grpc_tls: cert_file \"/no/such.crt\": cannot be read"},
      {"roles: {lab: true}\ngrpc_tls: {key_file: /x.key, require_client_cert: true}\n",
       "grpc_tls: TLS settings without cert_file"},
      {"roles: {lab: true}\nbackends: {users: {target: x, tls: {cert_file: /c.crt}}}\n",
       "backends.users.tls: a client certificate needs both cert_file and key_file"},
      {"roles: {gateway: true}\nbackends: {lab: {target: \"127.0.0.1:1\"}}\n"
       "gateway: {routes: [{name: r, path: /x, calls: [{name: a, backend: nope, "
       "method: fanout.lab.v1.Lab/Echo}]}]}\n",
       "gateway.routes[0] route \"r\": call \"a\": backend \"nope\" is not configured"},
      {"roles: {gateway: true, lab: true}\n"
       "gateway: {routes: [{name: r, path: \"/x/{id}\", calls: [{name: a, backend: lab, "
       "method: fanout.lab.v1.Lab/Echo, request: {mesage: path.id}}]}]}\n",
       "request field \"mesage\": fanout.lab.v1.EchoRequest has no field \"mesage\""},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string path = WriteConfig(absl::StrCat("bad", i, ".yaml"), cases[i].yaml);
    auto [code, output] = RunCommand(absl::StrCat(FANOUTD_PATH, " --check-config ", path));
    EXPECT_EQ(code, 2) << cases[i].yaml;
    EXPECT_THAT(output, HasSubstr(cases[i].expected)) << cases[i].yaml;
    EXPECT_THAT(output, HasSubstr(path));
  }
  auto [code, output] = RunCommand(absl::StrCat(FANOUTD_PATH, " --check-config /no/such.yaml"));
  EXPECT_EQ(code, 2);
  EXPECT_THAT(output, HasSubstr("/no/such.yaml"));
}

TEST_F(FanoutdTest, TheLabRunsOnlyWhenAskedFor) {
  auto [code, defaults] = RunCommand(absl::StrCat(FANOUTD_PATH, " --print-default-config"));
  ASSERT_EQ(code, 0);
  EXPECT_THAT(defaults, HasSubstr("\"lab\": false"));
  EXPECT_THAT(defaults, Not(HasSubstr("/v1/lab/")));
  auto [asked, with_lab] =
      RunCommand(absl::StrCat(FANOUTD_PATH, " --with-lab --print-default-config"));
  ASSERT_EQ(asked, 0);
  EXPECT_THAT(with_lab, HasSubstr("\"lab\": true"));
  EXPECT_THAT(with_lab, HasSubstr("/v1/lab/echo"));
  // With a file: a route calling the lab needs it, and --with-lab adds it.
  std::string path = WriteConfig(
      "lab-route.yaml",
      "roles: {gateway: true}\ngateway: {routes: [{name: r, path: /r, calls: [{name: a, backend: "
      "lab, method: fanout.lab.v1.Lab/Echo}]}]}\n");
  auto [refused, why] = RunCommand(absl::StrCat(FANOUTD_PATH, " --check-config ", path));
  EXPECT_EQ(refused, 2);
  EXPECT_THAT(why, HasSubstr("backend \"lab\" is not configured"));
  auto [accepted, ok] =
      RunCommand(absl::StrCat(FANOUTD_PATH, " --check-config ", path, " --with-lab"));
  EXPECT_EQ(accepted, 0) << ok;
}

// The log keys as an operator reads the log: JSON lines, a line per request
// served, and a level that hides what is below it.
// proves: log.format, log.access_log, log.level
TEST_F(FanoutdTest, TheLogIsShapedByItsKeys) {
  auto run = [&](const std::string& name, const std::string& log_yaml) {
    int grpc = FreePort(), rest = FreePort();
    Launch(WriteConfig(name + ".yaml",
                       absl::StrCat("grpc_address: 127.0.0.1:", grpc,
                                    "\nloops: 1\nroles: {lab: true, gateway: true, users: false, "
                                    "orders: false, recommendations: false}\n"
                                    "backends: {users: {target: \"127.0.0.1:1\"}, orders: "
                                    "{target: \"127.0.0.1:1\"}, recommendations: {target: "
                                    "\"127.0.0.1:1\"}}\ngateway: {rest_address: \"127.0.0.1:",
                                    rest, "\"}\n", log_yaml)));
    bool up = false;
    for (int i = 0; i < 200 && !up; ++i) {
      up = testing::HttpCall(rest, "GET", "/v1/lab/echo?message=logged").status == 200;
      if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(up) << name;
    ::kill(pid_, SIGTERM);
    EXPECT_EQ(Wait(), 0);
    std::ifstream in(dir_ / "fanoutd.log");
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  };
  auto count = [](const std::vector<std::string>& lines, absl::string_view has) {
    return absl::c_count_if(lines, [&](const std::string& l) { return absl::StrContains(l, has); });
  };
  std::vector<std::string> plain = run("plain", "");
  ASSERT_FALSE(plain.empty());
  EXPECT_FALSE(absl::StartsWith(plain[0], "{")) << plain[0];
  EXPECT_GT(count(plain, "level=info"), 0);
  EXPECT_EQ(count(plain, "/v1/lab/echo"), 0);  // No access log by default.

  std::vector<std::string> json = run("json", "log: {format: JSON, access_log: true}\n");
  ASSERT_FALSE(json.empty());
  for (const std::string& line : json) EXPECT_TRUE(absl::StartsWith(line, "{")) << line;
  EXPECT_GT(count(json, "/v1/lab/echo"), 0);

  std::vector<std::string> quiet = run("quiet", "log: {level: WARNING}\n");
  EXPECT_EQ(count(quiet, "level=info"), 0);
}

// The threads a node runs are the configured ones: each key adds exactly
// its own (threads the process names itself, as gRPC's, are not counted).
// proves: loops, gateway.http_threads, offload.threads
TEST_F(FanoutdTest, ThreadCountsComeFromTheConfig) {
  auto threads = [&](int loops, int offload, int http) {
    int grpc = FreePort(), rest = FreePort();
    Launch(WriteConfig(
        absl::StrCat("threads-", loops, offload, http, ".yaml"),
        absl::StrCat("grpc_address: 127.0.0.1:", grpc, "\nloops: ", loops,
                     "\noffload: {threads: ", offload,
                     "}\nroles: {lab: true, gateway: true, users: false, orders: false, "
                     "recommendations: false}\nbackends: {users: {target: \"127.0.0.1:1\"}, "
                     "orders: {target: \"127.0.0.1:1\"}, recommendations: {target: "
                     "\"127.0.0.1:1\"}}\ngateway: {rest_address: \"127.0.0.1:",
                     rest, "\", http_threads: ", http, "}\n")));
    bool up = false;
    for (int i = 0; i < 200 && !up; ++i) {
      up = testing::HttpCall(rest, "GET", "/v1/lab/echo?message=up").status == 200;
      if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(up);
    std::vector<std::string> names;
    for (auto& [name, policy] : Threads()) {
      // The HTTP threads yield to the loops (YieldOnWakeup); the loops do not.
      if (name == "http-io") {
        EXPECT_EQ(policy, SCHED_BATCH) << name;
      } else if (absl::StartsWith(name, "loop-")) {
        EXPECT_EQ(policy, SCHED_OTHER) << name;
      }
      names.push_back(std::move(name));
    }
    ::kill(pid_, SIGTERM);
    EXPECT_EQ(Wait(), 0);
    return names;
  };
  // Each kind of thread carries its name (NameThisThread): loop-<i>, the
  // default offload pool's, the HTTP doors' I/O threads (the REST door's
  // and the admin server's).
  auto loops = [](const std::vector<std::string>& names) {
    return absl::c_count_if(names,
                            [](const std::string& n) { return absl::StartsWith(n, "loop-"); });
  };
  std::vector<std::string> base = threads(1, 1, 1);
  EXPECT_EQ(loops(base), 1);
  EXPECT_EQ(absl::c_count(base, "offload-default"), 1);
  EXPECT_EQ(loops(threads(3, 1, 1)), 3);
  EXPECT_EQ(absl::c_count(threads(1, 3, 1), "offload-default"), 3);
  EXPECT_EQ(absl::c_count(threads(1, 1, 3), "http-io"), absl::c_count(base, "http-io") + 2);
}

// The command lines scripts and the chart use, in both spellings Abseil's
// flags accept, and the ones that make no sense.
TEST_F(FanoutdTest, CommandLinesKeepTheirMeaningAndNonsenseExitsTwo) {
  std::string path = WriteConfig("lab.yaml", "roles: {lab: true}\n");
  for (const char* form : {" --check-config ", " --check-config=", " --with-lab --check-config "}) {
    auto [code, output] = RunCommand(absl::StrCat(FANOUTD_PATH, form, path));
    EXPECT_EQ(code, 0) << form << ": " << output;
    EXPECT_EQ(output, absl::StrCat(path, ": ok\n"));
  }
  auto [both, why] =
      RunCommand(absl::StrCat(FANOUTD_PATH, " --config ", path, " --print-default-config"));
  EXPECT_EQ(both, 2);
  EXPECT_THAT(why, HasSubstr("--config, --check-config and --print-default-config go alone"));
  auto [missing, needs] = RunCommand(absl::StrCat(FANOUTD_PATH, " --check-config"));
  EXPECT_EQ(missing, 2);
  EXPECT_THAT(needs, HasSubstr("fanoutd: --check-config needs a value"));
  auto [empty, file] = RunCommand(absl::StrCat(FANOUTD_PATH, " --check-config="));
  EXPECT_EQ(empty, 2);  // Not a node started on the defaults.
  EXPECT_THAT(file, HasSubstr("fanoutd: --check-config needs a file"));
  auto [bare, stray] = RunCommand(absl::StrCat(FANOUTD_PATH, " ", path));
  EXPECT_EQ(bare, 2);
  EXPECT_THAT(stray, HasSubstr(absl::StrCat("unexpected argument \"", path, "\"")));
  auto [typo, near] = RunCommand(absl::StrCat(FANOUTD_PATH, " --check-confg ", path));
  EXPECT_EQ(typo, 2);
  EXPECT_THAT(near, HasSubstr("unknown flag --check-confg (did you mean --check-config?)"));
  auto [help, usage] = RunCommand(absl::StrCat(FANOUTD_PATH, " --help"));
  EXPECT_EQ(help, 0);
  EXPECT_THAT(usage, HasSubstr("fanoutd --check-config node.yaml"));
  EXPECT_THAT(usage, HasSubstr("  --config=<text>  (default \"\")"));
}

TEST_F(FanoutdTest, DefaultConfigRoundTripsAndEnvironmentOverrides) {
  auto [code, text] = RunCommand(absl::StrCat(FANOUTD_PATH, " --print-default-config"));
  ASSERT_EQ(code, 0);
  std::string path = WriteConfig("default.yaml", text);
  auto [check, output] = RunCommand(absl::StrCat(FANOUTD_PATH, " --check-config ", path));
  EXPECT_EQ(check, 0) << output;
  // An environment variable overrides the file (what Kubernetes sets).
  auto [bad, why] =
      RunCommand(absl::StrCat("FANOUT_GRPC_ADDRESS=oops ", FANOUTD_PATH, " --check-config ", path));
  EXPECT_EQ(bad, 2);
  EXPECT_THAT(why, HasSubstr("grpc_address: expected host:port"));
}

// Acknowledged writes survive a crash: fanoutd is SIGKILLed in the middle
// of a stream of CreateUser + CreateOrder calls and started again; every
// write that was answered OK is there. On SQLite and on PostgreSQL (its
// DSN from FANOUT_POSTGRES_DSN, as a Kubernetes Secret would give it).
class CrashTest : public FanoutdTest, public ::testing::WithParamInterface<testing::StoreKind> {
 protected:
  void SetUp() override { FANOUT_REQUIRE_STORE(store_); }
  testing::TestStore store_{GetParam()};
};

TEST_P(CrashTest, AcknowledgedWritesSurviveSigkill) {
  int port = FreePort();
  std::string yaml =
      absl::StrCat("grpc_address: 127.0.0.1:", port, "\ndata_dir: ", (dir_ / "data").string(),
                   "\nroles: {users: true, orders: true}\n");
  if (GetParam() == testing::StoreKind::kPostgres) {
    yaml += "store: {postgres: {pool_size: 2}}\n";
    ::setenv("FANOUT_POSTGRES_DSN", store_.dsn().c_str(), 1);
  }
  std::string config = WriteConfig("crash.yaml", yaml);
  // A channel made after each start: one that saw the port refused keeps
  // backing off for seconds.
  std::unique_ptr<users::v1::Users::Stub> users;
  std::unique_ptr<orders::v1::Orders::Stub> orders;
  auto start = [&] {
    Launch(config);
    for (int i = 0; i < 100; ++i) {
      auto channel =
          grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
      users = users::v1::Users::NewStub(channel);
      orders = orders::v1::Orders::NewStub(channel);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
      users::v1::ListUsersResponse listed;
      if (users->ListUsers(&ctx, users::v1::ListUsersRequest(), &listed).ok()) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  };
  ASSERT_TRUE(start());

  std::vector<std::pair<int64_t, int64_t>> acknowledged;  // user id, order id
  std::atomic<bool> killed{false};
  std::thread writer([&] {
    for (int i = 0; !killed.load(); ++i) {
      grpc::ClientContext c1, c2;
      users::v1::CreateUserRequest create;
      create.set_name(absl::StrCat("crash", i));
      create.set_email(absl::StrCat("crash", i, "@example.com"));
      users::v1::User user;
      if (!users->CreateUser(&c1, create, &user).ok()) break;
      orders::v1::CreateOrderRequest order;
      order.set_user_id(user.id());
      order.set_item("survivor");
      order.set_quantity(1);
      orders::v1::Order stored;
      if (!orders->CreateOrder(&c2, order, &stored).ok()) break;
      acknowledged.emplace_back(user.id(), stored.id());
    }
  });
  absl::SleepFor(absl::Milliseconds(800));
  ::kill(pid_, SIGKILL);
  Wait();
  killed.store(true);
  writer.join();
  ASSERT_GT(acknowledged.size(), 0u);

  ASSERT_TRUE(start());
  ::unsetenv("FANOUT_POSTGRES_DSN");
  for (const auto& [user_id, order_id] : acknowledged) {
    grpc::ClientContext c1, c2;
    users::v1::GetUserRequest get;
    get.set_id(user_id);
    users::v1::User user;
    EXPECT_TRUE(users->GetUser(&c1, get, &user).ok()) << "user " << user_id;
    orders::v1::ListOrdersRequest list;
    list.set_user_id(user_id);
    orders::v1::ListOrdersResponse listed;
    ASSERT_TRUE(orders->ListOrders(&c2, list, &listed).ok()) << "user " << user_id;
    ASSERT_EQ(listed.orders_size(), 1) << "user " << user_id;
    EXPECT_EQ(listed.orders(0).id(), order_id);
  }
  std::printf("%zu acknowledged user+order pairs read back after SIGKILL\n", acknowledged.size());
}

INSTANTIATE_TEST_SUITE_P(Stores, CrashTest, testing::AllStores(), testing::StoreName);

}  // namespace
}  // namespace fanout
