#include "gateway/json_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "node/base/json_string.h"

namespace fanout::gateway {
namespace {

std::vector<absl::string_view> Segments(absl::string_view path) {
  if (path.empty()) return {};
  return absl::StrSplit(path, '.');
}

}  // namespace

void AppendJson(const Value& value, std::string* out) {
  switch (value.kind_case()) {
    case Value::kBoolValue:
      out->append(value.bool_value() ? "true" : "false");
      return;
    case Value::kNumberValue: {
      double n = value.number_value();
      if (!std::isfinite(n)) {
        out->append("null");
      } else if (n == std::trunc(n) && std::abs(n) < 9007199254740992.0) {
        absl::StrAppend(out, static_cast<int64_t>(n));
      } else {
        // The shortest text that reads back as `n` (subnormals too: "1e-310").
        char text[32];
        out->append(text, std::to_chars(text, text + sizeof(text), n).ptr);
      }
      return;
    }
    case Value::kStringValue:
      AppendJsonString(value.string_value(), out);
      return;
    case Value::kStructValue: {
      // Sorted keys: an answer's text does not depend on hashing or timing.
      std::vector<const std::string*> keys;
      for (const auto& [key, field] : value.struct_value().fields()) keys.push_back(&key);
      std::sort(keys.begin(), keys.end(), [](auto* a, auto* b) { return *a < *b; });
      out->push_back('{');
      for (size_t i = 0; i < keys.size(); ++i) {
        if (i > 0) out->push_back(',');
        AppendJsonString(*keys[i], out);
        out->push_back(':');
        AppendJson(value.struct_value().fields().at(*keys[i]), out);
      }
      out->push_back('}');
      return;
    }
    case Value::kListValue: {
      out->push_back('[');
      for (int i = 0; i < value.list_value().values_size(); ++i) {
        if (i > 0) out->push_back(',');
        AppendJson(value.list_value().values(i), out);
      }
      out->push_back(']');
      return;
    }
    default:
      out->append("null");
  }
}

std::string ToJson(const Value& value) {
  std::string out;
  AppendJson(value, &out);
  return out;
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
