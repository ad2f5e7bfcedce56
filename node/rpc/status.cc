#include "node/rpc/status.h"

#include <string>

#include "absl/strings/cord.h"

namespace fanout {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  auto code = static_cast<grpc::StatusCode>(status.code());
  auto details = status.GetPayload(kGrpcStatusDetailsUrl);  // absl::optional<absl::Cord>
  if (!details) return grpc::Status(code, std::string(status.message()));
  return grpc::Status(code, std::string(status.message()), std::string(*details));
}

absl::Status ToAbslStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  int code = status.error_code();
  absl::Status converted =
      code < 0 || code > static_cast<int>(absl::StatusCode::kUnauthenticated)
          ? absl::UnknownError(status.error_message())
          : absl::Status(static_cast<absl::StatusCode>(code), status.error_message());
  if (!status.error_details().empty()) {
    converted.SetPayload(kGrpcStatusDetailsUrl, absl::Cord(status.error_details()));
  }
  return converted;
}

}  // namespace fanout
