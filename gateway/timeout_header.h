// The deadline a REST caller asks for in a header, parsed. The route's own
// timeout caps it (rest_door.cc):
//
//   absl::StatusOr<absl::Duration> asked = ParseTimeoutHeader("request-timeout", "250ms");
//   timeout = std::min(route->timeout, *asked);
//
// Thread-safe (pure functions).
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace fanout::gateway {

// Request-Timeout as "250ms", "1.5s" or "2" (seconds); Grpc-Timeout in
// gRPC's own form only ("250m" is 250 ms, not minutes). What is accepted is
// positive and finite. INVALID_ARGUMENT naming the header otherwise.
absl::StatusOr<absl::Duration> ParseTimeoutHeader(absl::string_view name, absl::string_view value);

}  // namespace fanout::gateway
