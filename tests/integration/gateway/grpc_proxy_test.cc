// ProxyCall between real gRPC servers on 127.0.0.1:0: a proxy node
// (ServeGeneric -> ProxyCall) in front of a Lab backend and a generic test
// backend; clients are a typed Lab stub and generic streams pointed at the
// proxy.
#include "gateway/grpc_proxy.h"

#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <map>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "fanout/lab/v1/lab.grpc.pb.h"
#include "node/async/sleep.h"
#include "node/async/task_group.h"
#include "node/async/with_deadline.h"
#include "node/base/status_macros.h"
#include "node/rpc/byte_buffer.h"
#include "node/rpc/client.h"
#include "node/rpc/generic_stream.h"
#include "node/rpc/server.h"
#include "node/rpc/status.h"
#include "services/lab/lab_service.h"
#include "tests/support/eventually.h"
#include "tests/support/status_matchers.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::Eventually;
using ::fanout::testing::IsOk;
using ::fanout::testing::IsOkAndHolds;
using ::fanout::testing::StatusIs;
using lab::v1::EchoRequest;
using lab::v1::EchoResponse;
using lab::v1::Lab;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kTestEcho[] = "/test.v1.Test/Echo";          // echoes each message
constexpr char kTestMetadata[] = "/test.v1.Test/Metadata";  // answers with what it saw
constexpr char kTestHold[] = "/test.v1.Test/Hold";          // waits to be cancelled
constexpr char kTestFailAfterOne[] = "/test.v1.Test/FailAfterOne";
constexpr char kTestUpload[] = "/test.v1.Test/Upload";  // commits when the requests end
// FailAfterOne's status details (grpc-status-details-bin), opaque bytes.
constexpr char kFailureDetails[] = "\x08\x09\x12\x0cone is enough";

EchoRequest Req(std::string message, int64_t delay_ms = 0) {
  EchoRequest r;
  r.set_message(std::move(message));
  r.set_delay_ms(delay_ms);
  return r;
}

std::shared_ptr<grpc::Channel> Channel(int port) {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
}

std::string Get(const std::multimap<grpc::string_ref, grpc::string_ref>& map,
                const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? "<none>" : std::string(it->second.data(), it->second.size());
}

// A backend on the generic path, with observables for the tests.
class TestBackend {
 public:
  Task<absl::Status> Handle(GenericCall& call) {
    if (call.method() == kTestEcho) co_return co_await Echo(call);
    if (call.method() == kTestMetadata) co_return co_await Metadata(call);
    if (call.method() == kTestHold) co_return co_await Hold(call);
    if (call.method() == kTestUpload) co_return co_await Upload(call);
    if (call.method() == kTestFailAfterOne) {
      co_await call.Read();
      absl::Status enough = absl::FailedPreconditionError("one is enough");
      enough.SetPayload(kGrpcStatusDetailsUrl, absl::Cord(kFailureDetails));
      co_return enough;
    }
    co_return absl::UnimplementedError(call.method());
  }

  // How the Hold call ended on the backend, once it has.
  std::optional<absl::Status> hold_end() {
    MutexLock lock(&mu_);
    return hold_end_;
  }
  bool upload_arrived() {
    MutexLock lock(&mu_);
    return upload_arrived_;
  }
  // "committed" or "abandoned", once the upload ended; "" if not within `patience`.
  std::string AwaitUploadEnd(absl::Duration patience) {
    absl::Time deadline = absl::Now() + patience;
    MutexLock lock(&mu_);
    while (upload_end_.empty() && changed_.WaitWithDeadline(&mu_, deadline)) {
    }
    return upload_end_;
  }
  bool hold_arrived() {
    MutexLock lock(&mu_);
    return hold_arrived_;
  }
  // False if it did not end within `patience` (a hang guard, not a timing claim).
  bool AwaitHoldEnd(absl::Duration patience) {
    absl::Time deadline = absl::Now() + patience;
    MutexLock lock(&mu_);
    while (!hold_end_.has_value()) {
      if (!changed_.WaitWithDeadline(&mu_, deadline)) return hold_end_.has_value();
    }
    return true;
  }

