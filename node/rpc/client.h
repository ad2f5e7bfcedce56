// Awaitable gRPC client calls.
//
//   lab::v1::EchoRequest request;
//   absl::StatusOr<lab::v1::EchoResponse> reply =
//       co_await CallUnary(stub.get(), &lab::v1::Lab::Stub::PrepareAsyncEcho, request);
//
//   ServerStreamCall<lab::v1::EchoResponse> stream(stub.get(), &Lab::Stub::PrepareAsyncStream,
//   req); while (true) {
//     FANOUT_CO_ASSIGN_OR_RETURN(auto message, co_await stream.Read());
//     if (!message) break;  // ended OK
//   }
//
// Every call runs on the current task's loop and carries its context: the
// gRPC deadline is the earlier of CallOptions::deadline and the task's
// deadline (so a backend sees the budget that remains), and cancelling the
// task cancels the call (ClientContext::TryCancel). A call cut short by the
// task's cancellation returns the cancellation reason.
//
// A channel (and its stub) is thread-safe and shared by all loops.
// Loop-affine: the calls themselves.
#pragma once

#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/async_unary_call.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "node/async/task.h"
#include "node/rpc/byte_buffer.h"
#include "node/rpc/call_telemetry.h"
#include "node/rpc/cq_op.h"
#include "node/rpc/status.h"

namespace fanout {

// The metadata a server sent with its answer.
struct ServerMetadata {
  std::vector<std::pair<std::string, std::string>> initial;
  std::vector<std::pair<std::string, std::string>> trailing;
};

// gRPC's metadata (a multimap of views) as owned key/value pairs.
std::vector<std::pair<std::string, std::string>> MetadataPairs(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata);

// OK if gRPC can send `key: value` as metadata: a key of 0-9 a-z - _ . and,
// unless the key ends in -bin (binary), a value of printable ASCII (0x20 to
// 0x7E). gRPC 1.51 aborts the process on anything else, so a value taken
// from a caller (an HTTP header) must pass this first. INVALID_ARGUMENT
// naming the key and the offending byte.
absl::Status CheckMetadata(std::string_view key, std::string_view value);

struct CallOptions {
  absl::Time deadline = absl::InfiniteFuture();
  std::vector<std::pair<std::string, std::string>> metadata;
  bool wait_for_ready = false;
  // Added to the call's client span (which backend, which attempt, a hedge).
  std::vector<std::pair<std::string, std::string>> span_attributes;
  // Unary calls: when set, filled with the server's metadata once the call
  // ends with the server's answer (not when this side cancelled it). Must
  // outlive the call.
  ServerMetadata* server_metadata = nullptr;
};

namespace internal {

// Fills `context` from the options and the task's deadline. A traced call
// sends its own traceparent, not one found in the options' metadata.
// Metadata that fails CheckMetadata is left out rather than sent (gRPC
// would abort).
void PrepareClientContext(const CallOptions& options, const TaskContext& task,
                          const ClientCallTelemetry& telemetry, grpc::ClientContext* context);
// The status a finished call reports, preferring the task's cancellation
// reason when the call was cancelled because of it.
absl::Status CallStatus(const grpc::Status& status, const TaskContext& task);
void CopyServerMetadata(const grpc::ClientContext& context, ServerMetadata* out);

// Where a unary call's reply is read into.
template <typename Response>
Response* ReplyTarget(Response& response) {
  return &response;
}
inline grpc::ByteBuffer* ReplyTarget(Bytes& response) { return &response.buffer(); }

// `series` names the call in telemetry (its method's, client side).
template <typename Response, typename Prepare>
Task<absl::StatusOr<Response>> RunUnary(const CallSeries& series, Prepare prepare,
                                        CallOptions options) {
  TaskContext task = co_await CurrentContext();
  if (task.token.cancelled()) co_return task.token.reason();
  if (!task.loop->accepting_operations())
    co_return absl::UnavailableError("event loop is stopping");
  grpc::ClientContext context;
  ClientCallTelemetry telemetry(series, task, options.span_attributes, &context);
  PrepareClientContext(options, task, telemetry, &context);
  auto reader = prepare(&context, task.loop->cq());
  reader->StartCall();
  Response response;
  grpc::Status status;
  CancellationCallback on_cancel(task.token, [&](const absl::Status&) { context.TryCancel(); });
  bool ok = co_await CqOp(
      [&](EventLoop*, void* tag) { reader->Finish(ReplyTarget(response), &status, tag); });
  absl::Status result =
      ok ? CallStatus(status, task) : absl::InternalError("unary call did not finish");
  telemetry.End(result, context);
  if (options.server_metadata && ok && !task.token.cancelled()) {
    CopyServerMetadata(context, options.server_metadata);
  }
  if (!result.ok()) co_return result;
  co_return std::move(response);
}

}  // namespace internal

// A unary call through a generated stub's PrepareAsync<Method>.
template <typename Stub, typename Request, typename Response>
Task<absl::StatusOr<Response>> CallUnary(
    Stub* stub,
    std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> (Stub::*prepare)(
        grpc::ClientContext*, const Request&, grpc::CompletionQueue*),
    Request request, CallOptions options = {}) {
  // The task is lazy: it owns its request, so a temporary can be passed.
  return internal::RunUnary<Response>(
      internal::TypedCallSeries<Request, Response, false, /*kServer=*/false>(),
      [stub, prepare, request = std::move(request)](grpc::ClientContext* context,
                                                    grpc::CompletionQueue* cq) {
        return (stub->*prepare)(context, request, cq);
      },
      std::move(options));
}

// A unary call by method path ("/pkg.Service/Method") with serialized bytes:
// the proxy path.
Task<absl::StatusOr<Bytes>> CallGenericUnary(grpc::GenericStub* stub, std::string method,
                                             Bytes request, CallOptions options = {});

// A server-streaming call read as an async sequence. Read to the end (nullopt)
// or an error, or Cancel(); destroying it earlier cancels the call.
template <typename Response>
class ServerStreamCall {
 public:
  template <typename Stub, typename Request>
  ServerStreamCall(Stub* stub,
                   std::unique_ptr<grpc::ClientAsyncReader<Response>> (Stub::*prepare)(
                       grpc::ClientContext*, const Request&, grpc::CompletionQueue*),
                   const Request& request, CallOptions options = {})
      : series_(internal::TypedCallSeries<Request, Response, true, /*kServer=*/false>()),
        options_(std::move(options)) {
    start_ = [stub, prepare, request](grpc::ClientContext* c, grpc::CompletionQueue* cq) {
      return (stub->*prepare)(c, request, cq);
    };
  }
  ~ServerStreamCall() {
    if (reader_ && !finished_) context_.TryCancel();
  }

