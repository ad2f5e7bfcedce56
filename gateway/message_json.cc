#include "gateway/message_json.h"

#include <google/protobuf/descriptor.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gateway/json_parse.h"
#include "gateway/json_value.h"
#include "node/base/json_string.h"

namespace fanout::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using CppType = FieldDescriptor::CppType;

// The well-known types the mapping treats specially, by full name.
enum class Wkt { kNone, kTimestamp, kDuration, kFieldMask, kWrapper, kStruct, kAny };

Wkt WktOf(const Descriptor* type) {
  const std::string& name = type->full_name();
  if (name.size() < 16 || name.compare(0, 16, "google.protobuf.") != 0) return Wkt::kNone;
  absl::string_view local = absl::string_view(name).substr(16);
  if (local == "Timestamp") return Wkt::kTimestamp;
  if (local == "Duration") return Wkt::kDuration;
  if (local == "FieldMask") return Wkt::kFieldMask;
  if (local == "Struct" || local == "Value" || local == "ListValue") return Wkt::kStruct;
  if (local == "Any") return Wkt::kAny;
  if (local == "DoubleValue" || local == "FloatValue" || local == "Int64Value" ||
      local == "UInt64Value" || local == "Int32Value" || local == "UInt32Value" ||
      local == "BoolValue" || local == "StringValue" || local == "BytesValue") {
    return Wkt::kWrapper;
  }
  return Wkt::kNone;
}

constexpr int64_t kMinTimestampSeconds = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxTimestampSeconds = 253402300799;  // 9999-12-31T23:59:59Z
constexpr int64_t kMaxDurationSeconds = 315576000000;   // 10,000 years

// 0, 3, 6 or 9 fractional digits, as protobuf prints them.
void AppendNanos(int32_t nanos, std::string* out) {
  if (nanos == 0) return;
  char digits[10];
  int width = nanos % 1000000 == 0 ? 3 : nanos % 1000 == 0 ? 6 : 9;
  int value = width == 3 ? nanos / 1000000 : width == 6 ? nanos / 1000 : nanos;
  for (int i = width - 1; i >= 0; --i, value /= 10) digits[i] = static_cast<char>('0' + value % 10);
  out->push_back('.');
  out->append(digits, width);
}

template <typename T>
void AppendFloating(T value, std::string* out) {
  if (std::isnan(value)) {
    out->append("\"NaN\"");
  } else if (std::isinf(value)) {
    out->append(value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  } else {
    char text[40];
    out->append(text, std::to_chars(text, text + sizeof(text), value).ptr);
  }
}

// Whether a FieldMask path survives snake -> camel -> snake: no capitals,
// and every '_' is followed by a lower-case letter.
bool CamelRoundTrips(absl::string_view path) {
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] >= 'A' && path[i] <= 'Z') return false;
    if (path[i] == '_' && (i + 1 == path.size() || path[i + 1] < 'a' || path[i + 1] > 'z')) {
      return false;
    }
  }
  return true;
}

