// The one table from gRPC status codes to HTTP statuses, and the JSON error
// body every REST failure carries. The mapping is grpc-gateway's
// (runtime.HTTPStatusFromCode), so clients that know one know the other:
//
//   OK 200               CANCELLED 499          UNKNOWN 500
//   INVALID_ARGUMENT 400 DEADLINE_EXCEEDED 504  NOT_FOUND 404
//   ALREADY_EXISTS 409   PERMISSION_DENIED 403  RESOURCE_EXHAUSTED 429
//   FAILED_PRECONDITION 400                     ABORTED 409
//   OUT_OF_RANGE 400     UNIMPLEMENTED 501      INTERNAL 500
//   UNAVAILABLE 503      DATA_LOSS 500          UNAUTHENTICATED 401
//
//   HttpResponse r = ErrorResponse(absl::NotFoundError("user 7"));   // 404
//   // {"code": 5, "status": "NOT_FOUND", "message": "user 7", "details": []}
//
// Thread-safe.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fanout::gateway {

int HttpStatusFromCode(absl::StatusCode code);

// {"code": <gRPC code number>, "status": "<NAME>", "message": "...", "details": []}
std::string ErrorJson(const absl::Status& status);

// "NOT_FOUND" for kNotFound (absl::StatusCodeToString: the google.rpc.Code names).
std::string CodeName(absl::StatusCode code);

// The code with this name ("UNAVAILABLE", any case); false when none.
bool ParseCodeName(absl::string_view name, absl::StatusCode* code);

}  // namespace fanout::gateway
