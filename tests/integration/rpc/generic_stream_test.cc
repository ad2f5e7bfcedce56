// GenericClientStream against real gRPC servers on 127.0.0.1:0: the Lab
// backend's unary and server-streaming methods called as bidi byte streams,
// and a generic echo server for concurrent reads and writes.
#include "node/rpc/generic_stream.h"

#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "fanout/lab/v1/lab.grpc.pb.h"
#include "node/async/sleep.h"
#include "node/async/task_group.h"
#include "node/async/with_deadline.h"
#include "node/base/status_macros.h"
#include "node/base/sync.h"
#include "node/rpc/byte_buffer.h"
#include "node/rpc/server.h"
#include "services/lab/lab_service.h"
#include "tests/support/eventually.h"
#include "tests/support/status_matchers.h"

namespace fanout {
namespace {

using ::fanout::testing::Eventually;
using ::fanout::testing::IsOk;
using ::fanout::testing::IsOkAndHolds;
using ::fanout::testing::StatusIs;
using lab::v1::EchoRequest;
using lab::v1::EchoResponse;
using lab::v1::StreamRequest;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kEcho[] = "/fanout.lab.v1.Lab/Echo";
constexpr char kStream[] = "/fanout.lab.v1.Lab/Stream";
constexpr char kBidiEcho[] = "/test.v1.Echo/Bidi";
constexpr char kFlood[] = "/test.v1.Echo/Flood";  // writes until its timeout
constexpr int kFloodMessages = 256;               // of 64 KB: 16 MB

Bytes Serialized(const google::protobuf::Message& message) { return *ToByteBuffer(message); }

EchoRequest Req(std::string message, int64_t delay_ms = 0) {
  EchoRequest r;
  r.set_message(std::move(message));
  r.set_delay_ms(delay_ms);
  return r;
}

absl::StatusOr<EchoResponse> Parse(const grpc::ByteBuffer& bytes) {
  EchoResponse response;
  FANOUT_RETURN_IF_ERROR(FromByteBuffer(bytes, &response));
  return response;
}

std::string Metadata(const std::multimap<grpc::string_ref, grpc::string_ref>& map,
                     const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? "" : std::string(it->second.data(), it->second.size());
}

// Sends `request`, half-closes, reads every reply and finishes.
Task<absl::StatusOr<std::vector<EchoResponse>>> CallToEnd(GenericClientStream& stream,
                                                          Bytes request) {
  FANOUT_CO_RETURN_IF_ERROR(co_await stream.Start());
  if (co_await stream.Write(request)) co_await stream.WritesDone();
  std::vector<EchoResponse> replies;
  while (std::optional<Bytes> bytes = co_await stream.Read()) {
    FANOUT_CO_ASSIGN_OR_RETURN(EchoResponse reply, Parse(*bytes));
    replies.push_back(std::move(reply));
  }
  FANOUT_CO_RETURN_IF_ERROR(co_await stream.Finish());
  co_return replies;
}

class GenericStreamTest : public ::testing::Test {
 protected:
  GenericStreamTest()
      : server_({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 2}),
        echo_server_({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1}),
        lab_({.name = "lab"}) {
    lab_.Register(server_);
    EXPECT_THAT(server_.Start(), IsOk());
    lab_.Serve(server_);
    echo_server_.RegisterGenericService(&echo_service_);
    EXPECT_THAT(echo_server_.Start(), IsOk());
    echo_server_.ServeGeneric(&echo_service_, [this](GenericCall& call) {
      return call.method() == kFlood ? Flood(call) : BidiEcho(call);
    });
    lab_stub_ = std::make_unique<grpc::GenericStub>(Channel(server_.port()));
    echo_stub_ = std::make_unique<grpc::GenericStub>(Channel(echo_server_.port()));
  }
  ~GenericStreamTest() override {
    echo_server_.Shutdown(absl::Seconds(1));
    server_.Shutdown(absl::Seconds(1));
  }

  static std::shared_ptr<grpc::Channel> Channel(int port) {
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                               grpc::InsecureChannelCredentials());
  }

  // Echoes every message as it comes, with metadata both ways.
  static Task<absl::Status> BidiEcho(GenericCall& call) {
    if (call.method() != kBidiEcho) co_return absl::UnimplementedError(call.method());
    call.context().AddInitialMetadata("x-initial", "hello");
    call.context().AddTrailingMetadata("x-trailing", "bye");
    while (std::optional<Bytes> message = co_await call.Read()) {
      FANOUT_CO_RETURN_IF_ERROR(co_await call.Write(*message));
    }
    co_return absl::OkStatus();
  }