// "foo_bar.baz" -> "fooBar.baz" (FieldMask paths).
std::string SnakeToCamel(absl::string_view path) {
  std::string out;
  bool upper = false;
  for (char c : path) {
    if (c == '_') {
      upper = true;
    } else {
      out.push_back(upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
      upper = false;
    }
  }
  return out;
}

std::string CamelToSnake(absl::string_view path) {
  std::string out;
  for (char c : path) {
    if (c >= 'A' && c <= 'Z') {
      out.push_back('_');
      out.push_back(static_cast<char>(c - 'A' + 'a'));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Struct, Value and ListValue as the generated type, whatever pool the
// message comes from (a DynamicMessage of a reflected type): the wire
// format is the same.
template <typename T>
const T& AsGenerated(const Message& message, T* scratch) {
  if (const T* typed = dynamic_cast<const T*>(&message)) return *typed;
  scratch->ParseFromString(message.SerializeAsString());
  return *scratch;
}

// INVALID_ARGUMENT naming the field by its proto path: `field "a.b": what`.
absl::Status FieldError(const std::vector<absl::string_view>& path, absl::string_view what) {
  if (path.empty()) return absl::InvalidArgumentError(what);
  return absl::InvalidArgumentError(
      absl::StrCat("field \"", absl::StrJoin(path, "."), "\": ", what));
}

// ---------------------------------------------------------------- writing

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}

  absl::Status Message(const google::protobuf::Message& message) {
    const Descriptor* type = message.GetDescriptor();
    if (Wkt wkt = WktOf(type); wkt != Wkt::kNone) return WellKnown(message, wkt);
    const Reflection* reflection = message.GetReflection();
    out_->push_back('{');
    bool first = true;
    for (int i = 0; i < type->field_count(); ++i) {
      const FieldDescriptor* field = type->field(i);
      if (!Printed(message, *reflection, field)) continue;
      if (!first) out_->push_back(',');
      first = false;
      AppendJsonString(field->json_name(), out_);
      out_->push_back(':');
      absl::Status written = Field(message, *reflection, field);
      if (!written.ok()) return written;
    }
    out_->push_back('}');
    return absl::OkStatus();
  }

 private:
  static bool Printed(const google::protobuf::Message& message, const Reflection& reflection,
                      const FieldDescriptor* field) {
    if (field->is_repeated()) return true;
    if (field->containing_oneof() != nullptr || field->cpp_type() == CppType::CPPTYPE_MESSAGE ||
        field->has_presence()) {
      return reflection.HasField(message, field);
    }
    return true;
  }

  absl::Status Field(const google::protobuf::Message& message, const Reflection& reflection,
                     const FieldDescriptor* field) {
    path_.push_back(field->name());
    absl::Status written = FieldIn(message, reflection, field);
    path_.pop_back();
    return written;
  }

  absl::Status FieldIn(const google::protobuf::Message& message, const Reflection& reflection,
                       const FieldDescriptor* field) {
    if (field->is_map()) {
      const FieldDescriptor* key = field->message_type()->map_key();
      const FieldDescriptor* value = field->message_type()->map_value();
      out_->push_back('{');
      int n = reflection.FieldSize(message, field);
      for (int i = 0; i < n; ++i) {
        const google::protobuf::Message& entry = reflection.GetRepeatedMessage(message, field, i);
        if (i > 0) out_->push_back(',');
        MapKey(entry, key);
        out_->push_back(':');
        absl::Status written = Single(entry, *entry.GetReflection(), value, -1);
        if (!written.ok()) return written;
      }
      out_->push_back('}');
      return absl::OkStatus();
    }
    if (field->is_repeated()) {
      out_->push_back('[');
      int n = reflection.FieldSize(message, field);
      for (int i = 0; i < n; ++i) {
        if (i > 0) out_->push_back(',');
        absl::Status written = Single(message, reflection, field, i);
        if (!written.ok()) return written;
      }
      out_->push_back(']');
      return absl::OkStatus();
    }
    return Single(message, reflection, field, -1);
  }

  void MapKey(const google::protobuf::Message& entry, const FieldDescriptor* key) {
    const Reflection& r = *entry.GetReflection();
    switch (key->cpp_type()) {
      case CppType::CPPTYPE_STRING:
        AppendJsonString(r.GetString(entry, key), out_);
        return;
      case CppType::CPPTYPE_BOOL:
        out_->append(r.GetBool(entry, key) ? "\"true\"" : "\"false\"");
        return;
      case CppType::CPPTYPE_INT32:
        absl::StrAppend(out_, "\"", r.GetInt32(entry, key), "\"");
        return;
      case CppType::CPPTYPE_INT64:
        absl::StrAppend(out_, "\"", r.GetInt64(entry, key), "\"");
        return;
      case CppType::CPPTYPE_UINT32:
        absl::StrAppend(out_, "\"", r.GetUInt32(entry, key), "\"");
        return;
      default:
        absl::StrAppend(out_, "\"", r.GetUInt64(entry, key), "\"");
        return;
    }
  }

  // One value of `field`: the singular one (index -1) or item `index`.
  absl::Status Single(const google::protobuf::Message& m, const Reflection& r,
                      const FieldDescriptor* field, int index) {
    bool rep = index >= 0;
    switch (field->cpp_type()) {
      case CppType::CPPTYPE_INT32:
        absl::StrAppend(out_, rep ? r.GetRepeatedInt32(m, field, index) : r.GetInt32(m, field));
        break;
      case CppType::CPPTYPE_UINT32:
        absl::StrAppend(out_, rep ? r.GetRepeatedUInt32(m, field, index) : r.GetUInt32(m, field));
        break;
      case CppType::CPPTYPE_INT64:
        absl::StrAppend(out_, "\"",
                        rep ? r.GetRepeatedInt64(m, field, index) : r.GetInt64(m, field), "\"");
        break;
      case CppType::CPPTYPE_UINT64:
        absl::StrAppend(out_, "\"",
                        rep ? r.GetRepeatedUInt64(m, field, index) : r.GetUInt64(m, field), "\"");
        break;
      case CppType::CPPTYPE_DOUBLE:
        AppendFloating(rep ? r.GetRepeatedDouble(m, field, index) : r.GetDouble(m, field), out_);
        break;
      case CppType::CPPTYPE_FLOAT:
        AppendFloating(rep ? r.GetRepeatedFloat(m, field, index) : r.GetFloat(m, field), out_);
        break;
      case CppType::CPPTYPE_BOOL:
        out_->append((rep ? r.GetRepeatedBool(m, field, index) : r.GetBool(m, field)) ? "true"
                                                                                      : "false");
        break;
      case CppType::CPPTYPE_ENUM: {
        if (field->enum_type()->full_name() == "google.protobuf.NullValue") {
          out_->append("null");
          break;
        }
        int number = rep ? r.GetRepeatedEnumValue(m, field, index) : r.GetEnumValue(m, field);
        const auto* value = field->enum_type()->FindValueByNumber(number);
        if (value != nullptr) {
          AppendJsonString(value->name(), out_);
        } else {
          absl::StrAppend(out_, number);  // An open enum's unknown number.
        }
        break;
      }
      case CppType::CPPTYPE_STRING: {
        std::string scratch;
        const std::string& text = rep ? r.GetRepeatedStringReference(m, field, index, &scratch)
                                      : r.GetStringReference(m, field, &scratch);
        if (field->type() == FieldDescriptor::TYPE_BYTES) {
          out_->push_back('"');
          out_->append(absl::Base64Escape(text));
          out_->push_back('"');
        } else {
          AppendJsonString(text, out_);
        }
        break;
      }
      case CppType::CPPTYPE_MESSAGE:
        return Message(rep ? r.GetRepeatedMessage(m, field, index) : r.GetMessage(m, field));
    }
    return absl::OkStatus();
  }

  absl::Status WellKnown(const google::protobuf::Message& message, Wkt wkt) {
    const Descriptor* type = message.GetDescriptor();
    const Reflection& r = *message.GetReflection();
    switch (wkt) {
      case Wkt::kTimestamp: {
        int64_t seconds = r.GetInt64(message, type->field(0));
        int32_t nanos = r.GetInt32(message, type->field(1));
        if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds || nanos < 0 ||
            nanos > 999999999) {
          return FieldError(path_, absl::StrCat("Timestamp out of range (seconds ", seconds,
                                                ", nanos ", nanos, ")"));
        }
        out_->push_back('"');
        out_->append(absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(seconds),
                                      absl::UTCTimeZone()));
        AppendNanos(nanos, out_);
        out_->append("Z\"");
        return absl::OkStatus();
      }
      case Wkt::kDuration: {
        int64_t seconds = r.GetInt64(message, type->field(0));
        int32_t nanos = r.GetInt32(message, type->field(1));
        if (seconds < -kMaxDurationSeconds || seconds > kMaxDurationSeconds || nanos < -999999999 ||
            nanos > 999999999 || (seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0)) {
          return FieldError(path_, absl::StrCat("Duration out of range (seconds ", seconds,
                                                ", nanos ", nanos, ")"));
        }
        out_->push_back('"');
        if (seconds < 0 || nanos < 0) out_->push_back('-');
        absl::StrAppend(out_, seconds < 0 ? -seconds : seconds);
        AppendNanos(nanos < 0 ? -nanos : nanos, out_);
        out_->append("s\"");
        return absl::OkStatus();
      }
      case Wkt::kFieldMask: {
        const FieldDescriptor* paths = type->field(0);
        std::vector<std::string> camel;
        for (int i = 0; i < r.FieldSize(message, paths); ++i) {
          const std::string& path = r.GetRepeatedString(message, paths, i);
          if (!CamelRoundTrips(path)) {
            return FieldError(
                path_, absl::StrCat("FieldMask path \"", path, "\" has no lowerCamelCase form"));
          }
          camel.push_back(SnakeToCamel(path));
        }
        AppendJsonString(absl::StrJoin(camel, ","), out_);
        return absl::OkStatus();
      }
      case Wkt::kWrapper:
        return Single(message, r, type->field(0), -1);
      case Wkt::kStruct: {
        if (type->name() == "Struct") {
          google::protobuf::Value value;
          google::protobuf::Struct scratch;
          *value.mutable_struct_value() = AsGenerated(message, &scratch);
          AppendJson(value, out_);
        } else if (type->name() == "ListValue") {
          google::protobuf::Value value;
          google::protobuf::ListValue scratch;
          *value.mutable_list_value() = AsGenerated(message, &scratch);
          AppendJson(value, out_);
        } else {
          google::protobuf::Value scratch;
          AppendJson(AsGenerated(message, &scratch), out_);
        }
        return absl::OkStatus();
      }
      case Wkt::kAny:
        return FieldError(path_, "google.protobuf.Any is not supported by the REST transcoder");
      case Wkt::kNone:
        break;
    }
    return absl::OkStatus();
  }

  std::string* out_;
  std::vector<absl::string_view> path_;  // Proto names of the fields being written.
};