 private:
  static Task<absl::Status> Echo(GenericCall& call) {
    call.context().AddInitialMetadata("x-backend-initial", "hello");
    call.context().AddTrailingMetadata("x-backend-trailing", "bye");
    while (std::optional<Bytes> message = co_await call.Read()) {
      FANOUT_CO_RETURN_IF_ERROR(co_await call.Write(*message));
    }
    co_return absl::OkStatus();
  }

  // Answers with the client metadata it saw ("key=value" lines, by key).
  static Task<absl::Status> Metadata(GenericCall& call) {
    co_await call.Read();
    std::vector<std::string> seen;
    for (const auto& [key, value] : call.context().client_metadata()) {
      std::string k(key.data(), key.size());
      if (absl::StartsWith(k, "x-"))
        seen.push_back(k + "=" + std::string(value.data(), value.size()));
    }
    EchoResponse response;
    response.set_payload(absl::StrJoin(seen, "\n"));  // bytes: -bin values are binary
    call.context().AddTrailingMetadata("x-backend-trailing", "bye");
    FANOUT_CO_ASSIGN_OR_RETURN(Bytes bytes, ToByteBuffer(response));
    co_return co_await call.Write(bytes);
  }

  // Reads to the end of the requests and answers: the answer is sent only
  // when the end was a half-close (a cancelled call takes no answer).
  Task<absl::Status> Upload(GenericCall& call) {
    while (co_await call.Read()) {
      MutexLock lock(&mu_);
      upload_arrived_ = true;
    }
    absl::Status written = co_await call.Write(Bytes());
    {
      MutexLock lock(&mu_);
      upload_end_ = written.ok() ? "committed" : "abandoned";
      changed_.SignalAll();
    }
    co_return written;
  }

  Task<absl::Status> Hold(GenericCall& call) {
    co_await call.Read();
    {
      MutexLock lock(&mu_);
      hold_arrived_ = true;
    }
    absl::Status slept = co_await Sleep(absl::Seconds(60));
    {
      MutexLock lock(&mu_);
      hold_end_ = slept;
      changed_.SignalAll();
    }
    co_return slept;
  }

  Mutex mu_;
  CondVar changed_;
  bool hold_arrived_ ABSL_GUARDED_BY(mu_) = false;
  bool upload_arrived_ ABSL_GUARDED_BY(mu_) = false;
  std::string upload_end_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> hold_end_ ABSL_GUARDED_BY(mu_);
};

class GrpcProxyTest : public ::testing::Test {
 protected:
  GrpcProxyTest()
      : lab_server_({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1}),
        test_server_({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1}),
        proxy_({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 2}),
        lab_({.name = "lab"}) {
    lab_.Register(lab_server_);
    EXPECT_THAT(lab_server_.Start(), IsOk());
    lab_.Serve(lab_server_);

    test_server_.RegisterGenericService(&test_service_);
    EXPECT_THAT(test_server_.Start(), IsOk());
    test_server_.ServeGeneric(&test_service_,
                              [this](GenericCall& call) { return backend_.Handle(call); });

    lab_backend_ = std::make_unique<grpc::GenericStub>(Channel(lab_server_.port()));
    test_backend_ = std::make_unique<grpc::GenericStub>(Channel(test_server_.port()));
    options_.metadata_allowlist = {"x-allowed", "x-allowed-bin", "grpc-timeout"};
    proxy_.RegisterGenericService(&proxy_service_);
    EXPECT_THAT(proxy_.Start(), IsOk());
    proxy_.ServeGeneric(&proxy_service_, [this](GenericCall& call) {
      grpc::GenericStub* backend =
          absl::StartsWith(call.method(), "/test.v1.") ? test_backend_.get() : lab_backend_.get();
      return ProxyCall(call, backend, options_);
    });
    client_channel_ = Channel(proxy_.port());
    lab_stub_ = Lab::NewStub(client_channel_);
    generic_ = std::make_unique<grpc::GenericStub>(client_channel_);
  }
  ~GrpcProxyTest() override {
    proxy_.Shutdown(absl::Seconds(1));
    test_server_.Shutdown(absl::Seconds(1));
    lab_server_.Shutdown(absl::Seconds(1));
  }

