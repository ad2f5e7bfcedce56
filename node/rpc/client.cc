#include "node/rpc/client.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace fanout::internal {

void PrepareClientContext(const CallOptions& options, const TaskContext& task,
                          const ClientCallTelemetry& telemetry, grpc::ClientContext* context) {
  absl::Time deadline = std::min(options.deadline, task.token.deadline());
  if (deadline != absl::InfiniteFuture()) context->set_deadline(absl::ToChronoTime(deadline));
  for (const auto& [key, value] : options.metadata) {
    if (telemetry.traced() && (key == "traceparent" || key == "tracestate")) continue;
    context->AddMetadata(key, value);
  }
  if (options.wait_for_ready) context->set_wait_for_ready(true);
}

absl::Status CallStatus(const grpc::Status& status, const TaskContext& task) {
  if (status.ok()) return absl::OkStatus();
  if (status.error_code() == grpc::StatusCode::CANCELLED && task.token.cancelled()) {
    return task.token.reason();
  }
  return ToAbslStatus(status);
}

}  // namespace fanout::internal

namespace fanout {

Task<absl::StatusOr<grpc::ByteBuffer>> CallGenericUnary(grpc::GenericStub* stub, std::string method,
                                                        grpc::ByteBuffer request,
                                                        CallOptions options) {
  co_return co_await internal::RunUnary<grpc::ByteBuffer>(
      method, [&](grpc::ClientContext* context, grpc::CompletionQueue* cq) {
        return stub->PrepareUnaryCall(context, method, request, cq);
      },
      std::move(options));
}

}  // namespace fanout
