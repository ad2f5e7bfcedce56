// Messages to and from grpc::ByteBuffer, for the generic (byte) call path:
// proxies and anything that handles methods it has no stub for.
//
//   FANOUT_ASSIGN_OR_RETURN(Bytes bytes, ToByteBuffer(request));
//   FANOUT_RETURN_IF_ERROR(FromByteBuffer(reply_bytes, &reply));
//
// Thread-safe.
#pragma once

#include <google/protobuf/message.h>
#include <grpcpp/impl/codegen/proto_utils.h>  // SerializationTraits<Message>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include <cstddef>
#include <utility>

#include "absl/status/statusor.h"

namespace fanout {

// A message's bytes: a grpc::ByteBuffer that moves. gRPC 1.51's ByteBuffer
// has no move constructor, so std::move of one copies it (a new
// grpc_byte_buffer and a ref on every slice); on the proxy path that was
// about ten allocations per call. Hold, return and pass on messages as
// Bytes; hand gRPC `buffer()` (or the Bytes itself where it takes a const
// ByteBuffer&).
class Bytes {
 public:
  Bytes() = default;
  Bytes(const grpc::Slice* slices, size_t count) : buffer_(slices, count) {}
  // Takes `buffer`'s contents, leaving it empty.
  explicit Bytes(grpc::ByteBuffer&& buffer) noexcept { buffer_.Swap(&buffer); }
  Bytes(const Bytes&) = default;
  Bytes& operator=(const Bytes&) = default;
  Bytes(Bytes&& other) noexcept { buffer_.Swap(&other.buffer_); }
  Bytes& operator=(Bytes&& other) noexcept {
    buffer_.Clear();
    buffer_.Swap(&other.buffer_);
    return *this;
  }
  ~Bytes() = default;

  grpc::ByteBuffer& buffer() { return buffer_; }
  const grpc::ByteBuffer& buffer() const { return buffer_; }
  operator const grpc::ByteBuffer&() const { return buffer_; }  // NOLINT: as gRPC takes it
  size_t Length() const { return buffer_.Length(); }

 private:
  grpc::ByteBuffer buffer_;
};

inline absl::StatusOr<Bytes> ToByteBuffer(const google::protobuf::Message& message) {
  Bytes buffer;
  bool own = false;
  grpc::Status s = grpc::SerializationTraits<google::protobuf::Message>::Serialize(
      message, &buffer.buffer(), &own);
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
