// Messages to and from grpc::ByteBuffer, for the generic (byte) call path:
// proxies and anything that handles methods it has no stub for.
//
//   FANOUT_ASSIGN_OR_RETURN(grpc::ByteBuffer bytes, ToByteBuffer(request));
//   FANOUT_RETURN_IF_ERROR(FromByteBuffer(reply_bytes, &reply));
//
// Thread-safe.
#pragma once

#include <google/protobuf/message.h>
#include <grpcpp/impl/codegen/proto_utils.h>  // SerializationTraits<Message>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include "absl/status/statusor.h"

namespace fanout {

inline absl::StatusOr<grpc::ByteBuffer> ToByteBuffer(const google::protobuf::Message& message) {
  grpc::ByteBuffer buffer;
  bool own = false;
  grpc::Status s =
      grpc::SerializationTraits<google::protobuf::Message>::Serialize(message, &buffer, &own);
  if (!s.ok()) return absl::InternalError("cannot serialize " + message.GetTypeName());
  return buffer;
}

// INVALID_ARGUMENT naming the type when the bytes are not one.
inline absl::Status FromByteBuffer(const grpc::ByteBuffer& buffer,
                                   google::protobuf::Message* message) {
  grpc::ByteBuffer copy(buffer);  // Deserialize consumes its buffer.
  grpc::Status s =
      grpc::SerializationTraits<google::protobuf::Message>::Deserialize(&copy, message);
  if (!s.ok()) {
    return absl::InvalidArgumentError("bytes do not parse as " + message->GetTypeName());
  }
  return absl::OkStatus();
}

}  // namespace fanout