  // Client tasks run on a loop of their own, as an outside caller would.
  template <typename T>
  T Run(Task<T> task) {
    return BlockOn(client_loops_.At(0), std::move(task));
  }
  Task<absl::StatusOr<EchoResponse>> Echo(EchoRequest request, CallOptions options = {}) {
    co_return co_await CallUnary(lab_stub_.get(), &Lab::Stub::PrepareAsyncEcho, request, options);
  }
  Server lab_server_;
  Server test_server_;
  Server proxy_;
  lab::LabService lab_;
  TestBackend backend_;
  grpc::AsyncGenericService test_service_;
  grpc::AsyncGenericService proxy_service_;
  std::unique_ptr<grpc::GenericStub> lab_backend_;
  std::unique_ptr<grpc::GenericStub> test_backend_;
  ProxyOptions options_;
  std::shared_ptr<grpc::Channel> client_channel_;
  std::unique_ptr<Lab::Stub> lab_stub_;
  std::unique_ptr<grpc::GenericStub> generic_;
  LoopGroup client_loops_{LoopGroup::Options{.num_loops = 1}};
};

TEST_F(GrpcProxyTest, UnaryCallGoesThrough) {
  auto reply = Run(Echo(Req("via proxy")));
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->message(), "via proxy");
  EXPECT_EQ(reply->served_by(), "lab");
}

TEST_F(GrpcProxyTest, BackendErrorReachesTheClientWithItsCode) {
  EchoRequest request = Req("x");
  request.set_error_code(static_cast<int>(absl::StatusCode::kPermissionDenied));
  request.set_error_message("not yours");
  EXPECT_THAT(Run(Echo(request)), StatusIs(absl::StatusCode::kPermissionDenied, "not yours"));
}

TEST_F(GrpcProxyTest, ServerStreamingArrivesInOrder) {
  auto run = [&]() -> Task<absl::StatusOr<std::vector<int>>> {
    lab::v1::StreamRequest request;
    request.set_count(5);
    request.set_interval_ms(1);
    ServerStreamCall<EchoResponse> stream(lab_stub_.get(), &Lab::Stub::PrepareAsyncStream, request);
    std::vector<int> indexes;
    for (;;) {
      FANOUT_CO_ASSIGN_OR_RETURN(auto message, co_await stream.Read());
      if (!message) break;
      indexes.push_back(message->index());
    }
    co_return indexes;
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(ElementsAre(0, 1, 2, 3, 4)));
}

