// JSON string quoting: the one escaper behind every JSON text the node
// writes by hand (HTTP error bodies, the gateway's answers).
//
//   std::string out = "{\"message\":";
//   AppendJsonString(status.message(), &out);   // "user \"7\"\n" -> "user \"7\"\n" escaped
//
// Quotes, backslashes and newlines get their short escapes; other control
// characters \u00XX; everything else (UTF-8 included) is copied. Thread-safe.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace fanout {

// Appends `text` to `out` as a quoted JSON string.
void AppendJsonString(absl::string_view text, std::string* out);

}  // namespace fanout
