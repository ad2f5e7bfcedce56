// JSON in the gateway, held as google.protobuf.Value trees: request bodies,
// the parts of an answer, and the merged answer. Conversions to and from
// messages follow protobuf's JSON mapping (lowerCamelCase names on output;
// both lowerCamelCase and proto names accepted on input), so REST callers
// see exactly what grpc-gateway would show them.
//
//   FANOUT_ASSIGN_OR_RETURN(Value body, ParseJson(request.body));
//   const Value* id = FindPath(body, "user.id");
//   SetPath(&answer, "profile.user", std::move(user));
//   std::string text = ToJson(answer);
//
// Errors are INVALID_ARGUMENT and say where: "body: Unexpected token at
// line 1 column 9", "(user_id): invalid value "abc" for type TYPE_INT64".
//
// Thread-safe (pure functions).
#pragma once

#include <google/protobuf/message.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fanout::gateway {

using google::protobuf::Value;

absl::StatusOr<Value> ParseJson(absl::string_view text);
// Compact JSON with object keys sorted (stable text for the same answer).
std::string ToJson(const Value& value);
void AppendJson(const Value& value, std::string* out);

// How answers are printed: protobuf's JSON mapping, unpopulated fields included.
google::protobuf::util::JsonPrintOptions AnswerOptions();
absl::StatusOr<Value> MessageToValue(const google::protobuf::Message& message);
// Fills `message` (cleared first) from a JSON object. Unknown fields are
// errors unless `ignore_unknown`.
absl::Status ValueToMessage(const Value& value, google::protobuf::Message* message,
                            bool ignore_unknown = false);

Value StringValue(std::string text);
Value ObjectValue();

// The value at a dotted path ("user.id"), or nullptr. "" is the value itself.
const Value* FindPath(const Value& root, absl::string_view path);
// Sets the value at a dotted path, creating objects on the way (replacing
// anything that is not an object). "" replaces the root.
void SetPath(Value* root, absl::string_view path, Value value);
// Removes the value at a dotted path; absent paths are ignored.
void ErasePath(Value* root, absl::string_view path);
// Copies every field of `from` (an object) into `to` (made an object).
void MergeFields(const Value& from, Value* to);

}  // namespace fanout::gateway
