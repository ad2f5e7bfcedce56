#include "gateway/json_parse.h"

#include <charconv>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"

namespace fanout::gateway {
namespace {

using google::protobuf::Value;

// One pass over the text. Every byte is looked at a bounded number of
// times; recursion is bounded by limits.max_depth.
class Parser {
 public:
  Parser(absl::string_view text, const JsonLimits& limits) : text_(text), limits_(limits) {}

  absl::Status Parse(Value* out) {
    SkipSpace();
    if (pos_ == text_.size()) return absl::InvalidArgumentError("empty: expected a JSON value");
    if (!ParseValue(out, 0)) return error_;
    SkipSpace();
    if (pos_ != text_.size()) {
      Fail("unexpected text after the JSON value");
      return error_;
    }
    return absl::OkStatus();
  }

 private:
  // Returns false with error_ set.
  bool ParseValue(Value* out, int depth) {
    if (++elements_ > limits_.max_elements) {
      return Fail(absl::StrCat("more than ", limits_.max_elements, " values (", limits_.config_key,
                               ".max_elements)"));
    }
    if (pos_ == text_.size()) return Fail("expected a value, got the end of the text");
    switch (text_[pos_]) {
      case '{':
        return ParseObject(out, depth + 1);
      case '[':
        return ParseList(out, depth + 1);
      case '"':
        return ParseString(out->mutable_string_value());
      case 't':
        if (!Literal("true")) return false;
        out->set_bool_value(true);
        return true;
      case 'f':
        if (!Literal("false")) return false;
        out->set_bool_value(false);
        return true;
      case 'n':
        if (!Literal("null")) return false;
        out->set_null_value(google::protobuf::NULL_VALUE);
        return true;
      default:
        return ParseNumber(out);
    }
  }

  bool Deeper(int depth) {
    if (depth <= limits_.max_depth) return true;
    return Fail(absl::StrCat("nesting deeper than ", limits_.max_depth, " levels (",
                             limits_.config_key, ".max_depth)"));
  }

  bool ParseObject(Value* out, int depth) {
    if (!Deeper(depth)) return false;
    ++pos_;  // '{'
    auto* fields = out->mutable_struct_value()->mutable_fields();
    SkipSpace();
    if (Consume('}')) return true;
    std::string key;
    while (true) {
      SkipSpace();
      if (pos_ == text_.size() || text_[pos_] != '"') return Fail("expected a key (a string)");
      if (!ParseString(&key)) return false;
      SkipSpace();
      if (!Consume(':')) return Fail("expected ':' after a key");
      SkipSpace();
      Value& field = (*fields)[key];
      field.Clear();  // A repeated key: the last one wins.
      if (!ParseValue(&field, depth)) return false;
      SkipSpace();
      if (Consume('}')) return true;
      if (!Consume(',')) return Fail("expected ',' or '}' in an object");
    }
  }

  bool ParseList(Value* out, int depth) {
    if (!Deeper(depth)) return false;
    ++pos_;  // '['
    auto* values = out->mutable_list_value()->mutable_values();
    SkipSpace();
    if (Consume(']')) return true;
    while (true) {
      SkipSpace();
      if (!ParseValue(values->Add(), depth)) return false;
      SkipSpace();
      if (Consume(']')) return true;
      if (!Consume(',')) return Fail("expected ',' or ']' in an array");
    }
  }

  bool ParseString(std::string* out) {
    size_t start = pos_;
    ++pos_;  // '"'
    out->clear();
    while (true) {
      // The plain run up to the next quote, escape or control byte.
      size_t run = pos_;
      while (pos_ < text_.size()) {
        unsigned char c = text_[pos_];
        if (c == '"' || c == '\\' || c < 0x20) break;
        ++pos_;
      }
      out->append(text_.data() + run, pos_ - run);
      if (static_cast<int64_t>(out->size()) > limits_.max_string_bytes) {
        pos_ = start;
        return Fail(absl::StrCat("a string longer than ", limits_.max_string_bytes, " bytes (",
                                 limits_.config_key, ".max_string_bytes)"));
      }
      if (pos_ == text_.size()) {
        pos_ = start;
        return Fail("unterminated string");
      }
      char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        break;
      }
      if (c != '\\') return Fail("control character in a string (escape it)");
      if (!ParseEscape(out)) return false;
    }
    if (!ValidUtf8(*out)) {
      pos_ = start;
      return Fail("string is not valid UTF-8");
    }
    return true;
  }