  // Writes 64 KB messages under a 1 s timeout, to a client that does not
  // read: the client's flow control stalls a write, and the timeout has to
  // end it.
  Task<absl::Status> Flood(GenericCall& call) {
    auto flood = [&]() -> Task<absl::Status> {
      EchoResponse chunk;
      chunk.set_payload(std::string(64 * 1024, 'x'));
      Bytes bytes = Serialized(chunk);
      for (int i = 0; i < kFloodMessages; ++i) {
        FANOUT_CO_RETURN_IF_ERROR(co_await call.Write(bytes));
      }
      co_return absl::FailedPreconditionError("the client's flow control never pushed back");
    };
    absl::Status ended = co_await WithTimeout(flood(), absl::Seconds(1));
    MutexLock lock(&mu_);
    flood_end_ = ended;
    co_return ended;
  }
  std::optional<absl::Status> flood_end() {
    MutexLock lock(&mu_);
    return flood_end_;
  }

  template <typename T>
  T Run(Task<T> task) {
    return BlockOn(server_.loops().At(0), std::move(task));
  }
  Mutex mu_;
  std::optional<absl::Status> flood_end_ ABSL_GUARDED_BY(mu_);
  Server server_;
  Server echo_server_;
  grpc::AsyncGenericService echo_service_;
  lab::LabService lab_;
  std::unique_ptr<grpc::GenericStub> lab_stub_;
  std::unique_ptr<grpc::GenericStub> echo_stub_;
};

TEST_F(GenericStreamTest, UnaryMethodAsAStream) {
  auto run = [&]() -> Task<absl::StatusOr<std::vector<EchoResponse>>> {
    GenericClientStream stream(lab_stub_.get(), kEcho);
    co_return co_await CallToEnd(stream, Serialized(Req("hi")));
  };
  auto replies = Run(run());
  ASSERT_THAT(replies, IsOk());
  ASSERT_EQ(replies->size(), 1u);
  EXPECT_EQ((*replies)[0].message(), "hi");
  EXPECT_EQ((*replies)[0].served_by(), "lab");
}

TEST_F(GenericStreamTest, ServerStreamingMethodReadsEveryMessageInOrder) {
  auto run = [&]() -> Task<absl::StatusOr<std::vector<int>>> {
    StreamRequest request;
    request.set_count(5);
    request.set_interval_ms(1);
    GenericClientStream stream(lab_stub_.get(), kStream);
    FANOUT_CO_ASSIGN_OR_RETURN(auto replies, co_await CallToEnd(stream, Serialized(request)));
    std::vector<int> indexes;
    for (const auto& reply : replies) indexes.push_back(reply.index());
    co_return indexes;
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(ElementsAre(0, 1, 2, 3, 4)));
}

TEST_F(GenericStreamTest, ServerErrorsComeFromFinish) {
  auto run = [&]() -> Task<absl::Status> {
    EchoRequest request = Req("x");
    request.set_error_code(static_cast<int>(absl::StatusCode::kNotFound));
    request.set_error_message("no such thing");
    GenericClientStream stream(lab_stub_.get(), kEcho);
    co_return (co_await CallToEnd(stream, Serialized(request))).status();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kNotFound, "no such thing"));
}

TEST_F(GenericStreamTest, UnknownMethodIsUnimplemented) {
  auto run = [&]() -> Task<absl::Status> {
    GenericClientStream stream(lab_stub_.get(), "/no.Such/Method");
    co_return (co_await CallToEnd(stream, Bytes())).status();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kUnimplemented));
}

