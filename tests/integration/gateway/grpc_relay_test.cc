// GrpcRelay over a GatewayState, a real lab backend on 127.0.0.1:0 and real
// gRPC clients: what a caller of the gRPC door's proxy relies on holds on
// the relay too. Calls and their metadata, errors with details, streams,
// large messages under flow control, many calls at once; the refusals
// (hops, rate limits, credentials, services not proxied, admission); the
// deadline both ways, the caller leaving, the backend gone; drain and stop.
#include "gateway/grpc_relay.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/str_format.h"
#include "fanout/lab/v1/lab.grpc.pb.h"
#include "tests/support/eventually.h"
#include "tests/support/free_port.h"
#include "tests/support/gateway_state_fixture.h"
#include "tests/support/generic_unary.h"
#include "tests/support/jwt_keys.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_certificates.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::Eventually;
using ::fanout::testing::GenericUnaryStatus;
using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

class GrpcRelayTest : public testing::GatewayStateTest {
 protected:
  void TearDown() override {
    if (relay_) relay_->Stop();
    GatewayStateTest::TearDown();
  }
  // The relay, in front of the lab backend (or `backend` when set), with
  // relay_tls_ and backend_tls_.
  void StartRelay(const std::string& yaml = "", ServiceProxy::Options proxy = {},
                  std::string backend = "") {
    if (relay_) relay_->Stop();  // A test's second relay: the first goes first.
    relay_.reset();
    MakeState(yaml);
    proxy_ = std::make_unique<ServiceProxy>(*state_, std::move(proxy));
    door_ = std::make_unique<GrpcDoor>(*state_, *proxy_);
    if (backend.empty()) backend = absl::StrCat("127.0.0.1:", backend_.port());
    relay_ = std::make_unique<GrpcRelay>(
        *state_, *door_, *proxy_,
        GrpcRelay::Options{.address = "127.0.0.1:0",
                           .threads = 2,
                           .backend_address =
                               [this, backend](const std::string&) {
                                 return backend == "self"
                                            ? absl::StrCat("127.0.0.1:", relay_->port())
                                            : backend;
                               },
                           .resolve = resolve_,
                           .backend_tls = [this](const std::string&) { return backend_tls_; },
                           .tls = relay_tls_});
    ASSERT_THAT(relay_->Start(), testing::IsOk());
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", relay_->port()),
                                   grpc::InsecureChannelCredentials());
  }
  std::unique_ptr<lab::v1::Lab::Stub> Stub() { return lab::v1::Lab::NewStub(channel_); }
  grpc::Status Echo(const lab::v1::EchoRequest& request, lab::v1::EchoResponse* reply,
                    grpc::ClientContext* context = nullptr) {
    grpc::ClientContext own;
    if (context == nullptr) {
      context = &own;
      context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    }
    return Stub()->Echo(context, request, reply);
  }

  TlsOptions relay_tls_;
  TlsOptions backend_tls_;
  // The relay's name service; unset: the system's.
  std::function<absl::StatusOr<std::vector<std::string>>(const std::string&, int)> resolve_;
  std::unique_ptr<ServiceProxy> proxy_;
  std::unique_ptr<GrpcDoor> door_;
  std::unique_ptr<GrpcRelay> relay_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(GrpcRelayTest, AUnaryCallGoesThroughWithTheBackendsMetadata) {
  StartRelay();
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  lab::v1::EchoRequest request;
  request.set_message("through");
  lab::v1::EchoResponse reply;
  grpc::Status status = Echo(request, &reply, &context);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reply.message(), "through");
  // The caller's deadline went on with the call (gRPC rounds grpc-timeout up).
  EXPECT_GT(reply.deadline_remaining_ms(), 5000);
  EXPECT_LE(reply.deadline_remaining_ms(), 11000);
  EXPECT_EQ(context.GetServerInitialMetadata().find("x-lab-served-by")->second, "lab");
  EXPECT_EQ(context.GetServerTrailingMetadata().find("x-lab-code")->second, "0");
  EXPECT_EQ(lab_.calls(), 1);
  EXPECT_TRUE(Eventually([&] { return relay_->calls_in_flight() == 0; }));
  EXPECT_EQ(state_->admission().in_flight(), 0);
}

