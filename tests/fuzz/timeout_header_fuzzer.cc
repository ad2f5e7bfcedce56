// libFuzzer target: the REST caller's deadline headers, Request-Timeout and
// grpc-timeout (gateway/timeout_header.h). The input is "name:value"; a
// name other than grpc-timeout is read as Request-Timeout.
//
// Properties: an accepted timeout is positive; a grpc-timeout is its digits
// times its unit exactly and prints back (digits without leading zeros, the
// same unit) to the same duration; a Request-Timeout printed by
// absl::FormatDuration parses back to the same duration. A refusal is
// INVALID_ARGUMENT naming the header.
//
// Fuzz for real:  bash tests/fuzz/fuzz.sh timeout_header build 600
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gateway/timeout_header.h"
#include "tests/fuzz/fuzz_target.h"

namespace fanout::fuzz {
namespace {

[[noreturn]] void Broken(const char* what, const std::string& detail) {
  fuzz::Broken("timeout_header", what, detail);
}

absl::Duration Unit(char unit) {
  switch (unit) {
    case 'H':
      return absl::Hours(1);
    case 'M':
      return absl::Minutes(1);
    case 'S':
      return absl::Seconds(1);
    case 'm':
      return absl::Milliseconds(1);
    case 'u':
      return absl::Microseconds(1);
    default:
      return absl::Nanoseconds(1);
  }
}

void CheckGrpcTimeout(absl::string_view value, absl::Duration timeout) {
  // Accepted: 1 to 8 digits and a unit, so the product cannot overflow.
  int64_t amount = 0;
  if (!absl::SimpleAtoi(value.substr(0, value.size() - 1), &amount) || amount <= 0) {
    Broken("grpc-timeout accepted without a positive amount", std::string(value));
  }
  if (timeout != amount * Unit(value.back())) {
    Broken("grpc-timeout is not amount times unit",
           absl::StrCat(value, " -> ", absl::FormatDuration(timeout)));
  }
  std::string printed = absl::StrCat(amount, std::string(1, value.back()));
  absl::StatusOr<absl::Duration> again = gateway::ParseTimeoutHeader("grpc-timeout", printed);
  if (!again.ok() || *again != timeout) Broken("grpc-timeout does not round-trip", printed);
}

void CheckRequestTimeout(absl::string_view value, absl::Duration timeout) {
  std::string printed = absl::FormatDuration(timeout);
  absl::StatusOr<absl::Duration> again = gateway::ParseTimeoutHeader("request-timeout", printed);
  if (!again.ok() || *again != timeout) {
    Broken("Request-Timeout does not round-trip through FormatDuration",
           absl::StrCat(value, " -> ", printed));
  }
}

}  // namespace

int FuzzTimeoutHeader(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  size_t colon = input.find(':');
  if (colon == absl::string_view::npos) return 0;
  absl::string_view name = input.substr(0, colon);
  absl::string_view value = input.substr(colon + 1);
  absl::StatusOr<absl::Duration> timeout = gateway::ParseTimeoutHeader(name, value);
  if (!timeout.ok()) {
    if (timeout.status().code() != absl::StatusCode::kInvalidArgument ||
        !absl::StrContains(timeout.status().message(), name)) {
      Broken("a refusal is not INVALID_ARGUMENT naming the header", timeout.status().ToString());
    }
    return 0;
  }
  if (*timeout <= absl::ZeroDuration()) {
    Broken("an accepted timeout is not positive", absl::FormatDuration(*timeout));
  }
  if (absl::EqualsIgnoreCase(name, "grpc-timeout")) {
    CheckGrpcTimeout(value, *timeout);
  } else {
    CheckRequestTimeout(value, *timeout);
  }
  return 0;
}

}  // namespace fanout::fuzz

FANOUT_FUZZ_ENTRY(fanout::fuzz::FuzzTimeoutHeader)