// ---------------------------------------------------------------- reading

using google::protobuf::Value;

const char* KindName(const Value& value) {
  switch (value.kind_case()) {
    case Value::kNullValue:
      return "null";
    case Value::kNumberValue:
      return "a number";
    case Value::kStringValue:
      return "a string";
    case Value::kBoolValue:
      return "a boolean";
    case Value::kStructValue:
      return "an object";
    case Value::kListValue:
      return "an array";
    default:
      return "nothing";
  }
}

// What a value looked like, for messages: short, quoted when a string.
std::string Shown(const Value& value) {
  std::string text = ToJson(value);
  if (text.size() > 40) text = absl::StrCat(text.substr(0, 37), "...");
  return text;
}

// Returns when a conversion failed.
#define FANOUT_READ(expr)                           \
  do {                                              \
    if (absl::Status s = (expr); !s.ok()) return s; \
  } while (0)

class Reader {
 public:
  explicit Reader(JsonReadOptions options) : options_(options) {}

  absl::Status Object(const Value& value, google::protobuf::Message* message) {
    const Descriptor* type = message->GetDescriptor();
    if (Wkt wkt = WktOf(type); wkt != Wkt::kNone) return WellKnown(value, wkt, message);
    if (value.kind_case() != Value::kStructValue) {
      return Fail(absl::StrCat("expected a JSON object for ", type->full_name(), ", got ",
                               KindName(value)));
    }
    for (const auto& [key, item] : value.struct_value().fields()) {
      const FieldDescriptor* field = Find(type, key);
      if (field == nullptr) {
        if (options_.ignore_unknown) continue;
        return Fail(absl::StrCat("no field \"", key, "\" in ", type->full_name()));
      }
      if (const auto* oneof = field->real_containing_oneof();
          oneof != nullptr && item.kind_case() != Value::kNullValue &&
          message->GetReflection()->HasOneof(*message, oneof)) {
        return Fail(absl::StrCat("more than one field of oneof \"", oneof->name(), "\" set"));
      }
      absl::Status read = Field(item, field, message);
      if (!read.ok()) return read;
    }
    return absl::OkStatus();
  }