TEST_F(GrpcProxyTest, BidiStreamingBothWaysWithBackendMetadata) {
  constexpr int kMessages = 20;
  auto run = [&]() -> Task<absl::StatusOr<std::vector<std::string>>> {
    GenericClientStream stream(generic_.get(), kTestEcho);
    FANOUT_CO_RETURN_IF_ERROR(co_await stream.Start());
    std::vector<std::string> echoed;
    auto writer = [&]() -> Task<absl::Status> {
      for (int i = 0; i < kMessages; ++i) {
        FANOUT_CO_ASSIGN_OR_RETURN(Bytes bytes, ToByteBuffer(Req(absl::StrCat(i))));
        if (!co_await stream.Write(bytes)) co_return absl::InternalError("write failed");
      }
      co_await stream.WritesDone();
      co_return absl::OkStatus();
    };
    auto reader = [&]() -> Task<absl::Status> {
      while (std::optional<Bytes> bytes = co_await stream.Read()) {
        EchoRequest message;
        FANOUT_CO_RETURN_IF_ERROR(FromByteBuffer(*bytes, &message));
        echoed.push_back(message.message());
      }
      co_return absl::OkStatus();
    };
    TaskGroup group(co_await CurrentContext());
    group.Spawn(writer());
    group.Spawn(reader());
    FANOUT_CO_RETURN_IF_ERROR(co_await group.Wait());
    FANOUT_CO_RETURN_IF_ERROR(co_await stream.Finish());
    echoed.push_back(Get(stream.context().GetServerInitialMetadata(), "x-backend-initial"));
    echoed.push_back(Get(stream.context().GetServerTrailingMetadata(), "x-backend-trailing"));
    co_return echoed;
  };
  auto echoed = Run(run());
  ASSERT_THAT(echoed, IsOk());
  ASSERT_EQ(echoed->size(), static_cast<size_t>(kMessages + 2));
  for (int i = 0; i < kMessages; ++i) EXPECT_EQ((*echoed)[i], absl::StrCat(i));
  EXPECT_EQ((*echoed)[kMessages], "hello");
  EXPECT_EQ((*echoed)[kMessages + 1], "bye");
}

// Messages larger than HTTP/2's initial 64 KB window, each answered before
// the client sends the next or half-closes: the proxy must keep both
// directions' flow-control windows moving on its own.
TEST_F(GrpcProxyTest, LargeMessagesFlowBothWaysBeforeTheHalfClose) {
  constexpr int kMessages = 2;
  auto run = [&]() -> Task<absl::StatusOr<int>> {
    GenericClientStream stream(generic_.get(), kTestEcho);
    FANOUT_CO_RETURN_IF_ERROR(co_await stream.Start());
    int echoed = 0;
    for (int i = 0; i < kMessages; ++i) {
      std::string big(100 * 1024, static_cast<char>('a' + i));
      FANOUT_CO_ASSIGN_OR_RETURN(Bytes bytes, ToByteBuffer(Req(big)));
      if (!co_await stream.Write(bytes)) co_return absl::InternalError("write failed");
      // Read the echo before sending anything more (no half-close yet).
      std::optional<Bytes> reply = co_await stream.Read();
      if (!reply) break;
      EchoRequest message;
      FANOUT_CO_RETURN_IF_ERROR(FromByteBuffer(*reply, &message));
      if (message.message() != big) co_return absl::InternalError("echo differs");
      ++echoed;
    }
    co_await stream.WritesDone();
    while (co_await stream.Read()) {
    }
    FANOUT_CO_RETURN_IF_ERROR(co_await stream.Finish());
    co_return echoed;
  };
  auto guarded = [&]() -> Task<absl::StatusOr<int>> {
    // A hang guard. Under TSan each write's completion comes seconds after
    // the peer has read the message (gRPC's, not the proxy's: direct calls
    // show it too); the plain build does 200 round trips in 0.5 s.
    co_return co_await WithTimeout(run(), absl::Seconds(60));
  };
  EXPECT_THAT(Run(guarded()), IsOkAndHolds(kMessages));
}

TEST_F(GrpcProxyTest, BackendFailingWhileTheClientStillSendsEndsTheClientCall) {
  auto run = [&]() -> Task<absl::Status> {
    GenericClientStream stream(generic_.get(), kTestFailAfterOne);
    FANOUT_CO_RETURN_IF_ERROR(co_await stream.Start());
    FANOUT_CO_ASSIGN_OR_RETURN(Bytes bytes, ToByteBuffer(Req("one")));
    co_await stream.Write(bytes);
    // No WritesDone: the proxy's read of the client is still pending.
    if (co_await stream.Read()) co_return absl::InternalError("unexpected reply");
    co_return co_await stream.Finish();
  };
  absl::Status status = Run(run());
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition, "one is enough"));
  // The details come through too.
  EXPECT_EQ(status.GetPayload(kGrpcStatusDetailsUrl), absl::Cord(kFailureDetails));
}

