#include "node/rpc/generic_stream.h"

#include <grpcpp/support/slice.h>

#include <utility>

#include "node/rpc/cq_op.h"

namespace fanout {

GenericClientStream::GenericClientStream(grpc::GenericStub* stub, std::string method,
                                         CallOptions options)
    : stub_(stub), method_(std::move(method)), options_(std::move(options)) {}

GenericClientStream::~GenericClientStream() {
  if (stream_ != nullptr && !finished_) context_.TryCancel();
}

void GenericClientStream::OnCancelled(const absl::Status& reason) {
  if (cancelled_by_.ok()) cancelled_by_ = reason;
  context_.TryCancel();
}

template <typename StartOp>
Task<bool> GenericClientStream::Step(StartOp start) {
  TaskContext task = co_await CurrentContext();
  // A callback is not registered on a token that is already cancelled: the
  // step then still runs, on a call cancelled first, and fails at once.
  if (task.token.cancelled()) OnCancelled(task.token.reason());
  CancellationCallback on_cancel(task.token,
                                 [this](const absl::Status& reason) { OnCancelled(reason); });
  co_return co_await internal::CqOp([&](EventLoop*, void* tag) { start(tag); });
}

Task<absl::Status> GenericClientStream::Start() {
  if (stream_ != nullptr || finished_) {
    co_return absl::FailedPreconditionError(method_ + ": Start() called twice");
  }
  TaskContext task = co_await CurrentContext();
  if (task.token.cancelled() || !task.loop->accepting_operations()) {
    finished_ = true;
    final_status_ = task.token.cancelled() ? task.token.reason()
                                           : absl::UnavailableError("event loop is stopping");
    co_return final_status_;
  }
  telemetry_.emplace(internal::CallSeries::Client(method_), task, options_.span_attributes,
                     &context_);
  internal::PrepareClientContext(options_, task, *telemetry_, &context_);
  stream_ = stub_->PrepareCall(&context_, method_, task.loop->cq());
  bool started = co_await Step([this](void* tag) { stream_->StartCall(tag); });
  if (started) co_return absl::OkStatus();
  co_return co_await Finish();
}

Task<bool> GenericClientStream::Write(const grpc::ByteBuffer& message) {
  if (stream_ == nullptr || finished_) co_return false;
  if (!message.Valid()) {
    // A default ByteBuffer holds no buffer at all, and gRPC would silently
    // send nothing: send it as the empty message it stands for.
    grpc::Slice nothing;
    grpc::ByteBuffer empty(&nothing, 1);
    co_return co_await Step([&](void* tag) { stream_->Write(empty, tag); });
  }
  co_return co_await Step([&](void* tag) { stream_->Write(message, tag); });
}

Task<bool> GenericClientStream::WritesDone() {
  if (stream_ == nullptr || finished_) co_return false;
  co_return co_await Step([this](void* tag) { stream_->WritesDone(tag); });
}

Task<std::optional<Bytes>> GenericClientStream::Read() {
  if (stream_ == nullptr || finished_) co_return std::nullopt;
  Bytes message;
  bool ok = co_await Step([&](void* tag) { stream_->Read(&message.buffer(), tag); });
  if (!ok) co_return std::nullopt;
  co_return std::move(message);
}

Task<absl::Status> GenericClientStream::Finish() {
  if (finished_) co_return final_status_;
  if (stream_ == nullptr) {
    co_return absl::FailedPreconditionError(method_ + ": Finish() before Start()");
  }
  TaskContext task = co_await CurrentContext();
  grpc::Status status;
  bool ok = co_await Step([&](void* tag) { stream_->Finish(&status, tag); });
  // Not finished: the destructor cancels the call.
  if (!ok) co_return absl::UnavailableError(method_ + ": event loop is stopping");
  finished_ = true;
  if (status.error_code() == grpc::StatusCode::CANCELLED && !cancelled_by_.ok()) {
    final_status_ = cancelled_by_;
  } else {
    final_status_ = internal::CallStatus(status, task);
  }
  telemetry_->End(final_status_, context_);
  co_return final_status_;
}

}  // namespace fanout
