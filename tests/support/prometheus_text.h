// A strict parser of Prometheus' text exposition format (0.0.4), for tests
// of what /metrics serves: every line must parse, and histograms must be
// self-consistent, or the parse fails with a message naming the line.
//
//   absl::StatusOr<PrometheusText> text = ParsePrometheusText(registry.Render());
//   ASSERT_THAT(text.status(), IsOk());
//   EXPECT_EQ(text->Value("fanout_offload_rejected_total", {{"pool", "db"}}), 3);
//   EXPECT_EQ(text->types.at("fanout_loop_lag_seconds"), "histogram");
//
// Series are keyed `name{a="1",b="2"}`: labels sorted by name, values
// escaped as on the wire; a series without labels is just `name`.
//
// Checked: HELP/TYPE syntax and at most one of each per family, TYPE before
// the family's samples, a family's samples together, metric and label names,
// label value escapes (only \\, \" and \n), duplicate labels and series,
// values (floats, +Inf, -Inf, NaN), counters not negative; histograms: `le`
// on every _bucket, buckets cumulative (non-decreasing in `le`), a +Inf
// bucket equal to _count, and a _sum. Not thread-safe (plain values).
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace fanout::testing {

using PrometheusLabels = std::map<std::string, std::string>;

// `name{a="1",b="2"}` from unescaped label values.
inline std::string PrometheusSeriesKey(absl::string_view name, const PrometheusLabels& labels) {
  std::string key(name);
  if (labels.empty()) return key;
  key += '{';
  bool first = true;
  for (const auto& [label, value] : labels) {
    if (!first) key += ',';
    first = false;
    absl::StrAppend(&key, label, "=\"");
    for (char c : value) {
      if (c == '\\') {
        key += "\\\\";
      } else if (c == '"') {
        key += "\\\"";
      } else if (c == '\n') {
        key += "\\n";
      } else {
        key += c;
      }
    }
    key += '"';
  }
  key += '}';
  return key;
}

struct PrometheusSample {
  std::string name;  // As written: `x_bucket` for a histogram's bucket.
  PrometheusLabels labels;
  double value = 0;
};

struct PrometheusText {
  std::map<std::string, double> series;      // PrometheusSeriesKey -> value
  std::vector<PrometheusSample> samples;     // In the order written.
  std::map<std::string, std::string> types;  // family -> counter, gauge, histogram, ...
  std::map<std::string, std::string> help;   // family -> help text, unescaped
  std::vector<std::string> families;         // In the order first seen.

  std::optional<double> Value(absl::string_view name, const PrometheusLabels& labels = {}) const {
    auto it = series.find(PrometheusSeriesKey(name, labels));
    if (it == series.end()) return std::nullopt;
    return it->second;
  }
  // Sum over the series of `name` whose labels include `labels`; 0 if none.
  double Sum(absl::string_view name, const PrometheusLabels& labels = {}) const {
    double total = 0;
    for (const PrometheusSample& sample : samples) {
      if (sample.name != name) continue;
      bool match = true;
      for (const auto& [label, value] : labels) {
        auto it = sample.labels.find(label);
        match = match && it != sample.labels.end() && it->second == value;
      }
      if (match) total += sample.value;
    }
    return total;
  }
  // How far series `name{labels}` moved since `before` (absent counts as 0):
  // counters live as long as the process, so tests compare two scrapes.
  double Delta(const PrometheusText& before, absl::string_view name,
               const PrometheusLabels& labels = {}) const {
    return Value(name, labels).value_or(0) - before.Value(name, labels).value_or(0);
  }
};

namespace prometheus_internal {

inline bool IsNameChar(char c, bool first, bool colon_ok) {
  bool letter =
      (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
  return letter || (!first && c >= '0' && c <= '9');
}

// Consumes a name from the front of `text`; empty when there is none.
inline absl::string_view TakeName(absl::string_view* text, bool colon_ok) {
  size_t n = 0;
  while (n < text->size() && IsNameChar((*text)[n], n == 0, colon_ok)) ++n;
  absl::string_view name = text->substr(0, n);
  text->remove_prefix(n);
  return name;
}

inline bool IsValidName(absl::string_view name, bool colon_ok) {
  absl::string_view rest = name;
  return !TakeName(&rest, colon_ok).empty() && rest.empty();
}

inline std::optional<double> ParseValue(absl::string_view text) {
  // Go's ParseFloat, as Prometheus uses it: decimal, Inf and NaN in any case.
  if (text.empty() || absl::StrContains(text, "x") || absl::StrContains(text, "X") ||
      absl::StrContains(text, "(")) {
    return std::nullopt;
  }
  std::string copy(text);
  char* end = nullptr;
  double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return value;
}

// The family a sample belongs to: `x` for `x_bucket`, `x_sum`, `x_count`
// when `x` is a declared histogram (or summary).
inline std::string FamilyOf(const std::string& sample_name,
                            const std::map<std::string, std::string>& types) {
  for (absl::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (!absl::EndsWith(sample_name, suffix) || sample_name.size() == suffix.size()) continue;
    std::string base = sample_name.substr(0, sample_name.size() - suffix.size());
    auto it = types.find(base);
    if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
  }
  return sample_name;
}

// Parses `{a="x",b="y"}` (the braces included) from the front of `text`.
inline absl::Status ParseLabels(absl::string_view* text, PrometheusLabels* labels) {
  text->remove_prefix(1);  // '{'
  for (;;) {
    if (!text->empty() && text->front() == '}') break;
    absl::string_view label = TakeName(text, /*colon_ok=*/false);
    if (label.empty()) return absl::InvalidArgumentError("expected a label name");
    if (text->size() < 2 || text->substr(0, 2) != "=\"") {
      return absl::InvalidArgumentError(absl::StrCat("expected =\" after label ", label));
    }
    text->remove_prefix(2);
    std::string value;
    bool closed = false;
    while (!text->empty()) {
      char c = text->front();
      text->remove_prefix(1);
      if (c == '"') {
        closed = true;
        break;
      }
      if (c == '\n') return absl::InvalidArgumentError("raw newline in a label value");
      if (c != '\\') {
        value += c;
        continue;
      }
      if (text->empty()) break;
      char escaped = text->front();
      text->remove_prefix(1);
      if (escaped == '\\') {
        value += '\\';
      } else if (escaped == '"') {
        value += '"';
      } else if (escaped == 'n') {
        value += '\n';
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("bad escape \\", std::string(1, escaped), " in label ", label));
      }
    }
    if (!closed) return absl::InvalidArgumentError(absl::StrCat("unterminated value of ", label));
    if (!labels->emplace(std::string(label), std::move(value)).second) {
      return absl::InvalidArgumentError(absl::StrCat("label ", label, " appears twice"));
    }
    if (!text->empty() && text->front() == ',') {
      text->remove_prefix(1);
      continue;
    }
    if (text->empty() || text->front() != '}') {
      return absl::InvalidArgumentError("expected , or } after a label value");
    }
  }
  text->remove_prefix(1);  // '}'
  return absl::OkStatus();
}

inline absl::StatusOr<PrometheusSample> ParseSampleLine(absl::string_view line) {
  PrometheusSample sample;
  sample.name = std::string(TakeName(&line, /*colon_ok=*/true));
  if (sample.name.empty()) return absl::InvalidArgumentError("expected a metric name");
  if (!line.empty() && line.front() == '{') {
    absl::Status labels = ParseLabels(&line, &sample.labels);
    if (!labels.ok()) return labels;
  }
  if (line.empty() || line.front() != ' ') {
    return absl::InvalidArgumentError("expected a space before the value");
  }
  line.remove_prefix(1);
  std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
  if (fields.empty() || fields.size() > 2) {
    return absl::InvalidArgumentError("expected a value and at most a timestamp");
  }
  std::optional<double> value = ParseValue(fields[0]);
  if (!value) return absl::InvalidArgumentError(absl::StrCat("bad value \"", fields[0], "\""));
  sample.value = *value;
  if (fields.size() == 2 && !ParseValue(fields[1])) {
    return absl::InvalidArgumentError(absl::StrCat("bad timestamp \"", fields[1], "\""));
  }
  return sample;
}

inline absl::StatusOr<std::string> UnescapeHelp(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    if (++i == text.size()) return absl::InvalidArgumentError("HELP ends in a backslash");
    if (text[i] == '\\') {
      out += '\\';
    } else if (text[i] == 'n') {
      out += '\n';
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("bad escape \\", std::string(1, text[i]), " in HELP"));
    }
  }
  return out;
}

