// JSON in the gateway, held as google.protobuf.Value trees: request bodies
// (parsed by json_parse.h), parts of an answer that are reshaped, merged
// answers. Messages go to and from JSON through message_json.h.
//
//   FANOUT_ASSIGN_OR_RETURN(Value body, ParseJson(request.body, limits));
//   const Value* id = FindPath(body, "user.id");
//   SetPath(&answer, "profile.user", std::move(user));
//   std::string text = ToJson(answer);
//
// Thread-safe (pure functions).
#pragma once

#include <google/protobuf/struct.pb.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gateway/json_parse.h"

namespace fanout::gateway {

using google::protobuf::Value;

// Compact JSON with object keys sorted (stable text for the same answer).
std::string ToJson(const Value& value);
void AppendJson(const Value& value, std::string* out);

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