  bool ParseEscape(std::string* out) {
    ++pos_;  // '\\'
    if (pos_ == text_.size()) return Fail("unterminated escape");
    char c = text_[pos_++];
    switch (c) {
      case '"':
      case '\\':
      case '/':
        out->push_back(c);
        return true;
      case 'b':
        out->push_back('\b');
        return true;
      case 'f':
        out->push_back('\f');
        return true;
      case 'n':
        out->push_back('\n');
        return true;
      case 'r':
        out->push_back('\r');
        return true;
      case 't':
        out->push_back('\t');
        return true;
      case 'u':
        break;
      default:
        --pos_;
        return Fail(absl::StrCat("unknown escape '\\", std::string(1, c), "'"));
    }
    uint32_t code = 0;
    if (!Hex4(&code)) return false;
    if (code >= 0xD800 && code <= 0xDBFF) {  // A high surrogate: its low half must follow.
      uint32_t low = 0;
      if (pos_ + 1 >= text_.size() || text_[pos_] != '\\' || text_[pos_ + 1] != 'u') {
        return Fail("a \\u high surrogate without its low surrogate");
      }
      pos_ += 2;
      if (!Hex4(&low)) return false;
      if (low < 0xDC00 || low > 0xDFFF) return Fail("a \\u high surrogate without its low one");
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    } else if (code >= 0xDC00 && code <= 0xDFFF) {
      return Fail("a lone \\u low surrogate");
    }
    AppendUtf8(code, out);
    return true;
  }

  bool Hex4(uint32_t* code) {
    if (text_.size() - pos_ < 4) return Fail("\\u needs four hex digits");
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_++];
      int digit = (c >= '0' && c <= '9')   ? c - '0'
                  : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                           : -1;
      if (digit < 0) return Fail("\\u needs four hex digits");
      *code = *code * 16 + digit;
    }
    return true;
  }

  static void AppendUtf8(uint32_t code, std::string* out) {
    if (code < 0x80) {
      out->push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (code >> 6)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (code >> 12)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (code >> 18)));
      out->push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }

  static bool ValidUtf8(absl::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
      unsigned char c = s[i];
      if (c < 0x80) {
        ++i;
        continue;
      }
      int n;
      uint32_t code;
      if ((c & 0xE0) == 0xC0) {
        n = 1;
        code = c & 0x1F;
      } else if ((c & 0xF0) == 0xE0) {
        n = 2;
        code = c & 0x0F;
      } else if ((c & 0xF8) == 0xF0) {
        n = 3;
        code = c & 0x07;
      } else {
        return false;
      }
      if (i + n >= s.size()) return false;  // Truncated.
      for (int k = 1; k <= n; ++k) {
        unsigned char next = s[i + k];
        if ((next & 0xC0) != 0x80) return false;
        code = (code << 6) | (next & 0x3F);
      }
      static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
      if (code < kMin[n] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
      i += n + 1;
    }
    return true;
  }

  bool ParseNumber(Value* out) {
    // RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    size_t start = pos_;
    auto digits = [&] {
      size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ - from;
    };
    Consume('-');
    if (Consume('0')) {
      if (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        return Fail("a number may not start with 0");
      }
    } else if (digits() == 0) {
      pos_ = start;
      return Fail("expected a value");
    }
    if (Consume('.') && digits() == 0) return Fail("expected digits after '.'");
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (!Consume('+')) Consume('-');
      if (digits() == 0) return Fail("expected digits in the exponent");
    }
    double number = 0;
    auto [end, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, number);
    if (ec == std::errc::result_out_of_range) {
      // Underflow (a negative exponent) reads as 0; overflow has no double.
      absl::string_view literal = text_.substr(start, pos_ - start);
      if (literal.find("e-") != absl::string_view::npos ||
          literal.find("E-") != absl::string_view::npos) {
        number = 0;
      } else {
        pos_ = start;
        return Fail("number out of range for a double");
      }
    } else if (ec != std::errc() || end != text_.data() + pos_) {
      pos_ = start;
      return Fail("malformed number");
    }
    out->set_number_value(number);
    return true;
  }

  bool Literal(absl::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return Fail("expected a value");
    pos_ += word.size();
    return true;
  }

  void SkipSpace() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return;
      ++pos_;
    }
  }

  bool Consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  // Sets error_ with the line and column of pos_; always false.
  bool Fail(absl::string_view what) {
    int line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    }
    error_ = absl::InvalidArgumentError(
        absl::StrCat("at line ", line, " column ", pos_ - line_start + 1, ": ", what));
    return false;
  }

  absl::string_view text_;
  const JsonLimits& limits_;
  size_t pos_ = 0;
  int64_t elements_ = 0;
  absl::Status error_;
};

}  // namespace

absl::StatusOr<Value> ParseJson(absl::string_view text, const JsonLimits& limits) {
  Value value;
  absl::Status parsed = Parser(text, limits).Parse(&value);
  if (!parsed.ok()) return parsed;
  return value;
}

}  // namespace fanout::gateway
