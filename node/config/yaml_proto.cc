#include "node/config/yaml_proto.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fanout {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : absl::StrCat(path, ".", key);
}

absl::Status Wrong(const std::string& path, std::string_view expected, const YAML::Node& node) {
  std::string got = node.IsScalar()     ? absl::StrCat("\"", node.Scalar(), "\"")
                    : node.IsSequence() ? "a list"
                    : node.IsMap()      ? "a mapping"
                                        : "nothing";
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": expected ", std::string(expected), ", got ", got));
}

absl::Status SetMessage(const YAML::Node& node, const std::string& path, Message* message);

// Well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF): what a proto3 string must hold, or it neither serializes nor
// prints as JSON intact.
bool IsUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
    unsigned char c = byte(i);
    size_t length = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xE  ? 3
                    : (c >> 3) == 0x1E ? 4
                                       : 0;
    if (length == 0 || i + length > text.size()) return false;
    uint32_t code = length == 1 ? c : c & (0x7F >> length);
    for (size_t k = 1; k < length; ++k) {
      if ((byte(i + k) & 0xC0) != 0x80) return false;
      code = code << 6 | (byte(i + k) & 0x3F);
    }
    constexpr uint32_t kLeast[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kLeast[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

// One scalar into a singular field (`repeated` false) or appended to a
// repeated one.
absl::Status SetScalar(const YAML::Node& node, const std::string& path, const FieldDescriptor* f,
                       Message* message) {
  const Reflection* r = message->GetReflection();
  bool rep = f->is_repeated();
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    Message* child = rep ? r->AddMessage(message, f) : r->MutableMessage(message, f);
    return SetMessage(node, path, child);
  }
  if (!node.IsScalar()) return Wrong(path, "a single value", node);
  const std::string& text = node.Scalar();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      if (f->type() == FieldDescriptor::TYPE_STRING && !IsUtf8(text)) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": expected UTF-8 text, got \"", absl::CHexEscape(text), "\""));
      }
      rep ? r->AddString(message, f, text) : r->SetString(message, f, text);
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_BOOL: {
      std::string lower = absl::AsciiStrToLower(text);
      if (lower != "true" && lower != "false") return Wrong(path, "true or false", node);
      rep ? r->AddBool(message, f, lower == "true") : r->SetBool(message, f, lower == "true");
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(text, &v)) return Wrong(path, "a 32-bit integer", node);
      rep ? r->AddInt32(message, f, v) : r->SetInt32(message, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!absl::SimpleAtoi(text, &v)) return Wrong(path, "an integer", node);
      rep ? r->AddInt64(message, f, v) : r->SetInt64(message, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v;
      if (!absl::SimpleAtoi(text, &v)) return Wrong(path, "a non-negative 32-bit integer", node);
      rep ? r->AddUInt32(message, f, v) : r->SetUInt32(message, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v;
      if (!absl::SimpleAtoi(text, &v)) return Wrong(path, "a non-negative integer", node);
      rep ? r->AddUInt64(message, f, v) : r->SetUInt64(message, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      double v;
      if (!absl::SimpleAtod(text, &v) || !std::isfinite(v)) return Wrong(path, "a number", node);
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
        rep ? r->AddDouble(message, f, v) : r->SetDouble(message, f, v);
      } else {
        rep ? r->AddFloat(message, f, static_cast<float>(v))
            : r->SetFloat(message, f, static_cast<float>(v));
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* value = f->enum_type()->FindValueByName(absl::AsciiStrToUpper(text));
      if (value == nullptr) {
        std::vector<std::string> names;
        for (int i = 0; i < f->enum_type()->value_count(); ++i) {
          names.push_back(absl::AsciiStrToLower(f->enum_type()->value(i)->name()));
        }
        return Wrong(path, absl::StrCat("one of ", absl::StrJoin(names, ", ")), node);
      }
      rep ? r->AddEnum(message, f, value) : r->SetEnum(message, f, value);
      return absl::OkStatus();
    }
    default:
      return absl::InternalError(absl::StrCat(path, ": unsupported field type"));
  }
}