TEST_F(GrpcRelayTest, ABackendErrorComesBackWithItsMessageAndDetails) {
  StartRelay();
  lab::v1::EchoRequest request;
  request.set_error_code(grpc::StatusCode::NOT_FOUND);
  request.set_error_message("no such thing: 100% gone");
  request.set_error_details(std::string("\x08\x05\x12\x03why", 7));
  lab::v1::EchoResponse reply;
  grpc::Status status = Echo(request, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "no such thing: 100% gone");
  EXPECT_EQ(status.error_details(), std::string("\x08\x05\x12\x03why", 7));
}

TEST_F(GrpcRelayTest, LargeMessagesPassBothWaysUnderFlowControl) {
  StartRelay();
  lab::v1::EchoRequest request;
  // Three 64 KiB stream windows up, six down. Kept small, and the deadline
  // generous, for the TSan build: there every byte through gRPC's
  // uninstrumented core costs suppressed race reports (tests/tsan.supp).
  request.set_message(std::string(192 << 10, 'x'));
  request.set_payload_bytes(192 << 10);
  lab::v1::EchoResponse reply;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  grpc::Status status = Echo(request, &reply, &context);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reply.message().size(), size_t{192} << 10);
  EXPECT_EQ(reply.payload().size(), size_t{192} << 10);
}

TEST_F(GrpcRelayTest, ManyCallsAtOnceOverFewConnections) {
  StartRelay();
  std::atomic<int> ok{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&, t] {
      auto stub = Stub();
      for (int i = 0; i < 10; ++i) {
        grpc::ClientContext context;
        context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
        lab::v1::EchoRequest request;
        request.set_message(absl::StrCat(t, "/", i));
        request.set_payload_bytes(4 * 1024);
        lab::v1::EchoResponse reply;
        if (stub->Echo(&context, request, &reply).ok() && reply.message() == request.message() &&
            reply.payload().size() == 4 * 1024) {
          ++ok;
        }
      }
    });
  }
  for (auto& caller : callers) caller.join();
  EXPECT_EQ(ok.load(), 80);
  EXPECT_TRUE(Eventually([&] { return relay_->calls_in_flight() == 0; }));
}

// Another lab backend: with the fixture's, a backend of several addresses
// (the pods behind a headless Service); or one with limits, or TLS.
struct OtherLab {
  explicit OtherLab(std::string name, Server::Options::Limits limits = {}, TlsOptions tls = {})
      : lab({.name = std::move(name)}),
        server({.listen_addresses = {"127.0.0.1:0"},
                .num_loops = 1,
                .tls = std::move(tls),
                .limits = limits}) {
    lab.Register(server);
    EXPECT_THAT(server.Start(), IsOk());
    lab.Serve(server);
  }
  ~OtherLab() { server.Shutdown(absl::Seconds(1)); }
  lab::LabService lab;
  Server server;
};

// Who served each of `n` calls made one after another.
std::map<std::string, int> ServedBy(lab::v1::Lab::Stub& stub, int n) {
  std::map<std::string, int> served;
  for (int i = 0; i < n; ++i) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    lab::v1::EchoRequest request;
    request.set_message("who");
    lab::v1::EchoResponse reply;
    grpc::Status status = stub.Echo(&context, request, &reply);
    ++served[status.ok() ? reply.served_by() : status.error_message()];
  }
  return served;
}

TEST_F(GrpcRelayTest, CallsTakeTheBackendsAddressesInTurn) {
  OtherLab other("lab-2");
  StartRelay("", {},
             absl::StrCat("ipv4:127.0.0.1:", backend_.port(), ",127.0.0.1:", other.server.port()));
  std::map<std::string, int> served = ServedBy(*Stub(), 20);
  // One connection to each address, taken in turn once both are up.
  EXPECT_GE(served["lab"], 8);
  EXPECT_GE(served["lab-2"], 8);
  EXPECT_EQ(served["lab"] + served["lab-2"], 20);
}

TEST_F(GrpcRelayTest, AnAddressThatRefusesIsPassedOverAndNoCallFails) {
  // The refusing address comes first: the first call goes on its
  // connection, which never comes up, and on to the other.
  StartRelay("", {},
             absl::StrCat("ipv4:127.0.0.1:", testing::FreePort(), ",127.0.0.1:", backend_.port()));
  EXPECT_EQ(ServedBy(*Stub(), 10), (std::map<std::string, int>{{"lab", 10}}));
}

