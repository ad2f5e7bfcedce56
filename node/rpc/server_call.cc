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

Task<absl::Status> RunServerCall(grpc::ServerContext& context, Signal& done,
                                 const CallSeries& series,
                                 std::function<Task<absl::Status>()> body) {
  TaskContext task = co_await CurrentContext();
  ServerCallTelemetry telemetry(series, context);
  CancellationSource source(task.token, ServerDeadline(context));
  auto cancel_if_gone = [&] {
    bool cancelled = context.IsCancelled();
    FANOUT_LOG(DEBUG) << "server call done-notification: cancelled=" << cancelled;
    if (!cancelled) return;
    source.Cancel(absl::Now() >= source.deadline()
                      ? absl::DeadlineExceededError("the call's deadline passed")
                      : absl::CancelledError("the client cancelled the call"));
  };
  if (done.arrived()) cancel_if_gone();
  done.set_on_arrival(cancel_if_gone);
  // Server shutdown past its grace period cancels the call through gRPC too.
  // Named, not a braced temporary: GCC 12 destroys aggregate temporaries in
  // a co_await expression twice (the span's count would drop twice).
  TaskContext call_context{task.loop, source.token(), telemetry.span()};
  absl::Status answered = co_await body().WithContext(call_context);
  telemetry.End(answered);
  co_await done;
  done.set_on_arrival(nullptr);
  co_return absl::OkStatus();
}

namespace {
Task<absl::Status> ServeGenericCall(std::unique_ptr<GenericCall> call,
                                    std::shared_ptr<GenericHandler> handler) {
  co_return co_await RunServerCall(call->context(), call->done(),
                                   CallSeries::Server(call->method()),
                                   [&]() -> Task<absl::Status> {
                                     absl::Status status = co_await (*handler)(*call);
                                     co_await call->Finish(status);
                                     co_return status;
                                   });
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

Task<std::optional<grpc::ByteBuffer>> GenericCall::Read() {
  grpc::ByteBuffer message;
  bool ok = co_await internal::CqOp([&](EventLoop*, void* tag) { stream_.Read(&message, tag); });
  if (!ok) {
    // gRPC reports both ends as a failed read; only the core call knows which.
    half_closed_ = grpc_call_failed_before_recv_message(context_.c_call()) == 0;
    co_return std::nullopt;
  }
  co_return message;
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
