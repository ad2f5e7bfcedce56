// Coroutine server calls: the per-call machinery behind Server::Serve*.
//
// A handler receives the call's ServerContext and request and returns the
// response (unary) or the final status after writing messages (streaming):
//
//   Task<absl::StatusOr<EchoResponse>> Echo(grpc::ServerContext&, const EchoRequest&);
//   Task<absl::Status> Watch(grpc::ServerContext&, const WatchRequest&,
//                            ServerStreamWriter<Event>& out);   // co_await out.Write(e)
//
// Loop-affine: each call lives on the loop it arrived on.
#pragma once

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/async_unary_call.h>

#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "node/async/spawn.h"
#include "node/base/cancellation.h"
#include "node/rpc/byte_buffer.h"
#include "node/rpc/call_telemetry.h"
#include "node/rpc/cq_op.h"
#include "node/rpc/status.h"

namespace fanout {

template <typename Service, typename Request, typename Response>
using UnaryRequestFn = void (Service::*)(grpc::ServerContext*, Request*,
                                         grpc::ServerAsyncResponseWriter<Response>*,
                                         grpc::CompletionQueue*, grpc::ServerCompletionQueue*,
                                         void*);
template <typename Service, typename Request, typename Response>
using StreamRequestFn = void (Service::*)(grpc::ServerContext*, Request*,
                                          grpc::ServerAsyncWriter<Response>*,
                                          grpc::CompletionQueue*, grpc::ServerCompletionQueue*,
                                          void*);

namespace internal {
// Request and response types of a generated AsyncService::Request<Method>
// (declared on a base class of the service).
template <typename Method>
struct MethodTraits;
template <typename S, typename Req, typename Resp>
struct MethodTraits<void (S::*)(grpc::ServerContext*, Req*, grpc::ServerAsyncResponseWriter<Resp>*,
                                grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*)> {
  using Service = S;
  using Request = Req;
  using Response = Resp;
};
template <typename S, typename Req, typename Resp>
struct MethodTraits<void (S::*)(grpc::ServerContext*, Req*, grpc::ServerAsyncWriter<Resp>*,
                                grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*)> {
  using Service = S;
  using Request = Req;
  using Response = Resp;
};
}  // namespace internal

namespace internal {
// Starts a server-side write (`start(tag)`) and waits for it. A write waits
// on the client's flow control, so a client that stops reading would hold it
// (and the task awaiting it) until the client reads or leaves, and Finish may
// not overlap it. So a task cancelled meanwhile (a route's timeout, a failed
// sibling) ends the call instead: the write then fails and the client sees
// CANCELLED. A task already cancelled writes nothing.
template <typename StartWrite>
Task<absl::Status> ServerWrite(grpc::ServerContextBase& context, StartWrite start) {
  TaskContext task = co_await CurrentContext();
  if (task.token.cancelled()) co_return task.token.reason();
  CancellationCallback on_cancel(task.token,
                                 [&context](const absl::Status&) { context.TryCancel(); });
  bool ok = co_await CqOp([&](EventLoop*, void* tag) { start(tag); });
  if (ok) co_return absl::OkStatus();
  if (task.token.cancelled()) co_return task.token.reason();
  co_return absl::CancelledError("stream closed by the client");
}
}  // namespace internal

template <typename Request, typename Response>
using UnaryHandler =
    std::function<Task<absl::StatusOr<Response>>(grpc::ServerContext&, const Request&)>;

template <typename Response>
class ServerStreamWriter {
 public:
  ServerStreamWriter(grpc::ServerContext* context, grpc::ServerAsyncWriter<Response>* writer)
      : context_(context), writer_(writer) {}
  // OK once the message is handed to gRPC; CANCELLED if the call is gone.
  // A task cancelled while its write waits on the client ends the call
  // (internal::ServerWrite).
  Task<absl::Status> Write(const Response& message) {
    return internal::ServerWrite(*context_,
                                 [this, &message](void* tag) { writer_->Write(message, tag); });
  }

