#include "node/rpc/client.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace fanout::internal {

void PrepareClientContext(const CallOptions& options, const TaskContext& task,
                          const ClientCallTelemetry& telemetry, grpc::ClientContext* context) {
  absl::Time deadline = std::min(options.deadline, task.token.deadline());
  if (deadline != absl::InfiniteFuture()) context->set_deadline(absl::ToChronoTime(deadline));
  for (const auto& [key, value] : options.metadata) {
    if (telemetry.traced() && (key == "traceparent" || key == "tracestate")) continue;
    if (!CheckMetadata(key, value).ok()) continue;
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

void CopyServerMetadata(const grpc::ClientContext& context, ServerMetadata* out) {
  out->initial = MetadataPairs(context.GetServerInitialMetadata());
  out->trailing = MetadataPairs(context.GetServerTrailingMetadata());
}

}  // namespace fanout::internal

namespace fanout {

absl::Status CheckMetadata(std::string_view key, std::string_view value) {
  auto key_char = [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '_' || c == '.';
  };
  if (key.empty() || !std::all_of(key.begin(), key.end(), key_char)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata key \"", absl::CHexEscape(absl::string_view(key.data(), key.size())),
                     "\": gRPC takes only 0-9 a-z - _ ."));
  }
  if (absl::EndsWith(absl::string_view(key.data(), key.size()), "-bin")) return absl::OkStatus();
  for (size_t i = 0; i < value.size(); ++i) {
    auto byte = static_cast<unsigned char>(value[i]);
    if (byte < 0x20 || byte > 0x7E) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: byte 0x%02X at %d; gRPC metadata values must be printable ASCII (0x20-0x7E)",
          std::string(key), byte, i));
    }
  }
  return absl::OkStatus();
}

std::vector<std::pair<std::string, std::string>> MetadataPairs(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(metadata.size());
  for (const auto& [key, value] : metadata) {
    out.emplace_back(std::string(key.data(), key.size()), std::string(value.data(), value.size()));
  }
  return out;
}

Task<absl::StatusOr<Bytes>> CallGenericUnary(grpc::GenericStub* stub, std::string method,
                                             Bytes request, CallOptions options) {
  co_return co_await internal::RunUnary<Bytes>(
      internal::CallSeries::Client(method),
      [&](grpc::ClientContext* context, grpc::CompletionQueue* cq) {
        return stub->PrepareUnaryCall(context, method, request, cq);
      },
      std::move(options));
}

}  // namespace fanout