TEST_F(GenericStreamTest, ServerDownIsUnavailable) {
  // Port 1: nothing listens there, and no other test can take it meanwhile.
  grpc::GenericStub stub(Channel(1));
  auto run = [&]() -> Task<absl::Status> {
    GenericClientStream stream(&stub, kBidiEcho);
    co_return (co_await CallToEnd(stream, Bytes())).status();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(GenericStreamTest, ConcurrentReadAndWriteFromTwoTasks) {
  constexpr int kMessages = 50;
  auto run = [&]() -> Task<absl::StatusOr<std::vector<std::string>>> {
    GenericClientStream stream(echo_stub_.get(), kBidiEcho);
    FANOUT_CO_RETURN_IF_ERROR(co_await stream.Start());
    std::vector<std::string> received;
    auto writer = [&]() -> Task<absl::Status> {
      for (int i = 0; i < kMessages; ++i) {
        if (!co_await stream.Write(Serialized(Req(absl::StrCat(i))))) {
          co_return absl::InternalError("write failed");
        }
      }
      co_await stream.WritesDone();
      co_return absl::OkStatus();
    };
    auto reader = [&]() -> Task<absl::Status> {
      while (std::optional<Bytes> bytes = co_await stream.Read()) {
        FANOUT_CO_ASSIGN_OR_RETURN(EchoResponse echoed, Parse(*bytes));
        received.push_back(echoed.message());
      }
      co_return absl::OkStatus();
    };
    TaskGroup group(co_await CurrentContext());
    group.Spawn(writer());
    group.Spawn(reader());
    FANOUT_CO_RETURN_IF_ERROR(co_await group.Wait());
    FANOUT_CO_RETURN_IF_ERROR(co_await stream.Finish());
    if (Metadata(stream.context().GetServerInitialMetadata(), "x-initial") != "hello" ||
        Metadata(stream.context().GetServerTrailingMetadata(), "x-trailing") != "bye") {
      co_return absl::InternalError("server metadata missing");
    }
    co_return received;
  };
  auto received = Run(run());
  ASSERT_THAT(received, IsOk());
  ASSERT_EQ(received->size(), static_cast<size_t>(kMessages));
  for (int i = 0; i < kMessages; ++i) EXPECT_EQ((*received)[i], absl::StrCat(i));
}

TEST_F(GenericStreamTest, ADefaultByteBufferIsSentAsTheEmptyMessage) {
  auto run = [&]() -> Task<absl::StatusOr<size_t>> {
    GenericClientStream stream(echo_stub_.get(), kBidiEcho);
    FANOUT_CO_RETURN_IF_ERROR(co_await stream.Start());
    if (!co_await stream.Write(Bytes())) co_return absl::InternalError("write failed");
    co_await stream.WritesDone();
    std::optional<Bytes> echoed = co_await stream.Read();
    FANOUT_CO_RETURN_IF_ERROR(co_await stream.Finish());
    if (!echoed) co_return absl::InternalError("nothing came back");
    co_return echoed->Length();
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(0u));
}

TEST_F(GenericStreamTest, TaskDeadlineTravelsAsTheCallDeadline) {
  auto call = [&]() -> Task<absl::StatusOr<std::vector<EchoResponse>>> {
    GenericClientStream stream(lab_stub_.get(), kEcho);
    co_return co_await CallToEnd(stream, Serialized(Req("d")));
  };
  auto run = [&]() -> Task<absl::StatusOr<std::vector<EchoResponse>>> {
    co_return co_await WithTimeout(call(), absl::Seconds(5));
  };
  auto replies = Run(run());
  ASSERT_THAT(replies, IsOk());
  ASSERT_EQ(replies->size(), 1u);
  EXPECT_GT((*replies)[0].deadline_remaining_ms(), 0);
  // Give or take 100 ms: grpc-timeout rounds up to 10 ms and is computed
  // from gRPC's cached clock, which can lag.
  EXPECT_LE((*replies)[0].deadline_remaining_ms(), 5000 + 100);
}

TEST_F(GenericStreamTest, DeadlineExpires) {
  auto call = [&]() -> Task<absl::StatusOr<std::vector<EchoResponse>>> {
    GenericClientStream stream(lab_stub_.get(), kEcho);
    co_return co_await CallToEnd(stream, Serialized(Req("slow", 60000)));
  };
  auto run = [&]() -> Task<absl::StatusOr<std::vector<EchoResponse>>> {
    // Long enough to reach the server over a channel not yet connected.
    co_return co_await WithTimeout(call(), absl::Seconds(3));
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() == 1; }));
}