  // Replaces `field` of `message` with `value`.
  absl::Status Field(const Value& value, const FieldDescriptor* field,
                     google::protobuf::Message* message) {
    path_.push_back(field->name());
    absl::Status read = FieldIn(value, field, message);
    path_.pop_back();
    return read;
  }

  static const FieldDescriptor* Find(const Descriptor* type, absl::string_view name) {
    const FieldDescriptor* field = type->FindFieldByName(std::string(name));
    if (field == nullptr) field = type->FindFieldByCamelcaseName(std::string(name));
    if (field == nullptr || field->is_extension()) {
      // A json_name option that is not the camel-case form: rare, so a scan.
      for (int i = 0; i < type->field_count(); ++i) {
        if (type->field(i)->json_name() == name) return type->field(i);
      }
      return nullptr;
    }
    return field;
  }

  absl::Status Fail(absl::string_view what) const { return FieldError(path_, what); }

 private:
  absl::Status FieldIn(const Value& value, const FieldDescriptor* field,
                       google::protobuf::Message* message) {
    const Reflection& r = *message->GetReflection();
    bool is_value_type = field->cpp_type() == CppType::CPPTYPE_MESSAGE &&
                         field->message_type()->full_name() == "google.protobuf.Value";
    r.ClearField(message, field);
    if (value.kind_case() == Value::kNullValue && !(is_value_type && !field->is_repeated())) {
      return absl::OkStatus();  // null: the field stays unset.
    }
    if (field->is_map()) {
      if (value.kind_case() != Value::kStructValue) {
        return Fail(absl::StrCat("expected an object (a map), got ", KindName(value)));
      }
      const FieldDescriptor* key_field = field->message_type()->map_key();
      const FieldDescriptor* value_field = field->message_type()->map_value();
      for (const auto& [key, item] : value.struct_value().fields()) {
        google::protobuf::Message* entry = r.AddMessage(message, field);
        Value key_value;
        key_value.set_string_value(key);
        absl::Status read = Single(key_value, key_field, entry, /*map_key=*/true);
        if (read.ok()) read = Single(item, value_field, entry, false);
        if (!read.ok()) return read;
      }
      return absl::OkStatus();
    }
    if (field->is_repeated()) {
      if (value.kind_case() != Value::kListValue) {
        return Fail(absl::StrCat("expected an array, got ", KindName(value)));
      }
      for (const Value& item : value.list_value().values()) {
        if (item.kind_case() == Value::kNullValue && !is_value_type) {
          return Fail("null is not allowed in an array");
        }
        absl::Status read = Single(item, field, message, false);
        if (!read.ok()) return read;
      }
      return absl::OkStatus();
    }
    return Single(value, field, message, false);
  }

