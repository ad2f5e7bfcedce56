// The REST door's transcoder: protobuf messages to JSON text and JSON
// (parsed, see json_parse.h) to messages, by descriptor and reflection, with
// no intermediate text and without protobuf's JSON util (slow, and
// quadratic in nesting depth).
//
//   std::string body;
//   FANOUT_RETURN_IF_ERROR(AppendMessageJson(reply, &body));      // message -> text
//   FANOUT_RETURN_IF_ERROR(ValueToMessage(json, &request));       // JSON tree -> message
//   FANOUT_RETURN_IF_ERROR(SetFieldPath(&request, "user.id", v)); // one field, by path
//
// The mapping is protobuf's (proto3 JSON), as grpc-gateway callers see it:
// - out: lowerCamelCase names (json_name); fields without presence printed
//   even when unset (0, "", false, [], {}), as the gateway always printed
//   them; unset message fields, oneofs and `optional` fields left out;
// - in: the json_name or the proto name; null leaves a field unset;
// - 64-bit integers as strings out, strings or numbers in; enums by name out,
//   name or number in; bytes as base64 (standard or URL-safe in); floats
//   and doubles as numbers, "NaN", "Infinity", "-Infinity";
// - maps as objects, repeated fields as arrays;
// - Timestamp (RFC 3339), Duration ("1.5s"), FieldMask ("a.bC,d"), the
//   wrappers (the bare value), Struct, Value, ListValue, Empty.
// Not supported: google.protobuf.Any (an error naming the field), and
// extensions (not printed, unknown when read).
//
// Errors are INVALID_ARGUMENT naming the field by its proto path:
// `field "delay_ms": expected an integer, got "soon"`.
//
// Thread-safe (pure functions over the messages given).
#pragma once

#include <google/protobuf/message.h>
#include <google/protobuf/struct.pb.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fanout::gateway {

// Appends `message` as JSON. Fails only on values JSON cannot carry: a
// Timestamp or Duration out of range, an Any.
absl::Status AppendMessageJson(const google::protobuf::Message& message, std::string* out);

// The message as a JSON tree (64-bit integers as strings).
absl::StatusOr<google::protobuf::Value> MessageToValue(const google::protobuf::Message& message);

struct JsonReadOptions {
  // Unknown keys (and unknown enum names) are skipped instead of failing.
  bool ignore_unknown = false;
};

// Fills `message` (cleared first) from a JSON object.
absl::Status ValueToMessage(const google::protobuf::Value& value,
                            google::protobuf::Message* message, JsonReadOptions options = {});

// Sets the field at a dotted path of proto (or JSON) names from a JSON
// value, replacing what it held; message fields on the way are created.
// "" merges the keys of a JSON object into `message`, each replacing its
// field.
absl::Status SetFieldPath(google::protobuf::Message* message, absl::string_view path,
                          const google::protobuf::Value& value, JsonReadOptions options = {});

}  // namespace fanout::gateway