 private:
  grpc::ServerContext* context_;
  grpc::ServerAsyncWriter<Response>* writer_;
};

template <typename Request, typename Response>
using StreamHandler = std::function<Task<absl::Status>(grpc::ServerContext&, const Request&,
                                                       ServerStreamWriter<Response>&)>;

// A call of any method, as bytes: the proxy path. The handler reads the
// request stream, writes responses and returns the final status (or ends the
// call itself with Finish). One Read and one Write may be outstanding at
// once, from two tasks on the call's loop.
class GenericCall {
 public:
  GenericCall() : stream_(&context_) {}
  grpc::GenericServerContext& context() { return context_; }
  const std::string& method() const { return context_.method(); }
  // The next request message; nullopt when the client has finished sending
  // or the call broke (half_closed() tells which).
  Task<std::optional<Bytes>> Read();
  // After a Read returned nullopt: true if the client ended its requests (a
  // half-close), false if the call broke first (cancelled, deadline passed,
  // connection lost). A proxy must not pass a broken stream on as complete.
  bool half_closed() const { return half_closed_; }
  // OK once handed to gRPC; CANCELLED if the call is gone. A task cancelled
  // while its write waits on the client ends the call (internal::ServerWrite).
  Task<absl::Status> Write(const grpc::ByteBuffer& message);
  // Ends the call now with `status` (and the trailing metadata added to
  // context() so far), even while a Read is outstanding: that Read then
  // returns nullopt. The first Finish wins: the server finishes a call with
  // its handler's status only if the handler did not. False if the status
  // could not be sent (the call was gone) or the call was already finished.
  // Not while a Write is outstanding.
  Task<bool> Finish(const absl::Status& status);
  // Writes `message` and ends the call OK in one batch (one trip through
  // the transport instead of two): a unary answer. Same rules as Finish.
  Task<bool> WriteAndFinish(const grpc::ByteBuffer& message);
  bool finished() const { return finished_; }

  // For the acceptor.
  grpc::GenericServerAsyncReaderWriter& stream() { return stream_; }
  internal::Signal& done() { return done_; }

 private:
  grpc::GenericServerContext context_;
  grpc::GenericServerAsyncReaderWriter stream_;
  internal::Signal done_;
  bool half_closed_ = false;
  bool finished_ = false;
};

using GenericHandler = std::function<Task<absl::Status>(GenericCall&)>;

namespace internal {

absl::Time ServerDeadline(const grpc::ServerContext& context);

// What the runtime keeps for one served call while it is answered: its
// telemetry (span, metrics into `series`, the method's), and a cancellation
// source that the call's done-notification cancels (client cancelled,
// deadline passed). The handler runs under handler_context(). A local of
// the call's coroutine rather than a coroutine of its own: every coroutine
// is a heap frame, and this is every served call's path.
//
//   TaskContext task = co_await CurrentContext();
//   ServerCallScope scope(call->context, call->done, series, task);
//   TaskContext handler_context = scope.handler_context();   // named: GCC 12 trap
//   absl::Status status = co_await Handle(...).WithContext(handler_context);
//   ... send the answer ...
//   co_await call->done;   // gRPC may still refer to the call state until then
//   scope.End(status);
//
// Loop-affine.
class ServerCallScope {
 public:
  ServerCallScope(grpc::ServerContext& context, Signal& done, const CallSeries& series,
                  const TaskContext& task);
  ~ServerCallScope();
  ServerCallScope(const ServerCallScope&) = delete;
  ServerCallScope& operator=(const ServerCallScope&) = delete;

  // The call's loop, token (cancelled with the call) and span.
  TaskContext handler_context() { return {loop_, source_.token(), telemetry_.span()}; }
  // Ends the call's span and metrics with the status it was answered with;
  // call once `done` has arrived. A client that left first (cancelled, or
  // its deadline passed) never saw that answer: the call ends with what
  // happened to it instead, so a handler's reply to a caller already gone
  // (an INVALID_ARGUMENT for a request message that never came) is not
  // counted as the caller's fault.
  void End(const absl::Status& answered);

 private:
  void CancelIfGone();
  // Why the client left: its deadline passed, or it cancelled.
  absl::Status GoneStatus() const;

