// The one conversion between absl::Status (inside) and grpc::Status (the
// wire). The canonical codes share numbers, so codes map one to one and the
// message travels unchanged.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace fanout {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status ToAbslStatus(const grpc::Status& status);

}  // namespace fanout
