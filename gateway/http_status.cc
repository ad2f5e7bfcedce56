#include "gateway/http_status.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/json_value.h"

namespace fanout::gateway {
namespace {

constexpr struct {
  absl::StatusCode code;
  int http;
  const char* name;
} kCodes[] = {
    {absl::StatusCode::kOk, 200, "OK"},
    {absl::StatusCode::kCancelled, 499, "CANCELLED"},
    {absl::StatusCode::kUnknown, 500, "UNKNOWN"},
    {absl::StatusCode::kInvalidArgument, 400, "INVALID_ARGUMENT"},
    {absl::StatusCode::kDeadlineExceeded, 504, "DEADLINE_EXCEEDED"},
    {absl::StatusCode::kNotFound, 404, "NOT_FOUND"},
    {absl::StatusCode::kAlreadyExists, 409, "ALREADY_EXISTS"},
    {absl::StatusCode::kPermissionDenied, 403, "PERMISSION_DENIED"},
    {absl::StatusCode::kResourceExhausted, 429, "RESOURCE_EXHAUSTED"},
    {absl::StatusCode::kFailedPrecondition, 400, "FAILED_PRECONDITION"},
    {absl::StatusCode::kAborted, 409, "ABORTED"},
    {absl::StatusCode::kOutOfRange, 400, "OUT_OF_RANGE"},
    {absl::StatusCode::kUnimplemented, 501, "UNIMPLEMENTED"},
    {absl::StatusCode::kInternal, 500, "INTERNAL"},
    {absl::StatusCode::kUnavailable, 503, "UNAVAILABLE"},
    {absl::StatusCode::kDataLoss, 500, "DATA_LOSS"},
    {absl::StatusCode::kUnauthenticated, 401, "UNAUTHENTICATED"},
};

}  // namespace

int HttpStatusFromCode(absl::StatusCode code) {
  for (const auto& entry : kCodes) {
    if (entry.code == code) return entry.http;
  }
  return 500;
}

std::string CodeName(absl::StatusCode code) {
  for (const auto& entry : kCodes) {
    if (entry.code == code) return entry.name;
  }
  return absl::StrCat("CODE_", static_cast<int>(code));
}

bool ParseCodeName(absl::string_view name, absl::StatusCode* code) {
  std::string upper = absl::AsciiStrToUpper(name);
  for (const auto& entry : kCodes) {
    if (upper == entry.name) {
      *code = entry.code;
      return true;
    }
  }
  return false;
}

std::string ErrorJson(const absl::Status& status) {
  std::string message;
  AppendJsonString(status.message(), &message);
  return absl::StrCat("{\"code\":", static_cast<int>(status.code()), ",\"status\":\"",
                      CodeName(status.code()), "\",\"message\":", message, ",\"details\":[]}\n");
}

}  // namespace fanout::gateway