TEST_F(GrpcRelayTest, ANameIsResolvedAndCallsMadeMeanwhileWaitForIt) {
  // localhost: 127.0.0.1, where the backend listens, and ::1 where the
  // hosts file has it, where nothing does.
  StartRelay("", {}, absl::StrCat("dns:///localhost:", backend_.port()));
  EXPECT_EQ(ServedBy(*Stub(), 10), (std::map<std::string, int>{{"lab", 10}}));
}

TEST_F(GrpcRelayTest, ANameIsResolvedAgainWhenItsAddressStopsAnswering) {
  // A pod rescheduled: the name now leads elsewhere, and the old address
  // closes its connections. The relay asks again (a second after the
  // failure at most) and its calls go to the new address.
  auto old_pod = std::make_unique<OtherLab>("lab-old");
  OtherLab new_pod("lab-new");
  // Shared with the relay, which outlives this body (TearDown stops it).
  auto port = std::make_shared<std::atomic<int>>(old_pod->server.port());
  auto asked = std::make_shared<std::atomic<int>>(0);
  resolve_ = [port, asked](const std::string& host,
                           int) -> absl::StatusOr<std::vector<std::string>> {
    ++*asked;  // From both relay threads: each resolves for its own connections.
    if (host != "lab.test") return absl::NotFoundError(absl::StrCat("no such name: ", host));
    return std::vector<std::string>{absl::StrCat("127.0.0.1:", port->load())};
  };
  StartRelay("", {}, "dns:///lab.test:50051");
  EXPECT_EQ(ServedBy(*Stub(), 6), (std::map<std::string, int>{{"lab-old", 6}}));
  const int asked_before = asked->load();
  *port = new_pod.server.port();
  old_pod.reset();
  // Within 15 s: asked again because the address failed (a second after),
  // not only at the next periodic resolution (30 s after the first).
  EXPECT_TRUE(Eventually(
      [&] {
        return ServedBy(*Stub(), 4) == std::map<std::string, int>{{"lab-new", 4}};
      },
      absl::Seconds(15)));
  EXPECT_GT(asked->load(), asked_before);
}

TEST_F(GrpcRelayTest, ANameThatDoesNotResolveFailsItsCallsNamingTheBackend) {
  auto asked = std::make_shared<std::atomic<int>>(0);
  resolve_ = [asked](const std::string& host, int) -> absl::StatusOr<std::vector<std::string>> {
    ++*asked;
    return absl::NotFoundError(absl::StrCat("no such name: ", host));
  };
  StartRelay("", {}, "dns:///nowhere.test:50051");
  lab::v1::EchoResponse reply;
  grpc::Status status = Echo({}, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("backend \"lab\"")) << status.error_message();
  EXPECT_GE(asked->load(), 1);  // The relay's name service, not the system's.
}

TEST_F(GrpcRelayTest, PickFirstKeepsToTheFirstAddressThatAccepts) {
  OtherLab other("lab-2");
  lab_config_.set_load_balancing("pick_first");
  StartRelay("", {},
             absl::StrCat("ipv4:127.0.0.1:", testing::FreePort(),
                          ",127.0.0.1:", other.server.port(), ",127.0.0.1:", backend_.port()));
  EXPECT_EQ(ServedBy(*Stub(), 10), (std::map<std::string, int>{{"lab-2", 10}}));
}

TEST_F(GrpcRelayTest, ABackendsStreamLimitOpensMoreConnectionsToIt) {
  OtherLab narrow("narrow", {.max_concurrent_streams = 1});
  StartRelay("", {}, absl::StrCat("127.0.0.1:", narrow.server.port()));
  auto stub = Stub();
  ASSERT_EQ(ServedBy(*stub, 1), (std::map<std::string, int>{{"narrow", 1}}));  // Its SETTINGS.
  // Three calls that hold until cancelled: with one call at a time on a
  // connection, all three reach the backend only on three connections.
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::thread> callers;
  std::atomic<int> cancelled{0};
  for (int i = 0; i < 3; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    callers.emplace_back([&, context = contexts.back().get()] {
      lab::v1::EchoRequest request;
      request.set_delay_ms(60000);
      lab::v1::EchoResponse reply;
      if (stub->Echo(context, request, &reply).error_code() == grpc::StatusCode::CANCELLED) {
        ++cancelled;
      }
    });
  }
  EXPECT_TRUE(Eventually([&] { return narrow.lab.calls() == 4; }, absl::Seconds(20)));
  for (auto& context : contexts) context->TryCancel();
  for (auto& caller : callers) caller.join();
  EXPECT_EQ(cancelled.load(), 3);
}

