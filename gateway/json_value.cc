#include "gateway/json_value.h"

#include <google/protobuf/util/json_util.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace fanout::gateway {
namespace {

namespace json = google::protobuf::util;

absl::Status FromProtobuf(const google::protobuf::util::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(std::string(status.message()));
}

std::vector<absl::string_view> Segments(absl::string_view path) {
  if (path.empty()) return {};
  return absl::StrSplit(path, '.');
}

}  // namespace

absl::StatusOr<Value> ParseJson(absl::string_view text) {
  Value value;
  absl::Status status =
      FromProtobuf(json::JsonStringToMessage(std::string(text.data(), text.size()), &value));
  if (!status.ok()) return status;
  return value;
}

std::string ToJson(const Value& value) {
  std::string out;
  // A Value always converts; an empty one prints as null.
  if (value.kind_case() == Value::KIND_NOT_SET) return "null";
  (void)json::MessageToJsonString(value, &out);
  return out;
}

absl::StatusOr<Value> MessageToValue(const google::protobuf::Message& message) {
  std::string text;
  absl::Status status = FromProtobuf(json::MessageToJsonString(message, &text));
  if (!status.ok()) return status;
  return ParseJson(text);
}

absl::Status ValueToMessage(const Value& value, google::protobuf::Message* message,
                            bool ignore_unknown) {
  message->Clear();
  if (value.kind_case() != Value::kStructValue) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected a JSON object for ", message->GetTypeName(), ", got ", ToJson(value)));
  }
  json::JsonParseOptions options;
  options.ignore_unknown_fields = ignore_unknown;
  return FromProtobuf(json::JsonStringToMessage(ToJson(value), message, options));
}

Value StringValue(std::string text) {
  Value value;
  value.set_string_value(std::move(text));
  return value;
}

Value ObjectValue() {
  Value value;
  value.mutable_struct_value();
  return value;
}

const Value* FindPath(const Value& root, absl::string_view path) {
  const Value* at = &root;
  for (absl::string_view segment : Segments(path)) {
    if (at->kind_case() != Value::kStructValue) return nullptr;
    const auto& fields = at->struct_value().fields();
    auto it = fields.find(std::string(segment));
    if (it == fields.end()) return nullptr;
    at = &it->second;
  }
  return at;
}

void SetPath(Value* root, absl::string_view path, Value value) {
  Value* at = root;
  for (absl::string_view segment : Segments(path)) {
    if (at->kind_case() != Value::kStructValue) at->mutable_struct_value();
    at = &(*at->mutable_struct_value()->mutable_fields())[std::string(segment)];
  }
  *at = std::move(value);
}

void ErasePath(Value* root, absl::string_view path) {
  std::vector<absl::string_view> segments = Segments(path);
  if (segments.empty()) return;
  Value* at = root;
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    if (at->kind_case() != Value::kStructValue) return;
    auto* fields = at->mutable_struct_value()->mutable_fields();
    auto it = fields->find(std::string(segments[i]));
    if (it == fields->end()) return;
    at = &it->second;
  }
  if (at->kind_case() != Value::kStructValue) return;
  at->mutable_struct_value()->mutable_fields()->erase(std::string(segments.back()));
}

void MergeFields(const Value& from, Value* to) {
  if (to->kind_case() != Value::kStructValue) to->mutable_struct_value();
  if (from.kind_case() != Value::kStructValue) return;
  for (const auto& [key, field] : from.struct_value().fields()) {
    (*to->mutable_struct_value()->mutable_fields())[key] = field;
  }
}

}  // namespace fanout::gateway
