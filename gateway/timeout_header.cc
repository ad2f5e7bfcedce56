#include "gateway/timeout_header.h"

#include <cmath>
#include <cstdint>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace fanout::gateway {
namespace {

// gRPC's TimeoutValue: 1 to 8 digits, then H M S m u n.
bool ParseGrpcTimeout(absl::string_view value, absl::Duration* timeout) {
  if (value.size() < 2 || value.size() > 9) return false;
  int64_t amount = 0;
  absl::string_view digits = value.substr(0, value.size() - 1);
  if (!absl::c_all_of(digits, absl::ascii_isdigit) || !absl::SimpleAtoi(digits, &amount)) {
    return false;
  }
  switch (value.back()) {
    case 'H':
      *timeout = absl::Hours(amount);
      return true;
    case 'M':
      *timeout = absl::Minutes(amount);
      return true;
    case 'S':
      *timeout = absl::Seconds(amount);
      return true;
    case 'm':
      *timeout = absl::Milliseconds(amount);
      return true;
    case 'u':
      *timeout = absl::Microseconds(amount);
      return true;
    case 'n':
      *timeout = absl::Nanoseconds(amount);
      return true;
    default:
      return false;
  }
}

// Seconds ("2", "1.5") or a duration with units ("250ms", "1m30s"); finite
// ("inf" is refused, and so is "1e300", which absl::Seconds makes infinite).
bool ParseRestTimeout(absl::string_view value, absl::Duration* timeout) {
  double seconds = 0;
  if (absl::SimpleAtod(value, &seconds)) {
    if (!std::isfinite(seconds)) return false;
    *timeout = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(value, timeout)) {
    return false;
  }
  return *timeout != absl::InfiniteDuration() && *timeout != -absl::InfiniteDuration();
}

}  // namespace

absl::StatusOr<absl::Duration> ParseTimeoutHeader(absl::string_view name, absl::string_view value) {
  absl::Duration timeout;
  if (absl::EqualsIgnoreCase(name, "grpc-timeout")) {
    if (!ParseGrpcTimeout(value, &timeout) || timeout <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "header ", name, ": expected gRPC's form, 1 to 8 digits and a unit H M S m u n (250m is ",
          "250 ms), got \"", value, "\""));
    }
    return timeout;
  }
  if (!ParseRestTimeout(value, &timeout) || timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "header ", name, ": expected a positive duration such as 250ms, 1.5s or 2, got \"", value,
        "\""));
  }
  return timeout;
}

}  // namespace fanout::gateway
