// libFuzzer target: W3C traceparent parsing (node/telemetry/trace_context.h).
// The input is the traceparent header, then optionally '\n' and tracestate.
//
// Properties: what parses has non-zero ids and prints back, as version 00,
// into a header that parses to the same ids and flags; a version-00 header
// prints back byte for byte; tracestate is carried unchanged. What does not
// parse is refused without a crash.
//
// Fuzz for real:  bash tests/fuzz/fuzz.sh traceparent build 600
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "node/telemetry/trace_context.h"
#include "tests/fuzz/fuzz_target.h"

namespace fanout::fuzz {

int FuzzTraceparent(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t newline = input.find('\n');
  std::string_view header = input.substr(0, newline);
  std::string_view state = newline == std::string_view::npos ? "" : input.substr(newline + 1);
  std::optional<trace::SpanContext> context = trace::ParseTraceparent(header, state);
  if (!context) return 0;
  auto broken = [&](const char* what, const std::string& detail) {
    Broken("traceparent", what, std::string(header) + " -> " + detail);
  };
  if (!context->valid()) broken("a parsed context has an all-zero id", "");
  if (context->tracestate != state) broken("tracestate changed", context->tracestate);
  std::string printed = trace::FormatTraceparent(*context);
  if (header.substr(0, 2) == "00" && printed != header)
    broken("version 00 does not round-trip", printed);
  std::optional<trace::SpanContext> again = trace::ParseTraceparent(printed);
  if (!again) broken("the printed header does not parse", printed);
  if (again->trace_id != context->trace_id || again->span_id != context->span_id ||
      again->flags != context->flags) {
    broken("the printed header parses to other ids or flags", printed);
  }
  return 0;
}

}  // namespace fanout::fuzz

FANOUT_FUZZ_ENTRY(fanout::fuzz::FuzzTraceparent)
