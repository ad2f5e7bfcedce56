// The RPC glue against a real gRPC server on 127.0.0.1:0 with several loops.
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include "fanout/lab/v1/lab.grpc.pb.h"
#include "node/async/gather.h"
#include "node/async/with_deadline.h"
#include "node/base/status_macros.h"
#include "node/rpc/byte_buffer.h"
#include "node/rpc/client.h"
#include "node/rpc/server.h"
#include "node/telemetry/metrics.h"
#include "services/lab/lab_service.h"
#include "tests/support/eventually.h"
#include "tests/support/metrics_scrape.h"
#include "tests/support/status_matchers.h"

namespace fanout {
namespace {

using ::fanout::testing::Eventually;
using ::fanout::testing::IsOk;
using ::fanout::testing::IsOkAndHolds;
using ::fanout::testing::StatusIs;
using lab::v1::EchoRequest;
using lab::v1::EchoResponse;
using lab::v1::Lab;

EchoRequest Req(std::string message, int64_t delay_ms = 0) {
  EchoRequest r;
  r.set_message(std::move(message));
  r.set_delay_ms(delay_ms);
  return r;
}

class RpcTest : public ::testing::Test {
 protected:
  RpcTest()
      : server_({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 3}), lab_({.name = "lab"}) {
    lab_.Register(server_);
    EXPECT_THAT(server_.Start(), IsOk());
    lab_.Serve(server_);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_.port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = Lab::NewStub(channel_);
  }
  ~RpcTest() override { server_.Shutdown(absl::Seconds(1)); }

  template <typename T>
  T Run(Task<T> task) {
    return BlockOn(server_.loops().At(0), std::move(task));
  }
  Task<absl::StatusOr<EchoResponse>> Echo(EchoRequest request, CallOptions options = {}) {
    co_return co_await CallUnary(stub_.get(), &Lab::Stub::PrepareAsyncEcho, request, options);
  }
  Server server_;
  lab::LabService lab_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Lab::Stub> stub_;
};

TEST_F(RpcTest, UnaryCallRoundTrips) {
  auto reply = Run(Echo(Req("hi")));
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->message(), "hi");
  EXPECT_EQ(reply->served_by(), "lab");
}

TEST_F(RpcTest, HandlerErrorsReachTheClientWithTheirCode) {
  EchoRequest r = Req("x");
  r.set_error_code(static_cast<int>(absl::StatusCode::kNotFound));
  r.set_error_message("no such thing");
  EXPECT_THAT(Run(Echo(r)), StatusIs(absl::StatusCode::kNotFound, "no such thing"));
  r.set_error_code(99);
  EXPECT_THAT(Run(Echo(r)),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("error_code")));
}

TEST_F(RpcTest, FanOutOfOneHundredCalls) {
  auto run = [&]() -> Task<absl::StatusOr<int>> {
    std::vector<Task<absl::StatusOr<EchoResponse>>> calls;
    for (int i = 0; i < 100; ++i) calls.push_back(Echo(Req(absl::StrCat(i), 50)));
    FANOUT_CO_ASSIGN_OR_RETURN(auto replies, co_await Gather(std::move(calls)));
    for (int i = 0; i < 100; ++i) {
      if (replies[i].message() != absl::StrCat(i)) co_return absl::InternalError("mismatch");
    }
    co_return static_cast<int>(replies.size());
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(100));
}

TEST_F(RpcTest, TaskDeadlineTravelsAsTheCallDeadline) {
  auto run = [&]() -> Task<absl::StatusOr<EchoResponse>> {
    co_return co_await WithTimeout(Echo(Req("d")), absl::Seconds(5));
  };
  auto reply = Run(run());
  ASSERT_THAT(reply, IsOk());
  // What is left of the 5 s, give or take 100 ms: grpc-timeout rounds up to
  // 10 ms and is computed from gRPC's cached clock, which can lag.
  EXPECT_GT(reply->deadline_remaining_ms(), 2500);
  EXPECT_LE(reply->deadline_remaining_ms(), 5000 + 100);
  // Without one, the server sees none.
  EXPECT_EQ(Run(Echo(Req("none")))->deadline_remaining_ms(), -1);
}

TEST_F(RpcTest, DeadlineExpiresAndTheServerStops) {
  auto run = [&]() -> Task<absl::StatusOr<EchoResponse>> {
    // Long enough for the call to reach the server even under sanitizers on
    // a loaded machine, over a channel not yet connected.
    co_return co_await WithTimeout(Echo(Req("slow", 10000)), absl::Seconds(3));
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(lab_.calls(), 1);
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() == 1; }));
}

TEST_F(RpcTest, CallOptionDeadlineAlsoApplies) {
  CallOptions options{.deadline = absl::Now() + absl::Milliseconds(100)};
  EXPECT_THAT(Run(Echo(Req("slow", 10000), options)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(RpcTest, ClientCancellationReachesTheServer) {
  auto run = [&]() -> Task<absl::Status> {
    // Fails once the server holds the call, so the cancel has somewhere to go.
    auto fail_soon = [&]() -> Task<absl::StatusOr<EchoResponse>> {
      while (lab_.calls() == 0) co_await Sleep(absl::Milliseconds(1));
      co_return absl::AbortedError("sibling failed");
    };
    // The failing sibling cancels the in-flight call (Gather's first error).
    auto result = co_await Gather(Echo(Req("slow", 10000)), fail_soon());
    co_return result.status();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kAborted));
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() == 1; }));
}

