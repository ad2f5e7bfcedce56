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
#include "node/async/task_group.h"
#include "node/async/with_deadline.h"
#include "node/base/status_macros.h"
#include "node/loop/timer.h"
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

grpc::ByteBuffer Bytes(const google::protobuf::Message& message) { return *ToByteBuffer(message); }

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
                                                          grpc::ByteBuffer request) {
  FANOUT_CO_RETURN_IF_ERROR(co_await stream.Start());
  if (co_await stream.Write(request)) co_await stream.WritesDone();
  std::vector<EchoResponse> replies;
  while (std::optional<grpc::ByteBuffer> bytes = co_await stream.Read()) {
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
    echo_server_.ServeGeneric(&echo_service_, [](GenericCall& call) { return BidiEcho(call); });
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
    while (std::optional<grpc::ByteBuffer> message = co_await call.Read()) {
      FANOUT_CO_RETURN_IF_ERROR(co_await call.Write(*message));
    }
    co_return absl::OkStatus();
  }

  template <typename T>
  T Run(Task<T> task) {
    return BlockOn(server_.loops().At(0), std::move(task));
  }
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
    co_return co_await CallToEnd(stream, Bytes(Req("hi")));
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
    FANOUT_CO_ASSIGN_OR_RETURN(auto replies, co_await CallToEnd(stream, Bytes(request)));
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
    co_return (co_await CallToEnd(stream, Bytes(request))).status();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kNotFound, "no such thing"));
}

TEST_F(GenericStreamTest, UnknownMethodIsUnimplemented) {
  auto run = [&]() -> Task<absl::Status> {
    GenericClientStream stream(lab_stub_.get(), "/no.Such/Method");
    co_return (co_await CallToEnd(stream, grpc::ByteBuffer())).status();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kUnimplemented));
}

TEST_F(GenericStreamTest, ServerDownIsUnavailable) {
  int port = echo_server_.port();
  echo_server_.Shutdown(absl::ZeroDuration());
  grpc::GenericStub stub(Channel(port));
  auto run = [&]() -> Task<absl::Status> {
    GenericClientStream stream(&stub, kBidiEcho);
    co_return (co_await CallToEnd(stream, grpc::ByteBuffer())).status();
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
        if (!co_await stream.Write(Bytes(Req(absl::StrCat(i))))) {
          co_return absl::InternalError("write failed");
        }
      }
      co_await stream.WritesDone();
      co_return absl::OkStatus();
    };
    auto reader = [&]() -> Task<absl::Status> {
      while (std::optional<grpc::ByteBuffer> bytes = co_await stream.Read()) {
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
    if (!co_await stream.Write(grpc::ByteBuffer())) co_return absl::InternalError("write failed");
    co_await stream.WritesDone();
    std::optional<grpc::ByteBuffer> echoed = co_await stream.Read();
    FANOUT_CO_RETURN_IF_ERROR(co_await stream.Finish());
    if (!echoed) co_return absl::InternalError("nothing came back");
    co_return echoed->Length();
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(0u));
}

TEST_F(GenericStreamTest, TaskDeadlineTravelsAsTheCallDeadline) {
  auto call = [&]() -> Task<absl::StatusOr<std::vector<EchoResponse>>> {
    GenericClientStream stream(lab_stub_.get(), kEcho);
    co_return co_await CallToEnd(stream, Bytes(Req("d")));
  };
  auto run = [&]() -> Task<absl::StatusOr<std::vector<EchoResponse>>> {
    co_return co_await WithTimeout(call(), absl::Seconds(5));
  };
  auto replies = Run(run());
  ASSERT_THAT(replies, IsOk());
  ASSERT_EQ(replies->size(), 1u);
  EXPECT_GT((*replies)[0].deadline_remaining_ms(), 0);
  EXPECT_LE((*replies)[0].deadline_remaining_ms(), 5005);
}

TEST_F(GenericStreamTest, DeadlineExpires) {
  auto call = [&]() -> Task<absl::StatusOr<std::vector<EchoResponse>>> {
    GenericClientStream stream(lab_stub_.get(), kEcho);
    co_return co_await CallToEnd(stream, Bytes(Req("slow", 60000)));
  };
  auto run = [&]() -> Task<absl::StatusOr<std::vector<EchoResponse>>> {
    co_return co_await WithTimeout(call(), absl::Seconds(1));
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() == 1; }));
}

TEST_F(GenericStreamTest, CallOptionDeadlineAlsoApplies) {
  auto run = [&]() -> Task<absl::Status> {
    CallOptions options{.deadline = absl::Now() + absl::Milliseconds(200)};
    GenericClientStream stream(lab_stub_.get(), kEcho, options);
    co_return (co_await CallToEnd(stream, Bytes(Req("slow", 60000)))).status();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(GenericStreamTest, CancellingTheReadingTaskCancelsTheCall) {
  auto run = [&]() -> Task<absl::Status> {
    GenericClientStream stream(lab_stub_.get(), kEcho);
    FANOUT_CO_RETURN_IF_ERROR(co_await stream.Start());
    co_await stream.Write(Bytes(Req("slow", 60000)));
    co_await stream.WritesDone();
    auto reader = [&]() -> Task<absl::Status> {
      std::optional<grpc::ByteBuffer> reply = co_await stream.Read();
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
    co_await stream.Write(Bytes(Req("slow", 60000)));
    while (lab_.calls() == 0) co_await Sleep(absl::Milliseconds(1));
    stream.TryCancel();
    if (co_await stream.Read()) co_return absl::InternalError("a reply came");
    co_return co_await stream.Finish();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() == 1; }));
}

TEST_F(GenericStreamTest, DestroyingAnUnfinishedStreamCancelsIt) {
  auto run = [&]() -> Task<absl::Status> {
    GenericClientStream stream(lab_stub_.get(), kEcho);
    FANOUT_CO_RETURN_IF_ERROR(co_await stream.Start());
    co_await stream.Write(Bytes(Req("slow", 60000)));
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
    if (co_await stream.Write(grpc::ByteBuffer())) co_return absl::InternalError("wrote");
    if (co_await stream.Read()) co_return absl::InternalError("read");
    co_return co_await stream.Finish();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(kEcho)));
}

}  // namespace
}  // namespace fanout