  // The next message; nullopt when the stream ended OK. Each read watches
  // the cancellation of the task that awaits it (different tasks may read).
  Task<absl::StatusOr<std::optional<Response>>> Read() {
    if (finished_) {
      if (!final_status_.ok()) co_return final_status_;
      co_return std::optional<Response>(std::nullopt);
    }
    TaskContext task = co_await CurrentContext();
    if (task.token.cancelled()) co_return task.token.reason();
    if (!reader_) {
      absl::Status started = co_await Start(task);
      if (!started.ok()) co_return started;
    }
    Response message;
    bool ok;
    {
      CancellationCallback on_cancel(task.token,
                                     [this](const absl::Status&) { context_.TryCancel(); });
      ok = co_await internal::CqOp([&](EventLoop*, void* tag) { reader_->Read(&message, tag); });
    }
    if (ok) co_return std::optional<Response>(std::move(message));
    co_await Finish(task);
    if (!final_status_.ok()) co_return final_status_;
    co_return std::optional<Response>(std::nullopt);
  }

  // Cancels the call and waits until gRPC has released it.
  Task<absl::Status> Cancel() {
    if (!reader_ || finished_) co_return final_status_;
    context_.TryCancel();
    co_await Finish(co_await CurrentContext());
    co_return final_status_;
  }

 private:
  // Starting needs the loop's queue, known only inside a task. The deadline
  // is the first reader's.
  Task<absl::Status> Start(TaskContext task) {
    if (!task.loop->accepting_operations()) {
      co_return absl::UnavailableError("event loop is stopping");
    }
    telemetry_.emplace(series_, task, options_.span_attributes, &context_);
    internal::PrepareClientContext(options_, task, *telemetry_, &context_);
    reader_ = start_(&context_, task.loop->cq());
    bool started;
    {
      CancellationCallback on_cancel(task.token,
                                     [this](const absl::Status&) { context_.TryCancel(); });
      started = co_await internal::CqOp([&](EventLoop*, void* tag) { reader_->StartCall(tag); });
    }
    if (started) co_return absl::OkStatus();
    co_await Finish(task);
    co_return final_status_;
  }

  // `task`: the awaiting task, whose cancellation explains a CANCELLED end.
  Task<void> Finish(TaskContext task) {
    grpc::Status status;
    co_await internal::CqOp([&](EventLoop*, void* tag) { reader_->Finish(&status, tag); });
    finished_ = true;
    final_status_ = internal::CallStatus(status, task);
    telemetry_->End(final_status_, context_);
  }

  const internal::CallSeries& series_;
  CallOptions options_;
  std::function<std::unique_ptr<grpc::ClientAsyncReader<Response>>(grpc::ClientContext*,
                                                                   grpc::CompletionQueue*)>
      start_;
  grpc::ClientContext context_;
  std::optional<internal::ClientCallTelemetry> telemetry_;  // From the start of the call.
  std::unique_ptr<grpc::ClientAsyncReader<Response>> reader_;
  bool finished_ = false;
  absl::Status final_status_;
};

}  // namespace fanout