TEST_F(RpcTest, ServerStreamingReadsEveryMessage) {
  auto run = [&]() -> Task<absl::StatusOr<std::vector<int>>> {
    lab::v1::StreamRequest r;
    r.set_count(5);
    r.set_interval_ms(1);
    ServerStreamCall<EchoResponse> stream(stub_.get(), &Lab::Stub::PrepareAsyncStream, r);
    std::vector<int> indexes;
    for (;;) {
      FANOUT_CO_ASSIGN_OR_RETURN(auto message, co_await stream.Read());
      if (!message) break;
      indexes.push_back(message->index());
    }
    co_return indexes;
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(::testing::ElementsAre(0, 1, 2, 3, 4)));
}

TEST_F(RpcTest, ServerStreamingErrorAndCancel) {
  auto run = [&]() -> Task<absl::Status> {
    lab::v1::StreamRequest bad;
    bad.set_count(-1);
    ServerStreamCall<EchoResponse> failing(stub_.get(), &Lab::Stub::PrepareAsyncStream, bad);
    absl::Status first = (co_await failing.Read()).status();
    if (!absl::IsInvalidArgument(first)) co_return absl::InternalError(first.ToString());
    lab::v1::StreamRequest slow;
    slow.set_count(1000);
    slow.set_interval_ms(1000);
    ServerStreamCall<EchoResponse> stream(stub_.get(), &Lab::Stub::PrepareAsyncStream, slow);
    FANOUT_CO_RETURN_IF_ERROR((co_await stream.Read()).status());
    co_return co_await stream.Cancel();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() == 1; }));
}

TEST_F(RpcTest, GenericUnaryCallCarriesBytes) {
  grpc::GenericStub generic(channel_);
  auto run = [&]() -> Task<absl::StatusOr<std::string>> {
    FANOUT_CO_ASSIGN_OR_RETURN(Bytes request, ToByteBuffer(Req("raw")));
    FANOUT_CO_ASSIGN_OR_RETURN(
        Bytes reply, co_await CallGenericUnary(&generic, "/fanout.lab.v1.Lab/Echo", request));
    EchoResponse parsed;
    FANOUT_CO_RETURN_IF_ERROR(FromByteBuffer(reply, &parsed));
    co_return parsed.message();
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds("raw"));
  auto unknown = [&]() -> Task<absl::Status> {
    Bytes empty;
    co_return (co_await CallGenericUnary(&generic, "/no.Such/Method", empty)).status();
  };
  EXPECT_THAT(Run(unknown()), StatusIs(absl::StatusCode::kUnimplemented));
}

TEST_F(RpcTest, GenericServerProxiesToABackend) {
  // A second node serves every method generically and forwards it here.
  Server proxy({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 2});
  grpc::AsyncGenericService generic_service;
  proxy.RegisterGenericService(&generic_service);
  ASSERT_THAT(proxy.Start(), IsOk());
  grpc::GenericStub backend(channel_);
  proxy.ServeGeneric(&generic_service, [&](GenericCall& call) -> Task<absl::Status> {
    std::optional<Bytes> request = co_await call.Read();
    if (!request) co_return absl::InvalidArgumentError("no request message");
    FANOUT_CO_ASSIGN_OR_RETURN(Bytes reply,
                               co_await CallGenericUnary(&backend, call.method(), *request));
    co_return co_await call.Write(reply);
  });
  auto stub = Lab::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", proxy.port()),
                                               grpc::InsecureChannelCredentials()));
  auto run = [&]() -> Task<absl::StatusOr<EchoResponse>> {
    co_return co_await CallUnary(stub.get(), &Lab::Stub::PrepareAsyncEcho, Req("via proxy"));
  };
  auto reply = Run(run());
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->message(), "via proxy");
  proxy.Shutdown(absl::Seconds(1));
}