// Buckets cumulative, +Inf == _count, _sum present; per label set.
inline absl::Status CheckHistogram(const std::string& family, const PrometheusText& text) {
  struct Series {
    std::vector<std::pair<double, double>> buckets;  // (le, value) in written order
    std::optional<double> count, sum;
  };
  std::map<PrometheusLabels, Series> by_labels;
  for (const PrometheusSample& sample : text.samples) {
    if (FamilyOf(sample.name, text.types) != family) continue;
    PrometheusLabels labels = sample.labels;
    if (sample.name == family + "_bucket") {
      auto le = labels.find("le");
      if (le == labels.end()) {
        return absl::InvalidArgumentError(absl::StrCat(family, "_bucket without le"));
      }
      std::optional<double> bound = ParseValue(le->second);
      if (!bound) return absl::InvalidArgumentError(absl::StrCat(family, ": bad le ", le->second));
      labels.erase(le);
      by_labels[labels].buckets.emplace_back(*bound, sample.value);
    } else if (sample.name == family + "_count") {
      by_labels[labels].count = sample.value;
    } else if (sample.name == family + "_sum") {
      by_labels[labels].sum = sample.value;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(family, ": stray sample ", sample.name));
    }
  }
  for (const auto& [labels, series] : by_labels) {
    std::string where = PrometheusSeriesKey(family, labels);
    if (series.buckets.empty() || !std::isinf(series.buckets.back().first)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": no +Inf bucket (last)"));
    }
    for (size_t i = 1; i < series.buckets.size(); ++i) {
      if (series.buckets[i].first <= series.buckets[i - 1].first) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": le not increasing"));
      }
      if (series.buckets[i].second < series.buckets[i - 1].second) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": buckets not cumulative"));
      }
    }
    if (!series.count || *series.count != series.buckets.back().second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": _count differs from +Inf bucket"));
    }
    if (!series.sum) return absl::InvalidArgumentError(absl::StrCat(where, ": no _sum"));
  }
  return absl::OkStatus();
}

}  // namespace prometheus_internal