TEST_F(GrpcRelayTest, AUnaryCallGoesThroughTheBackendsBreakerAndTimeout) {
  lab_config_.set_timeout_ms(300);
  lab_config_.mutable_circuit_breaker()->set_enabled(true);
  lab_config_.mutable_circuit_breaker()->set_min_calls(4);
  lab_config_.mutable_circuit_breaker()->set_open_ms(60000);
  StartRelay();
  const Backend& lab = state_->backend("lab");
  auto stub = Stub();

  // timeout_ms: a call the backend holds ends there, naming the key.
  grpc::ClientContext held;
  held.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  lab::v1::EchoRequest slow;
  slow.set_delay_ms(60000);
  lab::v1::EchoResponse reply;
  grpc::Status status = stub->Echo(&held, slow, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(status.error_message(), HasSubstr("backends.lab.timeout_ms"));

  // The breaker: failures it counts (the timeout above, three more here)
  // open it, and then calls are refused without reaching the backend.
  lab::v1::EchoRequest failing;
  failing.set_error_code(grpc::StatusCode::UNAVAILABLE);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Echo(failing, &reply).error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  const int64_t reached = lab_.calls();
  grpc::Status refused = Echo(lab::v1::EchoRequest(), &reply);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(refused.error_message(), HasSubstr("circuit breaker for backend \"lab\" is open"));
  EXPECT_EQ(lab_.calls(), reached);
  EXPECT_EQ(lab.stats().breaker_rejected.load(), 1);
  EXPECT_EQ(lab.bulkhead().in_use(), 0);
}

TEST_F(GrpcRelayTest, AUnaryCallWaitsInItsBackendsBulkheadLineAsOnTheDoor) {
  lab_config_.set_max_concurrent_calls(1);
  lab_config_.set_max_queued_calls(1);
  StartRelay();
  const Backend& lab = state_->backend("lab");
  auto stub = Stub();
  lab::v1::EchoResponse held_reply;
  grpc::ClientContext held;
  held.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  lab::v1::EchoRequest slow;
  slow.set_delay_ms(60000);
  std::thread holder([&] {
    EXPECT_EQ(stub->Echo(&held, slow, &held_reply).error_code(), grpc::StatusCode::CANCELLED);
  });
  ASSERT_TRUE(Eventually([&] { return lab_.calls() == 1; }));

  // In the line, a caller's deadline passes, or it leaves: its place goes.
  grpc::ClientContext short_deadline;
  short_deadline.set_deadline(absl::ToChronoTime(absl::Now() + absl::Milliseconds(200)));
  lab::v1::EchoResponse reply;
  grpc::Status late = Echo(lab::v1::EchoRequest(), &reply, &short_deadline);
  EXPECT_EQ(late.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);  // Ours or the client's.
  EXPECT_TRUE(Eventually([&] { return lab.bulkhead().waiters() == 0; }));
  grpc::ClientContext leaving;
  leaving.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  std::thread leaver([&] {
    lab::v1::EchoResponse ignored;
    EXPECT_EQ(Echo(lab::v1::EchoRequest(), &ignored, &leaving).error_code(),
              grpc::StatusCode::CANCELLED);
  });
  ASSERT_TRUE(Eventually([&] { return lab.bulkhead().waiters() == 1; }));
  leaving.TryCancel();
  leaver.join();
  EXPECT_TRUE(Eventually([&] { return lab.bulkhead().waiters() == 0; }));
  EXPECT_EQ(lab_.calls(), 1);  // Neither reached the backend.

  // One waits its turn; past the line's one place, a call is refused.
  lab::v1::EchoRequest waiting_request;
  waiting_request.set_message("waited");
  lab::v1::EchoResponse waited;
  std::thread waiter([&] {
    grpc::Status status = Echo(waiting_request, &waited);
    EXPECT_TRUE(status.ok()) << status.error_message();
  });
  ASSERT_TRUE(Eventually([&] { return lab.bulkhead().waiters() == 1; }));
  grpc::Status full = Echo(lab::v1::EchoRequest(), &reply);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(full.error_message(),
              HasSubstr("backend \"lab\" bulkhead (1 in flight): semaphore wait queue is full"));
  EXPECT_EQ(lab.stats().bulkhead_rejected.load(), 1);
  held.TryCancel();  // Its permit goes to the one waiting.
  holder.join();
  waiter.join();
  EXPECT_EQ(waited.message(), "waited");
  EXPECT_TRUE(Eventually([&] { return lab.bulkhead().in_use() == 0; }));
  EXPECT_EQ(lab.breaker().state(), CircuitBreaker::State::kClosed);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A gRPC client of the relay over TLS, trusting the test CA.
std::unique_ptr<lab::v1::Lab::Stub> TlsStub(const testing::TestCertificates& certs, int port) {
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  return lab::v1::Lab::NewStub(grpc::CreateCustomChannel(
      absl::StrCat("127.0.0.1:", port),
      grpc::SslCredentials({.pem_root_certs = ReadFile(certs.ca)}), args));
}

TEST_F(GrpcRelayTest, CallersOverTlsAndABackendOverMutualTls) {
  absl::StatusOr<testing::TestCertificates> certs = testing::TestCertificates::Create();
  ASSERT_THAT(certs.status(), IsOk());
  OtherLab backend("tls-lab", {}, certs->ServerTls(/*require_client_cert=*/true));
  relay_tls_ = certs->ServerTls();
  backend_tls_ = certs->ClientTls(/*mtls=*/true);
  // The backend's certificate is checked for the target's name.
  StartRelay("", {}, absl::StrCat("localhost:", backend.server.port()));
  EXPECT_EQ(ServedBy(*TlsStub(*certs, relay_->port()), 4),
            (std::map<std::string, int>{{"tls-lab", 4}}));
  // A plaintext caller is not served.
  EXPECT_EQ(ServedBy(*Stub(), 1).count("tls-lab"), 0);
}

TEST_F(GrpcRelayTest, ABackendWhoseTlsDoesNotCheckOutFailsItsCallsNamingIt) {
  absl::StatusOr<testing::TestCertificates> certs = testing::TestCertificates::Create();
  ASSERT_THAT(certs.status(), IsOk());
  OtherLab backend("tls-lab", {}, certs->ServerTls(/*require_client_cert=*/true));
  for (const auto& [why, tls] : std::vector<std::pair<std::string, TlsOptions>>{
           {"no client certificate", certs->ClientTls(/*mtls=*/false)},
           {"another name", [&] {
              TlsOptions tls = certs->ClientTls(/*mtls=*/true);
              tls.server_name_override = "orders.example";
              return tls;
            }()}}) {
    backend_tls_ = tls;
    StartRelay("", {}, absl::StrCat("localhost:", backend.server.port()));
    lab::v1::EchoResponse reply;
    grpc::Status status = Echo(lab::v1::EchoRequest(), &reply);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << why;
    EXPECT_THAT(status.error_message(), HasSubstr("backend \"lab\"")) << why;
  }
  EXPECT_EQ(backend.lab.calls(), 0);
}

TEST_F(GrpcRelayTest, StartNamesABackendTargetItCannotDial) {
  for (const auto& [target, named] : std::vector<std::pair<std::string, std::string>>{
           {"unix:/run/lab.sock", "unix:/run/lab.sock"},
           {"ipv4:127.0.0.1:5000,lab:5001", "\"lab:5001\" is not an IP address"},
           {"dns:///lab", "has no port"}}) {
    MakeState("");
    ServiceProxy proxy(*state_, {});
    GrpcDoor door(*state_, proxy);
    GrpcRelay relay(
        *state_, door, proxy,
        {.address = "127.0.0.1:0", .backend_address = [&](const std::string&) { return target; }});
    EXPECT_THAT(relay.Start(), StatusIs(absl::StatusCode::kInvalidArgument,
                                        AllOf(HasSubstr("backend \"lab\""), HasSubstr(named))))
        << target;
  }
}

TEST_F(GrpcRelayTest, StreamsGoThroughAndHaveAPoolOfTheirOwn) {
  StartRelay("", {.max_streams = 1});
  auto stub = Stub();
  grpc::ClientContext open;
  lab::v1::StreamRequest three;
  three.set_count(3);
  auto reader = stub->Stream(&open, three);
  lab::v1::EchoResponse message;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(reader->Read(&message));
    EXPECT_EQ(message.index(), i);
  }
  EXPECT_FALSE(reader->Read(&message));
  EXPECT_TRUE(reader->Finish().ok());

  grpc::ClientContext held;
  lab::v1::StreamRequest slow;
  slow.set_count(2);
  slow.set_interval_ms(60000);
  auto holder = stub->Stream(&held, slow);
  ASSERT_TRUE(holder->Read(&message));  // Holds the only stream slot.
  grpc::ClientContext second;
  auto refused = stub->Stream(&second, slow);
  EXPECT_FALSE(refused->Read(&message));
  grpc::Status status = refused->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("gateway.max_streams"));
  lab::v1::EchoResponse reply;
  EXPECT_TRUE(Echo({}, &reply).ok());  // Unary calls are admitted apart.
  held.TryCancel();                    // The caller leaves: the backend's stream ends too.
  (void)holder->Finish();
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() == 1; }));
  EXPECT_TRUE(Eventually([&] { return relay_->calls_in_flight() == 0; }));
}