TEST_F(GrpcProxyTest, TheBackendSeesTheClientDeadline) {
  auto run = [&]() -> Task<absl::StatusOr<EchoResponse>> {
    co_return co_await WithTimeout(Echo(Req("d")), absl::Seconds(5));
  };
  auto reply = Run(run());
  ASSERT_THAT(reply, IsOk());
  EXPECT_GT(reply->deadline_remaining_ms(), 0);
  // Give or take 100 ms on each of the two hops: grpc-timeout rounds up to
  // 10 ms and is computed from gRPC's cached clock, which can lag.
  EXPECT_LE(reply->deadline_remaining_ms(), 5000 + 2 * 100);
  // Without one the proxy invents none.
  EXPECT_EQ(Run(Echo(Req("none")))->deadline_remaining_ms(), -1);
}

TEST_F(GrpcProxyTest, AnExpiredDeadlineEndsTheBackendCall) {
  auto run = [&]() -> Task<absl::StatusOr<EchoResponse>> {
    // Long enough to cross two channels not yet connected, under load.
    co_return co_await WithTimeout(Echo(Req("slow", 60000)), absl::Seconds(3));
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() == 1; }));
}

TEST_F(GrpcProxyTest, ClientCancellationReachesTheBackend) {
  auto run = [&]() -> Task<absl::Status> {
    auto call = [&]() -> Task<absl::Status> {
      GenericClientStream stream(generic_.get(), kTestHold);
      FANOUT_CO_RETURN_IF_ERROR(co_await stream.Start());
      co_await stream.Write(Bytes());
      co_await stream.WritesDone();
      co_await stream.Read();
      co_return co_await stream.Finish();
    };
    // Fails once the backend holds the call, so the cancel has somewhere to go.
    auto fail_soon = [&]() -> Task<absl::Status> {
      while (!backend_.hold_arrived()) co_await Sleep(absl::Milliseconds(1));
      co_return absl::AbortedError("caller gave up");
    };
    TaskGroup group(co_await CurrentContext());
    group.Spawn(call());
    group.Spawn(fail_soon());
    co_return co_await group.Wait();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kAborted));
  ASSERT_TRUE(backend_.AwaitHoldEnd(absl::Seconds(30)));
  // The backend's handler was cancelled: by the client, not by a deadline.
  EXPECT_THAT(*backend_.hold_end(), StatusIs(absl::StatusCode::kCancelled));
}

TEST_F(GrpcProxyTest, ACancelledClientStreamIsNotPassedOnAsComplete) {
  auto run = [&]() -> Task<absl::Status> {
    auto call = [&]() -> Task<absl::Status> {
      GenericClientStream stream(generic_.get(), kTestUpload);
      FANOUT_CO_RETURN_IF_ERROR(co_await stream.Start());
      co_await stream.Write(Bytes());  // One part of many, then the client goes.
      co_await stream.Read();
      co_return co_await stream.Finish();
    };
    auto fail_soon = [&]() -> Task<absl::Status> {
      while (!backend_.upload_arrived()) co_await Sleep(absl::Milliseconds(1));
      co_return absl::AbortedError("caller gave up");
    };
    TaskGroup group(co_await CurrentContext());
    group.Spawn(call());
    group.Spawn(fail_soon());
    co_return co_await group.Wait();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kAborted));
  EXPECT_EQ(backend_.AwaitUploadEnd(absl::Seconds(30)), "abandoned");
}