  // Sets a singular field or adds one item of a repeated one.
  absl::Status Single(const Value& value, const FieldDescriptor* field,
                      google::protobuf::Message* message, bool map_key) {
    const Reflection& r = *message->GetReflection();
    bool rep = field->is_repeated();
    switch (field->cpp_type()) {
      case CppType::CPPTYPE_INT32: {
        int64_t n = 0;
        FANOUT_READ(Integer(value, INT32_MIN, INT32_MAX, &n));
        const auto v = static_cast<int32_t>(n);  // In range: Integer checked it.
        rep ? r.AddInt32(message, field, v) : r.SetInt32(message, field, v);
        return absl::OkStatus();
      }
      case CppType::CPPTYPE_INT64: {
        int64_t n = 0;
        FANOUT_READ(Integer(value, INT64_MIN, INT64_MAX, &n));
        rep ? r.AddInt64(message, field, n) : r.SetInt64(message, field, n);
        return absl::OkStatus();
      }
      case CppType::CPPTYPE_UINT32: {
        uint64_t n = 0;
        FANOUT_READ(Unsigned(value, UINT32_MAX, &n));
        rep ? r.AddUInt32(message, field, n) : r.SetUInt32(message, field, n);
        return absl::OkStatus();
      }
      case CppType::CPPTYPE_UINT64: {
        uint64_t n = 0;
        FANOUT_READ(Unsigned(value, UINT64_MAX, &n));
        rep ? r.AddUInt64(message, field, n) : r.SetUInt64(message, field, n);
        return absl::OkStatus();
      }
      case CppType::CPPTYPE_DOUBLE: {
        double d = 0;
        FANOUT_READ(Floating(value, &d));
        rep ? r.AddDouble(message, field, d) : r.SetDouble(message, field, d);
        return absl::OkStatus();
      }
      case CppType::CPPTYPE_FLOAT: {
        double d = 0;
        FANOUT_READ(Floating(value, &d));
        // Past FLT_MAX by half an ulp or more: no float rounds to it.
        if (std::isfinite(d) && std::abs(d) >= 3.4028235677973366e+38) {
          return Fail(absl::StrCat("out of range for a float: ", Shown(value)));
        }
        float f = static_cast<float>(d);
        rep ? r.AddFloat(message, field, f) : r.SetFloat(message, field, f);
        return absl::OkStatus();
      }
      case CppType::CPPTYPE_BOOL: {
        bool b = false;
        if (value.kind_case() == Value::kBoolValue) {
          b = value.bool_value();
        } else if (map_key && (value.string_value() == "true" || value.string_value() == "false")) {
          b = value.string_value() == "true";
        } else {
          return Fail(absl::StrCat("expected true or false, got ", Shown(value)));
        }
        rep ? r.AddBool(message, field, b) : r.SetBool(message, field, b);
        return absl::OkStatus();
      }
      case CppType::CPPTYPE_ENUM:
        return Enum(value, field, message);
      case CppType::CPPTYPE_STRING: {
        if (value.kind_case() != Value::kStringValue) {
          return Fail(absl::StrCat("expected a string, got ", Shown(value)));
        }
        std::string text;
        if (field->type() == FieldDescriptor::TYPE_BYTES) {
          if (!absl::Base64Unescape(value.string_value(), &text) &&
              !absl::WebSafeBase64Unescape(value.string_value(), &text)) {
            return Fail(absl::StrCat("expected base64 (bytes), got ", Shown(value)));
          }
        } else {
          text = value.string_value();
        }
        rep ? r.AddString(message, field, std::move(text))
            : r.SetString(message, field, std::move(text));
        return absl::OkStatus();
      }
      case CppType::CPPTYPE_MESSAGE: {
        if (++depth_ > kMaxDepth) return Fail("messages nested too deep");
        google::protobuf::Message* sub =
            rep ? r.AddMessage(message, field) : r.MutableMessage(message, field);
        absl::Status read = Object(value, sub);
        --depth_;
        return read;
      }
    }
    return absl::OkStatus();
  }

