// The test parser of the Prometheus text format (tests/support) must accept
// what Prometheus accepts and fail on what it would reject, naming the line:
// otherwise the /metrics tests built on it could not fail.
#include "tests/support/prometheus_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/status_matchers.h"

namespace fanout::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;

TEST(PrometheusTextParserTest, ReadsFamiliesSeriesAndEscapes) {
  absl::StatusOr<PrometheusText> text = ParsePrometheusText(
      "# HELP a_total A \\\\ help\\nline.\n"
      "# TYPE a_total counter\n"
      "a_total{z=\"1\",b=\"q\\\"uote\\\\\\n\"} 2 1700000000000\n"
      "a_total 1\n"
      "\n"
      "# a comment\n"
      "# TYPE h histogram\n"
      "h_bucket{le=\"0.5\"} 1\n"
      "h_bucket{le=\"+Inf\"} 3\n"
      "h_sum 2.5e+00\n"
      "h_count 3\n"
      "untyped_thing{x=\"y\",} NaN\n");
  ASSERT_THAT(text.status(), IsOk());
  EXPECT_EQ(text->help.at("a_total"), "A \\ help\nline.");
  EXPECT_EQ(text->types.at("h"), "histogram");
  EXPECT_THAT(text->Value("a_total", {{"b", "q\"uote\\\n"}, {"z", "1"}}), Optional(2.0));
  EXPECT_EQ(text->series.count("a_total{b=\"q\\\"uote\\\\\\n\",z=\"1\"}"), 1u);
  EXPECT_THAT(text->Value("a_total"), Optional(1.0));
  EXPECT_THAT(text->Value("h_bucket", {{"le", "+Inf"}}), Optional(3.0));
  EXPECT_EQ(text->Sum("a_total"), 3);
  EXPECT_EQ(text->families, (std::vector<std::string>{"a_total", "h"}));
}

TEST(PrometheusTextParserTest, EmptyTextIsValid) {
  EXPECT_THAT(ParsePrometheusText("").status(), IsOk());
}

struct Malformed {
  const char* text;
  const char* why;  // A part of the error message.
};

class PrometheusTextRejectsTest : public ::testing::TestWithParam<Malformed> {};

TEST_P(PrometheusTextRejectsTest, NamesTheLine) {
  absl::StatusOr<PrometheusText> text = ParsePrometheusText(GetParam().text);
  ASSERT_FALSE(text.ok()) << GetParam().text;
  EXPECT_THAT(std::string(text.status().message()), HasSubstr(GetParam().why));
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, PrometheusTextRejectsTest,
    ::testing::Values(
        Malformed{"a 1", "newline"},
        Malformed{"a 1\n9b 2\n", "line 2 `9b 2`: expected a metric name"},
        Malformed{"a{x=\"1} 2\n", "line 1 `a{x=\"1} 2`: unterminated value of x"},
        Malformed{"a{x=\"\\t\"} 2\n", "bad escape \\t"}, Malformed{"a{x=1} 2\n", "expected =\""},
        Malformed{"a{x=\"1\" y=\"2\"} 2\n", "expected , or }"},
        Malformed{"a{x=\"1\",x=\"2\"} 2\n", "label x appears twice"},
        Malformed{"a{=\"1\"} 2\n", "expected a label name"}, Malformed{"a  2\n", "bad value \"\""},
        Malformed{"a one\n", "bad value \"one\""}, Malformed{"a 0x1p3\n", "bad value \"0x1p3\""},
        Malformed{"a 1 2 3\n", "at most a timestamp"}, Malformed{"a\n", "expected a space"},
        Malformed{"a 1\na 2\n", "line 2 `a 2`: a duplicate series"},
        Malformed{"a 1\nb 1\na{x=\"1\"} 1\n", "line 3 `a{x=\"1\"} 1`: the family's samples"},
        Malformed{"# TYPE a counter\n# TYPE a gauge\n", "line 2 `# TYPE a gauge`: a second TYPE"},
        Malformed{"# TYPE a countr\n", "unknown type"},
        Malformed{"# HELP a x\\y\n", "bad escape \\y in HELP"},
        Malformed{"a 1\n# TYPE a gauge\n", "HELP/TYPE after the family's samples"},
        Malformed{"# TYPE a counter\na -1\n", "a counter below zero"},
        Malformed{"# TYPE h histogram\nh 1\n", "must be _bucket, _sum or _count"},
        Malformed{"# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n", "without le"},
        Malformed{"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
                  "h: no +Inf bucket"},
        Malformed{"# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                  "h_sum 1\nh_count 1\n",
                  "buckets not cumulative"},
        Malformed{"# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
                  "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
                  "le not increasing"},
        Malformed{"# TYPE h histogram\nh_bucket{x=\"a\",le=\"+Inf\"} 2\nh_sum{x=\"a\"} 1\n"
                  "h_count{x=\"a\"} 3\n",
                  "h{x=\"a\"}: _count differs from +Inf bucket"},
        Malformed{"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n", "no _sum"}));

}  // namespace
}  // namespace fanout::testing