// A proto map: a YAML mapping whose keys become the entries' keys.
absl::Status SetMap(const YAML::Node& node, const std::string& path, const FieldDescriptor* f,
                    Message* message) {
  if (!node.IsMap()) return Wrong(path, "a mapping", node);
  const Reflection* r = message->GetReflection();
  const FieldDescriptor* key_field = f->message_type()->map_key();
  const FieldDescriptor* value_field = f->message_type()->map_value();
  std::set<std::string> seen;
  for (const auto& item : node) {
    std::string key = item.first.Scalar();
    std::string entry_path = Join(path, key);
    if (!seen.insert(key).second) {
      return absl::InvalidArgumentError(absl::StrCat(entry_path, ": key appears twice"));
    }
    // A key the message already holds (a default) is written over, not added
    // again: through reflection a map is a list, and a second entry of one
    // key would serialize twice.
    Message* entry = nullptr;
    if (key_field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      for (int i = 0; i < r->FieldSize(*message, f) && entry == nullptr; ++i) {
        Message* existing = r->MutableRepeatedMessage(message, f, i);
        if (existing->GetReflection()->GetString(*existing, key_field) == key) entry = existing;
      }
    }
    if (entry == nullptr) entry = r->AddMessage(message, f);
    if (absl::Status s = SetScalar(item.first, entry_path, key_field, entry); !s.ok()) return s;
    if (absl::Status s = SetScalar(item.second, entry_path, value_field, entry); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status SetField(const YAML::Node& value, const std::string& path, const FieldDescriptor* f,
                      Message* message) {
  if (f->is_map()) return SetMap(value, path, f, message);
  if (!f->is_repeated()) return SetScalar(value, path, f, message);
  if (!value.IsSequence()) return Wrong(path, "a list", value);
  for (size_t i = 0; i < value.size(); ++i) {
    absl::Status s = SetScalar(value[i], absl::StrCat(path, "[", i, "]"), f, message);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status SetMessage(const YAML::Node& node, const std::string& path, Message* message) {
  if (node.IsNull()) return absl::OkStatus();
  if (!node.IsMap()) return Wrong(path.empty() ? "(top level)" : path, "a mapping", node);
  const Descriptor* d = message->GetDescriptor();
  std::set<std::string> seen;
  for (const auto& item : node) {
    std::string key = item.first.Scalar();
    if (!seen.insert(key).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(path.empty() ? "(top level)" : path, ": key \"", key, "\" appears twice"));
    }
    const FieldDescriptor* f = d->FindFieldByName(key);
    if (f == nullptr) f = d->FindFieldByCamelcaseName(key);
    if (f == nullptr) {
      std::vector<std::string> known;
      for (int i = 0; i < d->field_count(); ++i) known.push_back(d->field(i)->name());
      return absl::InvalidArgumentError(
          absl::StrCat(path.empty() ? "(top level)" : path, ": unknown key \"", key,
                       "\" (known: ", absl::StrJoin(known, ", "), ")"));
    }
    if (item.second.IsNull()) continue;  // "key:" with no value keeps the default.
    absl::Status s = SetField(item.second, Join(path, key), f, message);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status YamlToMessage(const YAML::Node& node, Message* message) {
  return SetMessage(node, "", message);
}

absl::Status YamlTextToMessage(std::string_view text, std::string_view source, Message* message) {
  YAML::Node node;
  try {
    node = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(source),
                                                   ": YAML syntax error at line ", e.mark.line + 1,
                                                   ", column ", e.mark.column + 1, ": ", e.msg));
  }
  absl::Status status = YamlToMessage(node, message);
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(std::string(source), ": ", status.message()));
}

absl::Status YamlFileToMessage(const std::string& path, Message* message) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("config file ", path, ": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  return YamlTextToMessage(text.str(), path, message);
}

}  // namespace fanout