  absl::Status Integer(const Value& value, int64_t min, int64_t max, int64_t* out) const {
    if (value.kind_case() == Value::kNumberValue) {
      double d = value.number_value();
      // 2^63 is exactly representable; anything at or past it is out of range.
      if (d != std::trunc(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0 ||
          d < static_cast<double>(min) || d > static_cast<double>(max)) {
        return Fail(absl::StrCat("expected an integer in range, got ", Shown(value)));
      }
      *out = static_cast<int64_t>(d);
      return absl::OkStatus();
    }
    if (value.kind_case() == Value::kStringValue) {
      const std::string& s = value.string_value();
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
      if (ec == std::errc() && end == s.data() + s.size() && *out >= min && *out <= max) {
        return absl::OkStatus();
      }
    }
    return Fail(absl::StrCat("expected an integer, got ", Shown(value)));
  }

  absl::Status Unsigned(const Value& value, uint64_t max, uint64_t* out) const {
    if (value.kind_case() == Value::kNumberValue) {
      double d = value.number_value();
      if (d != std::trunc(d) || d < 0 || d >= 18446744073709551616.0 ||
          d > static_cast<double>(max)) {
        return Fail(absl::StrCat("expected an unsigned integer in range, got ", Shown(value)));
      }
      *out = static_cast<uint64_t>(d);
      return absl::OkStatus();
    }
    if (value.kind_case() == Value::kStringValue) {
      const std::string& s = value.string_value();
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
      if (ec == std::errc() && end == s.data() + s.size() && *out <= max) return absl::OkStatus();
    }
    return Fail(absl::StrCat("expected an unsigned integer, got ", Shown(value)));
  }

  absl::Status Floating(const Value& value, double* out) const {
    if (value.kind_case() == Value::kNumberValue) {
      *out = value.number_value();
      return absl::OkStatus();
    }
    if (value.kind_case() == Value::kStringValue) {
      const std::string& s = value.string_value();
      if (s == "NaN") {
        *out = std::numeric_limits<double>::quiet_NaN();
        return absl::OkStatus();
      }
      if (s == "Infinity" || s == "-Infinity") {
        *out = s[0] == '-' ? -std::numeric_limits<double>::infinity()
                           : std::numeric_limits<double>::infinity();
        return absl::OkStatus();
      }
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
      if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) return absl::OkStatus();
    }
    return Fail(absl::StrCat("expected a number, got ", Shown(value)));
  }