TEST_F(GrpcRelayTest, ServicesServedHereOrByNoBackendAndTheGatewaysOwnAreNotRelayed) {
  StartRelay("", {.local_services = {"fanout.lab.v1.Lab"}});
  grpc::Status local = GenericUnaryStatus(channel_, "/fanout.lab.v1.Lab/Nope");
  EXPECT_EQ(local.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(local.error_message(), HasSubstr("this node serves fanout.lab.v1.Lab"));
  grpc::Status unserved = GenericUnaryStatus(channel_, "/nope.v1.Nothing/Here");
  EXPECT_EQ(unserved.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(unserved.error_message(), HasSubstr("no backend serves nope.v1.Nothing"));
  grpc::Status own = GenericUnaryStatus(channel_, "/fanout.gateway.v1.Gateway/Aggregate");
  EXPECT_EQ(own.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(own.error_message(), HasSubstr("call it on the gRPC door"));
  EXPECT_EQ(lab_.calls(), 0);
}

TEST_F(GrpcRelayTest, AUnaryCallWithoutADeadlineGetsTheDefault) {
  StartRelay("default_timeout_ms: 1500");
  grpc::ClientContext context;  // No deadline.
  lab::v1::EchoRequest request;
  request.set_delay_ms(30000);
  lab::v1::EchoResponse reply;
  EXPECT_EQ(Echo(request, &reply, &context).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() == 1; }));
  // And a quick one sees that default as its deadline.
  grpc::ClientContext quick;
  ASSERT_TRUE(Echo({}, &reply, &quick).ok());
  EXPECT_GT(reply.deadline_remaining_ms(), 0);
  EXPECT_LE(reply.deadline_remaining_ms(), 1500);
}

TEST_F(GrpcRelayTest, TheCallerLeavingCancelsTheBackendsCall) {
  StartRelay();
  grpc::ClientContext context;
  std::thread leave([&] {
    ASSERT_TRUE(Eventually([&] { return lab_.calls() == 1; }));
    context.TryCancel();
  });
  lab::v1::EchoRequest request;
  request.set_delay_ms(30000);
  lab::v1::EchoResponse reply;
  EXPECT_EQ(Echo(request, &reply, &context).error_code(), grpc::StatusCode::CANCELLED);
  leave.join();
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() == 1; }));
  EXPECT_TRUE(Eventually([&] { return relay_->calls_in_flight() == 0; }));
}