TEST_F(GrpcProxyTest, OnlyAllowlistedMetadataIsForwarded) {
  auto run = [&]() -> Task<absl::StatusOr<std::vector<std::string>>> {
    CallOptions options;
    options.metadata = {{"x-allowed", "yes"},
                        {"x-allowed", "twice"},
                        {"x-allowed-bin", std::string("\0\xff\x01", 3)},
                        {"x-other", "no"}};
    GenericClientStream stream(generic_.get(), kTestMetadata, options);
    FANOUT_CO_RETURN_IF_ERROR(co_await stream.Start());
    co_await stream.Write(Bytes());
    co_await stream.WritesDone();
    std::optional<Bytes> bytes = co_await stream.Read();
    FANOUT_CO_RETURN_IF_ERROR(co_await stream.Finish());
    if (!bytes) co_return absl::InternalError("no answer");
    EchoResponse seen;
    FANOUT_CO_RETURN_IF_ERROR(FromByteBuffer(*bytes, &seen));
    std::vector<std::string> lines = absl::StrSplit(seen.payload(), '\n');
    lines.push_back(Get(stream.context().GetServerTrailingMetadata(), "x-backend-trailing"));
    co_return lines;
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(ElementsAre("x-allowed=yes", "x-allowed=twice",
                                                   std::string("x-allowed-bin=\0\xff\x01", 17),
                                                   "x-fanout-hops=1",  // Set by the proxy itself.
                                                   "bye")));
}

TEST_F(GrpcProxyTest, UnknownMethodIsTheBackendsUnimplemented) {
  auto run = [&]() -> Task<absl::Status> {
    co_return (
        co_await CallGenericUnary(generic_.get(), "/fanout.lab.v1.Lab/NoSuchMethod", Bytes()))
        .status();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kUnimplemented));
}

TEST_F(GrpcProxyTest, BackendDownIsUnavailable) {
  // Port 1: nothing listens there, and no other test can take it meanwhile.
  grpc::GenericStub dead(Channel(1));

  Server proxy({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1});
  grpc::AsyncGenericService service;
  proxy.RegisterGenericService(&service);
  ASSERT_THAT(proxy.Start(), IsOk());
  proxy.ServeGeneric(&service, [&](GenericCall& call) { return ProxyCall(call, &dead, options_); });
  auto stub = Lab::NewStub(Channel(proxy.port()));
  auto run = [&]() -> Task<absl::StatusOr<EchoResponse>> {
    co_return co_await CallUnary(stub.get(), &Lab::Stub::PrepareAsyncEcho, Req("x"));
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kUnavailable));
  proxy.Shutdown(absl::Seconds(1));
}

TEST_F(GrpcProxyTest, ARouteTimeoutAroundProxyCallCapsTheDeadline) {
  Server capped({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1});
  grpc::AsyncGenericService service;
  capped.RegisterGenericService(&service);
  ASSERT_THAT(capped.Start(), IsOk());
  capped.ServeGeneric(&service, [&](GenericCall& call) -> Task<absl::Status> {
    co_return co_await WithTimeout(ProxyCall(call, lab_backend_.get(), options_), absl::Seconds(1));
  });
  auto stub = Lab::NewStub(Channel(capped.port()));
  auto call = [&](EchoRequest request) -> Task<absl::StatusOr<EchoResponse>> {
    co_return co_await CallUnary(stub.get(), &Lab::Stub::PrepareAsyncEcho, request);
  };
  // The client has no deadline; the backend sees the route's.
  auto fast = Run(call(Req("fast")));
  ASSERT_THAT(fast, IsOk());
  EXPECT_GT(fast->deadline_remaining_ms(), 0);
  EXPECT_LE(fast->deadline_remaining_ms(), 1000 + 100);  // grpc-timeout's slack
  EXPECT_THAT(Run(call(Req("slow", 60000))), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() == 1; }));
  capped.Shutdown(absl::Seconds(1));
}

TEST(ReservedMetadataKeyTest, TransportAndGrpcKeysAreReserved) {
  for (const char* key :
       {"grpc-timeout", "grpc-status", ":authority", "content-type", "te", "user-agent", ""}) {
    EXPECT_TRUE(IsReservedMetadataKey(key)) << key;
  }
  for (const char* key : {"x-request-id", "authorization", "traceparent", "x-trace-bin"}) {
    EXPECT_FALSE(IsReservedMetadataKey(key)) << key;
  }
}

}  // namespace
}  // namespace fanout::gateway
