#include "gateway/http_status.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "node/base/json_string.h"

namespace fanout::gateway {
namespace {

constexpr struct {
  absl::StatusCode code;
  int http;
} kCodes[] = {
    {absl::StatusCode::kOk, 200},
    {absl::StatusCode::kCancelled, 499},
    {absl::StatusCode::kUnknown, 500},
    {absl::StatusCode::kInvalidArgument, 400},
    {absl::StatusCode::kDeadlineExceeded, 504},
    {absl::StatusCode::kNotFound, 404},
    {absl::StatusCode::kAlreadyExists, 409},
    {absl::StatusCode::kPermissionDenied, 403},
    {absl::StatusCode::kResourceExhausted, 429},
    {absl::StatusCode::kFailedPrecondition, 400},
    {absl::StatusCode::kAborted, 409},
    {absl::StatusCode::kOutOfRange, 400},
    {absl::StatusCode::kUnimplemented, 501},
    {absl::StatusCode::kInternal, 500},
    {absl::StatusCode::kUnavailable, 503},
    {absl::StatusCode::kDataLoss, 500},
    {absl::StatusCode::kUnauthenticated, 401},
};

}  // namespace

int HttpStatusFromCode(absl::StatusCode code) {
  for (const auto& entry : kCodes) {
    if (entry.code == code) return entry.http;
  }
  return 500;
}

std::string CodeName(absl::StatusCode code) { return absl::StatusCodeToString(code); }

bool ParseCodeName(absl::string_view name, absl::StatusCode* code) {
  std::string upper = absl::AsciiStrToUpper(name);
  for (const auto& entry : kCodes) {
    if (upper == CodeName(entry.code)) {
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