  absl::Status Enum(const Value& value, const FieldDescriptor* field,
                    google::protobuf::Message* message) {
    const Reflection& r = *message->GetReflection();
    const auto* type = field->enum_type();
    int number = 0;
    if (value.kind_case() == Value::kStringValue) {
      const auto* named = type->FindValueByName(value.string_value());
      if (named == nullptr) {
        if (options_.ignore_unknown) return absl::OkStatus();
        return Fail(absl::StrCat("no value ", Shown(value), " in enum ", type->full_name()));
      }
      number = named->number();
    } else if (value.kind_case() == Value::kNumberValue) {
      int64_t n = 0;
      FANOUT_READ(Integer(value, INT32_MIN, INT32_MAX, &n));
      number = static_cast<int>(n);
      if (type->FindValueByNumber(number) == nullptr &&
          type->file()->syntax() == google::protobuf::FileDescriptor::SYNTAX_PROTO2) {
        return Fail(absl::StrCat("no value ", number, " in enum ", type->full_name()));
      }
    } else if (value.kind_case() == Value::kNullValue &&
               type->full_name() == "google.protobuf.NullValue") {
      number = 0;
    } else {
      return Fail(absl::StrCat("expected an enum name or number, got ", Shown(value)));
    }
    field->is_repeated() ? r.AddEnumValue(message, field, number)
                         : r.SetEnumValue(message, field, number);
    return absl::OkStatus();
  }

  absl::Status WellKnown(const Value& value, Wkt wkt, google::protobuf::Message* message) {
    const Descriptor* type = message->GetDescriptor();
    const Reflection& r = *message->GetReflection();
    if (wkt == Wkt::kStruct) {
      // The generated type's bytes, parsed into whatever `message` is.
      std::string bytes;
      if (type->name() == "Value") {
        bytes = value.SerializeAsString();
      } else if (type->name() == "Struct" && value.kind_case() == Value::kStructValue) {
        bytes = value.struct_value().SerializeAsString();
      } else if (type->name() == "ListValue" && value.kind_case() == Value::kListValue) {
        bytes = value.list_value().SerializeAsString();
      } else {
        return Fail(absl::StrCat("expected ", type->name() == "Struct" ? "an object" : "an array",
                                 " for ", type->full_name(), ", got ", KindName(value)));
      }
      message->ParseFromString(bytes);
      return absl::OkStatus();
    }
    if (wkt == Wkt::kWrapper) return Single(value, type->field(0), message, false);
    if (wkt == Wkt::kAny)
      return Fail("google.protobuf.Any is not supported by the REST transcoder");
    if (value.kind_case() != Value::kStringValue) {
      return Fail(
          absl::StrCat("expected a string for ", type->full_name(), ", got ", KindName(value)));
    }
    const std::string& text = value.string_value();
    if (wkt == Wkt::kFieldMask) {
      for (absl::string_view path : absl::StrSplit(text, ',', absl::SkipEmpty())) {
        if (path.find('_') != absl::string_view::npos) {
          return Fail(
              absl::StrCat("FieldMask paths are lowerCamelCase in JSON, got \"", path, "\""));
        }
        r.AddString(message, type->field(0), CamelToSnake(path));
      }
      return absl::OkStatus();
    }
    int64_t seconds = 0;
    int32_t nanos = 0;
    bool ok = wkt == Wkt::kTimestamp ? ParseTimestamp(text, &seconds, &nanos)
                                     : ParseDuration(text, &seconds, &nanos);
    if (!ok) {
      return Fail(absl::StrCat("expected ",
                               wkt == Wkt::kTimestamp
                                   ? "an RFC 3339 time (\"1972-01-01T10:00:20.021Z\")"
                                   : "a duration in seconds (\"1.5s\")",
                               ", got ", Shown(value)));
    }
    r.SetInt64(message, type->field(0), seconds);
    r.SetInt32(message, type->field(1), nanos);
    return absl::OkStatus();
  }