// A handler that answers after its caller left (here: an error, as the
// gateway's door answers a call whose request message never came) is not
// counted with that answer: the caller never saw it.
TEST_F(RpcTest, AnAnswerToACallerAlreadyGoneCountsAsWhatHappenedToIt) {
  Server server({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1});
  grpc::AsyncGenericService generic_service;
  server.RegisterGenericService(&generic_service);
  ASSERT_THAT(server.Start(), IsOk());
  std::atomic<bool> started{false};
  std::atomic<bool> answered{false};
  server.ServeGeneric(&generic_service, [&](GenericCall& call) -> Task<absl::Status> {
    co_await call.Read();
    started = true;
    absl::Status slept = co_await Sleep(absl::Seconds(30));  // Until the caller leaves.
    answered = true;
    co_return absl::InvalidArgumentError(absl::StrCat("answered after: ", slept.message()));
  });
  grpc::GenericStub stub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", server.port()),
                                             grpc::InsecureChannelCredentials()));
  auto scrape = [] { return testing::ParsedOrEmpty(metrics::DefaultRegistry().Render()); };
  auto count = [](const testing::PrometheusText& text, const std::string& code) {
    return text
        .Value("fanout_rpc_server_duration_seconds_count",
               {{"service", "fanout.lab.v1.Lab"}, {"method", "Echo"}, {"code", code}})
        .value_or(0);
  };
  testing::PrometheusText before = scrape();
  auto run = [&]() -> Task<absl::Status> {
    FANOUT_CO_ASSIGN_OR_RETURN(Bytes request, ToByteBuffer(Req("late")));
    auto call = [&]() -> Task<absl::StatusOr<Bytes>> {
      co_return co_await CallGenericUnary(&stub, "/fanout.lab.v1.Lab/Echo", request);
    };
    // Fails once the server holds the call: Gather cancels the call, which
    // RST_STREAMs it (no deadline, so the server sees a cancel, not a timeout).
    auto leave = [&]() -> Task<absl::StatusOr<Bytes>> {
      while (!started.load()) co_await Sleep(absl::Milliseconds(1));
      co_return absl::AbortedError("the caller left");
    };
    co_return (co_await Gather(call(), leave())).status();
  };
  EXPECT_THAT(BlockOn(server.loops().At(0), run()), StatusIs(absl::StatusCode::kAborted));
  testing::PrometheusText after;
  EXPECT_TRUE(Eventually([&] {
    after = scrape();
    return count(after, "CANCELLED") - count(before, "CANCELLED") == 1;
  })) << "the call is counted as what happened to its caller";
  EXPECT_TRUE(answered.load());
  EXPECT_EQ(count(after, "INVALID_ARGUMENT") - count(before, "INVALID_ARGUMENT"), 0);
  server.Shutdown(absl::Seconds(1));
}

TEST_F(RpcTest, ServerHandlerFansOutOneHundredCalls) {
  // A front node whose handler fans out 100 backend calls per request and
  // joins them; its deadline and cancellation flow into all 100.
  Server front({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 2});
  grpc::AsyncGenericService generic_service;
  front.RegisterGenericService(&generic_service);
  ASSERT_THAT(front.Start(), IsOk());
  front.ServeGeneric(&generic_service, [&](GenericCall& call) -> Task<absl::Status> {
    if (!co_await call.Read()) co_return absl::InvalidArgumentError("no request message");
    std::vector<Task<absl::StatusOr<EchoResponse>>> calls;
    for (int i = 0; i < 100; ++i) calls.push_back(Echo(Req(absl::StrCat(i), 20)));
    FANOUT_CO_ASSIGN_OR_RETURN(auto replies, co_await Gather(std::move(calls)));
    EchoResponse joined;
    for (const auto& reply : replies) joined.set_index(joined.index() + std::stoi(reply.message()));
    FANOUT_CO_ASSIGN_OR_RETURN(Bytes bytes, ToByteBuffer(joined));
    co_return co_await call.Write(bytes);
  });
  grpc::GenericStub stub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", front.port()),
                                             grpc::InsecureChannelCredentials()));
  auto run = [&]() -> Task<absl::StatusOr<int>> {
    FANOUT_CO_ASSIGN_OR_RETURN(Bytes request, ToByteBuffer(Req("go")));
    FANOUT_CO_ASSIGN_OR_RETURN(Bytes reply,
                               co_await CallGenericUnary(&stub, "/front.Any/FanOut", request));
    EchoResponse parsed;
    FANOUT_CO_RETURN_IF_ERROR(FromByteBuffer(reply, &parsed));
    co_return parsed.index();
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(4950));  // 0 + 1 + ... + 99
  EXPECT_EQ(lab_.calls(), 100);
  front.Shutdown(absl::Seconds(1));
}

TEST_F(RpcTest, ShutdownWithCallsInFlightFinishesThemOrCancels) {
  // Calls still running at shutdown: short ones finish within the grace
  // period, long ones are cancelled; nothing hangs, nothing leaks.
  auto client_loops = std::make_unique<LoopGroup>(LoopGroup::Options{.num_loops = 1});
  std::atomic<int> finished{0}, failed{0};
  auto call = [&](int64_t delay) -> Task<absl::Status> {
    absl::StatusOr<EchoResponse> r = co_await Echo(Req("inflight", delay));
    (r.ok() ? finished : failed).fetch_add(1);
    co_return absl::OkStatus();
  };
  for (int i = 0; i < 10; ++i) Spawn(client_loops->At(0), call(i % 2 == 0 ? 50 : 60000));
  ASSERT_TRUE(Eventually([&] { return lab_.calls() == 10; }));
  server_.Shutdown(absl::Seconds(3));  // Ample for the 50 ms ones under load.
  ASSERT_TRUE(Eventually([&] { return finished + failed == 10; }));
  EXPECT_EQ(finished.load(), 5);
  EXPECT_EQ(failed.load(), 5);
  client_loops->Stop(absl::Now() + absl::Seconds(2));
}

}  // namespace
}  // namespace fanout