TEST_F(GrpcRelayTest, ABackendThatIsGoneIsUnavailableNamingIt) {
  StartRelay("", {}, absl::StrCat("127.0.0.1:", testing::FreePort()));
  lab::v1::EchoResponse reply;
  grpc::Status status = Echo({}, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("backend \"lab\""));
  // The next call tries again, and the relay still serves.
  EXPECT_EQ(Echo({}, &reply).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(GrpcRelayTest, ABackendLostMidCallEndsItUnavailable) {
  StartRelay();
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  std::thread kill([&] {
    ASSERT_TRUE(Eventually([&] { return lab_.calls() == 1; }));
    backend_.Shutdown(absl::ZeroDuration());
  });
  lab::v1::EchoRequest request;
  request.set_delay_ms(30000);
  lab::v1::EchoResponse reply;
  grpc::Status status = Echo(request, &reply, &context);
  kill.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(GrpcRelayTest, ALoopOfRelaysEndsAtTheHopLimit) {
  StartRelay("", {}, "self");  // The relay's backend is the relay.
  lab::v1::EchoResponse reply;
  grpc::Status status = Echo({}, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("x-fanout-hops"));
  EXPECT_EQ(lab_.calls(), 0);
}

TEST_F(GrpcRelayTest, OversizedMetadataIsRefusedNamingTheLimit) {
  StartRelay();
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  context.AddMetadata("x-big", std::string(20 * 1024, 'b'));
  lab::v1::EchoResponse reply;
  grpc::Status status = Echo({}, &reply, &context);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("16384 bytes"));
  EXPECT_TRUE(Echo({}, &reply).ok());  // The connection still serves.
}

TEST_F(GrpcRelayTest, CallersAreRateLimitedAndAuthenticatedAsOnTheGrpcDoor) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / absl::StrCat("relay_test_", getpid());
  std::filesystem::create_directories(dir);
  std::string keys = (dir / "api_keys").string();
  testing::ReplaceFile(keys,
                       absl::StrCat("reporting ", testing::Sha256Hex("sesame"), " orders.read\n"));
  StartRelay(
      absl::StrFormat("auth: {default_mode: REQUIRED, api_keys: {file: \"%s\"}}\n"
                      "rate_limiting: {global: {requests_per_second: 1, burst: 2}}",
                      keys));
  lab::v1::EchoResponse reply;
  grpc::ClientContext anonymous;
  anonymous.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  grpc::Status refused = Echo({}, &reply, &anonymous);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(anonymous.GetServerTrailingMetadata().find("www-authenticate"),
            anonymous.GetServerTrailingMetadata().end());
  grpc::ClientContext keyed;
  keyed.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  keyed.AddMetadata("x-api-key", "sesame");
  EXPECT_TRUE(Echo({}, &reply, &keyed).ok());
  grpc::ClientContext limited;  // The third in a second: over the burst.
  limited.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  limited.AddMetadata("x-api-key", "sesame");
  EXPECT_EQ(Echo({}, &reply, &limited).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(limited.GetServerTrailingMetadata().find("retry-after"),
            limited.GetServerTrailingMetadata().end());
  EXPECT_EQ(lab_.calls(), 1);
  std::filesystem::remove_all(dir);
}

TEST_F(GrpcRelayTest, DrainLetsCallsUnderWayFinishAndStopEndsTheRest) {
  StartRelay();
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  grpc::Status finished;
  lab::v1::EchoResponse reply;
  std::thread call([&] {
    lab::v1::EchoRequest request;
    request.set_delay_ms(300);
    request.set_message("drained");
    finished = Echo(request, &reply, &context);
  });
  ASSERT_TRUE(Eventually([&] { return lab_.calls() == 1; }));
  relay_->BeginDrain();
  EXPECT_TRUE(relay_->AwaitDrained(absl::Now() + absl::Seconds(10)));
  call.join();
  EXPECT_TRUE(finished.ok()) << finished.error_message();
  EXPECT_EQ(reply.message(), "drained");

  // A call still running at Stop ends UNAVAILABLE.
  StartRelay();
  grpc::ClientContext late;
  late.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  std::thread stop([&] {
    ASSERT_TRUE(Eventually([&] { return lab_.calls() == 2; }));
    relay_->Stop();
  });
  lab::v1::EchoRequest slow;
  slow.set_delay_ms(30000);
  grpc::Status stopped = Echo(slow, &reply, &late);
  stop.join();
  EXPECT_EQ(stopped.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(stopped.error_message(), HasSubstr("stopping"));
}

}  // namespace
}  // namespace fanout::gateway