  // "[-]S[.fffffffff]s"
  static bool ParseDuration(absl::string_view text, int64_t* seconds, int32_t* nanos) {
    if (text.size() < 2 || text.back() != 's') return false;
    text.remove_suffix(1);
    bool negative = !text.empty() && text[0] == '-';
    if (negative) text.remove_prefix(1);
    absl::string_view whole = text, fraction;
    if (size_t dot = text.find('.'); dot != absl::string_view::npos) {
      whole = text.substr(0, dot);
      fraction = text.substr(dot + 1);
      if (fraction.empty() || fraction.size() > 9) return false;
    }
    if (whole.empty()) return false;
    uint64_t s = 0;
    auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), s);
    if (ec != std::errc() || end != whole.data() + whole.size()) return false;
    if (s > static_cast<uint64_t>(kMaxDurationSeconds)) return false;
    int32_t n = 0;
    if (!ParseFraction(fraction, &n)) return false;
    *seconds = negative ? -static_cast<int64_t>(s) : static_cast<int64_t>(s);
    *nanos = negative ? -n : n;
    return true;
  }

  static bool ParseFraction(absl::string_view digits, int32_t* nanos) {
    int32_t n = 0;
    for (size_t i = 0; i < 9; ++i) {
      char c = i < digits.size() ? digits[i] : '0';
      if (c < '0' || c > '9') return false;
      n = n * 10 + (c - '0');
    }
    *nanos = n;
    return true;
  }

  // RFC 3339: "1972-01-01T10:00:20.021Z" or with an offset "+01:00".
  static bool ParseTimestamp(absl::string_view text, int64_t* seconds, int32_t* nanos) {
    absl::string_view fraction;
    std::string without_fraction(text);
    if (size_t dot = text.find('.'); dot != absl::string_view::npos) {
      size_t end = dot + 1;
      while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
      fraction = text.substr(dot + 1, end - dot - 1);
      if (fraction.empty() || fraction.size() > 9) return false;
      without_fraction = absl::StrCat(text.substr(0, dot), text.substr(end));
    }
    absl::Time time;
    std::string error;
    if (!absl::ParseTime("%Y-%m-%dT%H:%M:%S%Ez", without_fraction, absl::UTCTimeZone(), &time,
                         &error) &&
        !absl::ParseTime("%Y-%m-%dT%H:%M:%SZ", without_fraction, absl::UTCTimeZone(), &time,
                         &error)) {
      return false;
    }
    int64_t s = absl::ToUnixSeconds(time);
    if (s < kMinTimestampSeconds || s > kMaxTimestampSeconds) return false;
    if (!ParseFraction(fraction, nanos)) return false;
    *seconds = s;
    return true;
  }
#undef FANOUT_READ

  // Message nesting through JSON (the parser bounds the tree; this bounds
  // the message, as protobuf's own recursion limit does).
  static constexpr int kMaxDepth = 100;
  JsonReadOptions options_;
  std::vector<absl::string_view> path_;
  int depth_ = 0;
};

}  // namespace

absl::Status AppendMessageJson(const google::protobuf::Message& message, std::string* out) {
  return Writer(out).Message(message);
}

absl::StatusOr<Value> MessageToValue(const google::protobuf::Message& message) {
  std::string text;
  absl::Status written = AppendMessageJson(message, &text);
  if (!written.ok()) return written;
  return ParseJson(text, JsonLimits::Internal());
}

absl::Status ValueToMessage(const Value& value, google::protobuf::Message* message,
                            JsonReadOptions options) {
  message->Clear();
  return Reader(options).Object(value, message);
}

absl::Status SetFieldPath(google::protobuf::Message* message, absl::string_view path,
                          const Value& value, JsonReadOptions options) {
  Reader reader(options);
  if (path.empty()) {
    if (value.kind_case() != Value::kStructValue) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected a JSON object for ", message->GetTypeName(), ", got ", KindName(value)));
    }
    for (const auto& [key, item] : value.struct_value().fields()) {
      const FieldDescriptor* field = Reader::Find(message->GetDescriptor(), key);
      if (field == nullptr) {
        if (options.ignore_unknown) continue;
        return absl::InvalidArgumentError(
            absl::StrCat("no field \"", key, "\" in ", message->GetTypeName()));
      }
      absl::Status read = reader.Field(item, field, message);
      if (!read.ok()) return read;
    }
    return absl::OkStatus();
  }
  std::vector<absl::string_view> segments = absl::StrSplit(path, '.');
  for (size_t i = 0; i < segments.size(); ++i) {
    const FieldDescriptor* field = Reader::Find(message->GetDescriptor(), segments[i]);
    if (field == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("no field \"", segments[i], "\" in ", message->GetTypeName()));
    }
    if (i + 1 == segments.size()) return reader.Field(value, field, message);
    if (field->cpp_type() != CppType::CPPTYPE_MESSAGE || field->is_repeated()) {
      return absl::InvalidArgumentError(absl::StrCat("field \"", segments[i], "\" of ",
                                                     message->GetTypeName(), " is not a message"));
    }
    message = message->GetReflection()->MutableMessage(message, field);
  }
  return absl::OkStatus();
}

}  // namespace fanout::gateway
