// The pieces of Prometheus' text exposition format (version 0.0.4) that the
// metrics registry writes: names checked against the grammar, escaped label
// values and HELP text, numbers as Prometheus reads them, one sample line.
//
//   std::string out;
//   prometheus::AppendSample(&out, "fanout_offload_queue_depth", {"pool"}, {"db"}, 3);
//   // out == "fanout_offload_queue_depth{pool=\"db\"} 3\n"
//
// Format: https://prometheus.io/docs/instrumenting/exposition_formats/
// Thread-safe (pure functions).
#pragma once

#include <string>
#include <string_view>

#include "absl/types/span.h"

namespace fanout::metrics::prometheus {

// The content type of a scrape answer in this format.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidMetricName(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, and not starting with "__" (reserved by Prometheus).
bool IsValidLabelName(std::string_view name);

// Shortest text that reads back as the same double; "+Inf", "-Inf", "NaN".
std::string FormatValue(double value);

// "# HELP name help\n# TYPE name type\n".
void AppendHeader(std::string* out, std::string_view name, std::string_view help,
                  std::string_view type);

// One line `name{l1="v1",...,extra_name="extra_value"} value`. `extra_name`
// (when not empty) comes last: a histogram's `le`.
void AppendSample(std::string* out, std::string_view name, absl::Span<const std::string> names,
                  absl::Span<const std::string> values, double value,
                  std::string_view extra_name = "", std::string_view extra_value = "");

}  // namespace fanout::metrics::prometheus
