// The one conversion between absl::Status (inside) and grpc::Status (the
// wire). The canonical codes share numbers, so codes map one to one and the
// message travels unchanged.
//
// A status's details (a serialized google.rpc.Status in the
// grpc-status-details-bin trailer: BadRequest, RetryInfo, ErrorInfo...) ride
// inside as the payload under kGrpcStatusDetailsUrl, so a handler that
// returns a backend's status, or a proxy, passes them on unchanged:
//
//   status.SetPayload(kGrpcStatusDetailsUrl, absl::Cord(rpc_status.SerializeAsString()));
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fanout {

inline constexpr absl::string_view kGrpcStatusDetailsUrl = "type.googleapis.com/google.rpc.Status";

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status ToAbslStatus(const grpc::Status& status);

}  // namespace fanout