inline absl::StatusOr<PrometheusText> ParsePrometheusText(absl::string_view input) {
  namespace pi = prometheus_internal;
  PrometheusText text;
  if (!input.empty() && input.back() != '\n') {
    return absl::InvalidArgumentError("the text does not end with a newline");
  }
  std::set<std::string> finished;  // Families whose samples are over.
  std::string current;             // The family of the last sample.
  int number = 0;
  for (absl::string_view line :
       absl::StrSplit(input.substr(0, input.size() - !input.empty()), '\n')) {
    ++number;
    auto fail = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("line ", number, " `", line, "`: ", why));
    };
    if (input.empty() || line.empty()) continue;
    if (line.front() == '#') {
      std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(' ', 3));
      if (parts.size() < 2 || (parts[1] != "HELP" && parts[1] != "TYPE")) continue;  // A comment.
      if (parts[0] != "#" || parts.size() < 3 || !pi::IsValidName(parts[2], true)) {
        return fail("expected `# HELP name text` or `# TYPE name type`");
      }
      std::string family(parts[2]);
      if (finished.count(family) || current == family) {
        return fail("HELP/TYPE after the family's samples");
      }
      absl::string_view rest = parts.size() == 4 ? parts[3] : "";
      if (parts[1] == "HELP") {
        absl::StatusOr<std::string> help = pi::UnescapeHelp(rest);
        if (!help.ok()) return fail(help.status().message());
        if (!text.help.emplace(family, *help).second) return fail("a second HELP");
      } else {
        static const std::set<absl::string_view> kTypes = {"counter", "gauge", "histogram",
                                                           "summary", "untyped"};
        if (!kTypes.count(rest)) return fail("unknown type");
        if (!text.types.emplace(family, std::string(rest)).second) return fail("a second TYPE");
      }
      if (text.families.empty() || text.families.back() != family) text.families.push_back(family);
      continue;
    }
    absl::StatusOr<PrometheusSample> sample = pi::ParseSampleLine(line);
    if (!sample.ok()) return fail(sample.status().message());
    std::string family = pi::FamilyOf(sample->name, text.types);
    if (family != current) {
      if (finished.count(family)) return fail("the family's samples are not together");
      if (!current.empty()) finished.insert(current);
      current = family;
    }
    auto type = text.types.find(family);
    if (type != text.types.end() && type->second == "counter" && !(sample->value >= 0)) {
      return fail("a counter below zero");
    }
    if (type != text.types.end() && type->second == "histogram" && sample->name == family) {
      return fail("a histogram sample must be _bucket, _sum or _count");
    }
    std::string key = PrometheusSeriesKey(sample->name, sample->labels);
    if (!text.series.emplace(key, sample->value).second) return fail("a duplicate series");
    text.samples.push_back(*std::move(sample));
  }
  for (const auto& [family, type] : text.types) {
    if (type != "histogram") continue;
    absl::Status histogram = pi::CheckHistogram(family, text);
    if (!histogram.ok()) return histogram;
  }
  return text;
}

}  // namespace fanout::testing