TEST_F(GenericStreamTest, CallOptionDeadlineAlsoApplies) {
  auto run = [&]() -> Task<absl::Status> {
    CallOptions options{.deadline = absl::Now() + absl::Milliseconds(200)};
    GenericClientStream stream(lab_stub_.get(), kEcho, options);
    co_return (co_await CallToEnd(stream, Serialized(Req("slow", 60000)))).status();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(GenericStreamTest, CancellingTheReadingTaskCancelsTheCall) {
  auto run = [&]() -> Task<absl::Status> {
    GenericClientStream stream(lab_stub_.get(), kEcho);
    FANOUT_CO_RETURN_IF_ERROR(co_await stream.Start());
    co_await stream.Write(Serialized(Req("slow", 60000)));
    co_await stream.WritesDone();
    auto reader = [&]() -> Task<absl::Status> {
      std::optional<Bytes> reply = co_await stream.Read();
      co_return reply ? absl::InternalError("a reply came") : absl::OkStatus();
    };
    // Fails once the server holds the call, so the cancel has somewhere to go.
    auto fail_soon = [&]() -> Task<absl::Status> {
      while (lab_.calls() == 0) co_await Sleep(absl::Milliseconds(1));
      co_return absl::AbortedError("sibling failed");
    };
    TaskGroup group(co_await CurrentContext());
    group.Spawn(reader());
    group.Spawn(fail_soon());
    absl::Status first = co_await group.Wait();
    if (!absl::IsAborted(first)) co_return absl::InternalError(first.ToString());
    // The reader's cancellation reason, not gRPC's bare CANCELLED.
    co_return co_await stream.Finish();
  };
  EXPECT_THAT(Run(run()),
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("a sibling task failed")));
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() == 1; }));
}

TEST_F(GenericStreamTest, TryCancelEndsTheCall) {
  auto run = [&]() -> Task<absl::Status> {
    GenericClientStream stream(lab_stub_.get(), kEcho);
    FANOUT_CO_RETURN_IF_ERROR(co_await stream.Start());
    co_await stream.Write(Serialized(Req("slow", 60000)));
    while (lab_.calls() == 0) co_await Sleep(absl::Milliseconds(1));
    stream.TryCancel();
    if (co_await stream.Read()) co_return absl::InternalError("a reply came");
    co_return co_await stream.Finish();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() == 1; }));
}

// A server write waits on the client's flow control; when the writing task
// is cancelled (here by its timeout), the call ends instead of waiting for a
// client that does not read.
TEST_F(GenericStreamTest, CancellingAServerWriteTheClientDoesNotReadEndsTheCall) {
  auto run = [&]() -> Task<absl::Status> {
    GenericClientStream stream(echo_stub_.get(), kFlood);
    FANOUT_CO_RETURN_IF_ERROR(co_await stream.Start());
    co_await stream.WritesDone();
    // Reads nothing until the server has stopped writing. The 20 s is a hang
    // guard, not a timing claim.
    absl::Time give_up = absl::Now() + absl::Seconds(20);
    while (!flood_end() && absl::Now() < give_up) co_await Sleep(absl::Milliseconds(5));
    bool gave_up = !flood_end();
    if (gave_up) stream.TryCancel();
    // gRPC holds a call's status behind the messages that arrived before it.
    while (co_await stream.Read()) {
    }
    absl::Status finished = co_await stream.Finish();
    if (gave_up) co_return absl::InternalError("the server's write outlived its task's timeout");
    co_return finished;
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kCancelled));
  ASSERT_TRUE(Eventually([&] { return flood_end().has_value(); }));
  EXPECT_THAT(*flood_end(), StatusIs(absl::StatusCode::kDeadlineExceeded))
      << "the server's write should end with its task's timeout, not with the client";
}

TEST_F(GenericStreamTest, DestroyingAnUnfinishedStreamCancelsIt) {
  auto run = [&]() -> Task<absl::Status> {
    GenericClientStream stream(lab_stub_.get(), kEcho);
    FANOUT_CO_RETURN_IF_ERROR(co_await stream.Start());
    co_await stream.Write(Serialized(Req("slow", 60000)));
    co_await stream.WritesDone();
    while (lab_.calls() == 0) co_await Sleep(absl::Milliseconds(1));
    co_return absl::OkStatus();
  };
  EXPECT_THAT(Run(run()), IsOk());
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() == 1; }));
}

TEST_F(GenericStreamTest, MisuseIsReported) {
  auto run = [&]() -> Task<absl::Status> {
    GenericClientStream stream(lab_stub_.get(), kEcho);
    if (co_await stream.Write(Bytes())) co_return absl::InternalError("wrote");
    if (co_await stream.Read()) co_return absl::InternalError("read");
    co_return co_await stream.Finish();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(kEcho)));
}

}  // namespace
}  // namespace fanout
