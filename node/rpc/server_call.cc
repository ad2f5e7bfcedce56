#include "node/rpc/server_call.h"

#include <grpc/grpc.h>

#include <chrono>

#include "absl/time/clock.h"
#include "node/base/log.h"

namespace fanout {
namespace internal {

absl::Time ServerDeadline(const grpc::ServerContext& context) {
  absl::Time deadline = absl::FromChrono(context.deadline());
  // gRPC reports "no deadline" as a far-future time point.
  if (deadline - absl::Now() > absl::Hours(24 * 365)) return absl::InfiniteFuture();
  return deadline;
}

ServerCallScope::ServerCallScope(grpc::ServerContext& context, Signal& done,
                                 const CallSeries& series, const TaskContext& task)
    : context_(context),
      done_(done),
      loop_(task.loop),
      telemetry_(series, context),
      source_(task.token, ServerDeadline(context)) {
  // Server shutdown past its grace period cancels the call through gRPC too.
  if (done_.arrived()) CancelIfGone();
  done_.set_on_arrival([this] { CancelIfGone(); });
}

ServerCallScope::~ServerCallScope() { done_.set_on_arrival(nullptr); }

void ServerCallScope::CancelIfGone() {
  bool cancelled = context_.IsCancelled();
  FANOUT_LOG(DEBUG) << "server call done-notification: cancelled=" << cancelled;
  if (!cancelled) return;
  source_.Cancel(GoneStatus());
}

absl::Status ServerCallScope::GoneStatus() const {
  return absl::Now() >= source_.deadline()
             ? absl::DeadlineExceededError("the call's deadline passed")
             : absl::CancelledError("the client cancelled the call");
}

void ServerCallScope::End(const absl::Status& answered) {
  // IsCancelled() is meaningful once the done-notification has arrived.
  bool gone = done_.arrived() && context_.IsCancelled();
  if (gone && answered.code() != absl::StatusCode::kCancelled &&
      answered.code() != absl::StatusCode::kDeadlineExceeded) {
    telemetry_.End(GoneStatus());
    return;
  }
  telemetry_.End(answered);
}

namespace {
Task<absl::Status> ServeGenericCall(std::unique_ptr<GenericCall> call,
                                    std::shared_ptr<GenericHandler> handler) {
  TaskContext task = co_await CurrentContext();
  ServerCallScope scope(call->context(), call->done(), CallSeries::Server(call->method()), task);
  TaskContext handler_context = scope.handler_context();
  absl::Status status = co_await (*handler)(*call).WithContext(handler_context);
  co_await call->Finish(status).WithContext(handler_context);
  Signal& done = call->done();  // Awaited by name: GCC 12 copies a call's result.
  co_await done;
  scope.End(status);
  co_return absl::OkStatus();
}
}  // namespace

Task<absl::Status> AcceptGeneric(EventLoop* loop, grpc::AsyncGenericService* service,
                                 std::shared_ptr<GenericHandler> handler) {
  auto request = [service](GenericCall& call, EventLoop* l, void* tag) {
    call.context().AsyncNotifyWhenDone(static_cast<Completion*>(&call.done()));
    service->RequestCall(&call.context(), &call.stream(), l->cq(), l->server_cq(), tag);
  };
  return AcceptLoop<GenericCall>(loop, request, [handler](std::unique_ptr<GenericCall> c) {
    return ServeGenericCall(std::move(c), handler);
  });
}

}  // namespace internal

Task<std::optional<Bytes>> GenericCall::Read() {
  Bytes message;
  bool ok =
      co_await internal::CqOp([&](EventLoop*, void* tag) { stream_.Read(&message.buffer(), tag); });
  if (!ok) {
    // gRPC reports both ends as a failed read; only the core call knows which.
    half_closed_ = grpc_call_failed_before_recv_message(context_.c_call()) == 0;
    co_return std::nullopt;
  }
  co_return std::move(message);
}

Task<absl::Status> GenericCall::Write(const grpc::ByteBuffer& message) {
  return internal::ServerWrite(context_,
                               [this, &message](void* tag) { stream_.Write(message, tag); });
}

Task<bool> GenericCall::Finish(const absl::Status& status) {
  if (finished_) co_return false;
  finished_ = true;
  grpc::Status wire = ToGrpcStatus(status);
  co_return co_await internal::CqOp([&](EventLoop*, void* tag) { stream_.Finish(wire, tag); });
}

Task<bool> GenericCall::WriteAndFinish(const grpc::ByteBuffer& message) {
  if (finished_) co_return false;
  finished_ = true;
  co_return co_await internal::CqOp([&](EventLoop*, void* tag) {
    stream_.WriteAndFinish(message, grpc::WriteOptions(), grpc::Status::OK, tag);
  });
}

}  // namespace fanout