  grpc::ServerContext& context_;
  Signal& done_;
  EventLoop* loop_;
  ServerCallTelemetry telemetry_;
  CancellationSource source_;
};

// Accepts calls on `loop` one after another until the server shuts down:
// `request(call, loop, tag)` asks gRPC for the next call into a fresh `Call`
// (after registering its done-notification); each accepted call is served
// by `serve(call)` in a task of its own, so calls run concurrently.
template <typename Call, typename RequestFn, typename ServeFn>
Task<absl::Status> AcceptLoop(EventLoop* loop, RequestFn request, ServeFn serve) {
  for (;;) {
    auto call = std::make_unique<Call>();
    bool ok = co_await CqOp([&](EventLoop* l, void* tag) { request(*call, l, tag); });
    if (!ok) co_return absl::OkStatus();  // The server is shutting down.
    Spawn(*loop, serve(std::move(call)), "server call");
  }
}

// The state of one typed call: context, request, responder, done-signal.
template <typename Request, typename Responder>
struct TypedCall {
  grpc::ServerContext context;
  Request request;
  Responder responder{&context};
  Signal done;
};

template <typename Service, typename Request, typename Responder>
auto RequestTyped(Service* service, void (Service::*method)(grpc::ServerContext*, Request*,
                                                            Responder*, grpc::CompletionQueue*,
                                                            grpc::ServerCompletionQueue*, void*)) {
  return [service, method](TypedCall<Request, Responder>& call, EventLoop* loop, void* tag) {
    call.context.AsyncNotifyWhenDone(static_cast<Completion*>(&call.done));
    (service->*method)(&call.context, &call.request, &call.responder, loop->cq(), loop->server_cq(),
                       tag);
  };
}

// One call's coroutine owns the call state and the handler: it may outlive
// the acceptor (calls still finishing while the server shuts down).
template <typename Request, typename Response>
Task<absl::Status> ServeUnaryCall(
    std::unique_ptr<TypedCall<Request, grpc::ServerAsyncResponseWriter<Response>>> call,
    std::shared_ptr<UnaryHandler<Request, Response>> handler) {
  TaskContext task = co_await CurrentContext();
  ServerCallScope scope(call->context, call->done,
                        TypedCallSeries<Request, Response, false, /*kServer=*/true>(), task);
  TaskContext handler_context = scope.handler_context();
  absl::StatusOr<Response> response =
      co_await (*handler)(call->context, call->request).WithContext(handler_context);
  co_await CqOp([&](EventLoop*, void* tag) {
    if (response.ok())
      call->responder.Finish(*response, grpc::Status::OK, tag);
    else
      call->responder.FinishWithError(ToGrpcStatus(response.status()), tag);
  });
  co_await call->done;
  scope.End(response.status());
  co_return absl::OkStatus();
}

template <typename Request, typename Response>
Task<absl::Status> ServeStreamCall(
    std::unique_ptr<TypedCall<Request, grpc::ServerAsyncWriter<Response>>> call,
    std::shared_ptr<StreamHandler<Request, Response>> handler) {
  TaskContext task = co_await CurrentContext();
  ServerCallScope scope(call->context, call->done,
                        TypedCallSeries<Request, Response, true, /*kServer=*/true>(), task);
  TaskContext handler_context = scope.handler_context();
  ServerStreamWriter<Response> out(&call->context, &call->responder);
  absl::Status status =
      co_await (*handler)(call->context, call->request, out).WithContext(handler_context);
  co_await CqOp([&](EventLoop*, void* tag) { call->responder.Finish(ToGrpcStatus(status), tag); });
  co_await call->done;
  scope.End(status);
  co_return absl::OkStatus();
}

template <typename Service, typename Request, typename Response>
Task<absl::Status> AcceptUnary(EventLoop* loop, Service* service,
                               UnaryRequestFn<Service, Request, Response> method,
                               std::shared_ptr<UnaryHandler<Request, Response>> handler) {
  using Call = TypedCall<Request, grpc::ServerAsyncResponseWriter<Response>>;
  return AcceptLoop<Call>(loop, RequestTyped(service, method), [handler](std::unique_ptr<Call> c) {
    return ServeUnaryCall(std::move(c), handler);
  });
}

template <typename Service, typename Request, typename Response>
Task<absl::Status> AcceptServerStream(EventLoop* loop, Service* service,
                                      StreamRequestFn<Service, Request, Response> method,
                                      std::shared_ptr<StreamHandler<Request, Response>> handler) {
  using Call = TypedCall<Request, grpc::ServerAsyncWriter<Response>>;
  return AcceptLoop<Call>(loop, RequestTyped(service, method), [handler](std::unique_ptr<Call> c) {
    return ServeStreamCall(std::move(c), handler);
  });
}

Task<absl::Status> AcceptGeneric(EventLoop* loop, grpc::AsyncGenericService* service,
                                 std::shared_ptr<GenericHandler> handler);

}  // namespace internal
}  // namespace fanout
