#include "node/telemetry/prometheus_text.h"

#include <charconv>
#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace fanout::metrics::prometheus {
namespace {

bool IsNameStart(char c, bool colon_ok) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
}
bool IsNameChar(char c, bool colon_ok) {
  return IsNameStart(c, colon_ok) || (c >= '0' && c <= '9');
}

bool IsValidName(std::string_view name, bool colon_ok) {
  if (name.empty() || !IsNameStart(name[0], colon_ok)) return false;
  for (char c : name) {
    if (!IsNameChar(c, colon_ok)) return false;
  }
  return true;
}

// Backslash and newline escaped, and `"` too inside a label value.
void AppendEscaped(std::string* out, std::string_view text, bool escape_quote) {
  for (char c : text) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '"' && escape_quote) {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

}  // namespace

bool IsValidMetricName(std::string_view name) { return IsValidName(name, /*colon_ok=*/true); }

bool IsValidLabelName(std::string_view name) {
  return IsValidName(name, /*colon_ok=*/false) && name.substr(0, 2) != "__";
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  // Whole numbers (counts) as integers; others shortest, %g-style like Go's
  // FormatFloat, so bucket bounds read as users write them: le="0.0005".
  std::to_chars_result written =
      std::abs(value) < 1e15 && value == std::trunc(value)
          ? std::to_chars(buffer, buffer + sizeof(buffer), static_cast<int64_t>(value))
          : std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::general);
  return written.ec == std::errc() ? std::string(buffer, written.ptr) : absl::StrCat(value);
}

void AppendHeader(std::string* out, std::string_view name, std::string_view help,
                  std::string_view type) {
  out->append("# HELP ").append(name).append(" ");
  AppendEscaped(out, help, /*escape_quote=*/false);
  out->append("\n# TYPE ").append(name).append(" ").append(type).append("\n");
}

void AppendSample(std::string* out, std::string_view name, absl::Span<const std::string> names,
                  absl::Span<const std::string> values, double value, std::string_view extra_name,
                  std::string_view extra_value) {
  out->append(name);
  if (!names.empty() || !extra_name.empty()) {
    char separator = '{';
    auto append_label = [&](std::string_view label, std::string_view value) {
      out->push_back(separator);
      out->append(label).append("=\"");
      AppendEscaped(out, value, /*escape_quote=*/true);
      out->push_back('"');
      separator = ',';
    };
    for (size_t i = 0; i < names.size() && i < values.size(); ++i)
      append_label(names[i], values[i]);
    if (!extra_name.empty()) append_label(extra_name, extra_value);
    out->push_back('}');
  }
  out->append(" ").append(FormatValue(value)).append("\n");
}

}  // namespace fanout::metrics::prometheus
