// The metrics registry: what each type renders, escaping, order, reuse of a
// name, callbacks coming and going, and exact sums under concurrency.
#include "node/telemetry/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <thread>
#include <vector>

#include "node/telemetry/prometheus_text.h"
#include "tests/support/metrics_scrape.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/status_matchers.h"

namespace fanout::metrics {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::ParsedOrEmpty;
using ::fanout::testing::ParsePrometheusText;
using ::fanout::testing::PrometheusText;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;

PrometheusText Parse(const Registry& registry) { return ParsedOrEmpty(registry.Render()); }

TEST(MetricsTest, CounterRendersHelpTypeAndOneLinePerChild) {
  Registry registry;
  Family<Counter>& calls = registry.AddCounter("calls_total", "Calls made.", {"method", "code"});
  calls.With({"Get", "OK"}).Increment();
  calls.With({"Get", "OK"}).Increment(2);
  calls.With({"Put", "UNAVAILABLE"}).Increment();
  EXPECT_EQ(registry.Render(),
            "# HELP calls_total Calls made.\n"
            "# TYPE calls_total counter\n"
            "calls_total{method=\"Get\",code=\"OK\"} 3\n"
            "calls_total{method=\"Put\",code=\"UNAVAILABLE\"} 1\n");
  EXPECT_EQ(calls.With({"Get", "OK"}).value(), 3);
}

TEST(MetricsTest, UnlabelledMetricIsRenderedAsZeroBeforeFirstUse) {
  Registry registry;
  registry.AddCounter("started_total", "Starts.");
  registry.AddGauge("temperature", "Degrees.");
  PrometheusText text = Parse(registry);
  EXPECT_THAT(text.Value("started_total"), Optional(0.0));
  EXPECT_THAT(text.Value("temperature"), Optional(0.0));
}

TEST(MetricsTest, GaugeSetsAndAdds) {
  Registry registry;
  Gauge& depth = registry.AddGauge("queue_depth", "Queued.", {"queue"}).With({"a"});
  depth.Set(5);
  depth.Add(-1.5);
  EXPECT_EQ(depth.value(), 3.5);
  EXPECT_THAT(Parse(registry).Value("queue_depth", {{"queue", "a"}}), Optional(3.5));
  EXPECT_EQ(Parse(registry).types.at("queue_depth"), "gauge");
}

TEST(MetricsTest, HistogramRendersCumulativeBucketsSumAndCount) {
  Registry registry;
  Histogram& h = registry.AddHistogram("op_seconds", "Op time.", {"op"}, {0.1, 1}).With({"read"});
  h.Observe(0.05);
  h.Observe(0.1);  // Bounds are inclusive (le).
  h.Observe(0.5);
  h.Observe(7);
  EXPECT_EQ(registry.Render(),
            "# HELP op_seconds Op time.\n"
            "# TYPE op_seconds histogram\n"
            "op_seconds_bucket{op=\"read\",le=\"0.1\"} 2\n"
            "op_seconds_bucket{op=\"read\",le=\"1\"} 3\n"
            "op_seconds_bucket{op=\"read\",le=\"+Inf\"} 4\n"
            "op_seconds_sum{op=\"read\"} 7.65\n"
            "op_seconds_count{op=\"read\"} 4\n");
  EXPECT_EQ(h.count(), 4u);
  EXPECT_DOUBLE_EQ(h.sum(), 7.65);
}

TEST(MetricsTest, LatencyBucketsSpanHalfAMillisecondToTenSeconds) {
  std::vector<double> buckets = LatencyBuckets();
  ASSERT_FALSE(buckets.empty());
  EXPECT_EQ(buckets.front(), 0.0005);
  EXPECT_EQ(buckets.back(), 10);
  EXPECT_TRUE(std::is_sorted(buckets.begin(), buckets.end()));
  EXPECT_GE(buckets.size(), 12u);
  EXPECT_LE(buckets.size(), 16u);
}

TEST(MetricsTest, LabelValuesAndHelpAreEscaped) {
  Registry registry;
  registry.AddCounter("odd_total", "Back\\slash and\nnewline; \"quotes\" stay.", {"path"})
      .With({"C:\\dir\n\"x\""})
      .Increment();
  std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# HELP odd_total Back\\\\slash and\\nnewline; \"quotes\" stay.\n"));
  EXPECT_THAT(text, HasSubstr("odd_total{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n"));
  PrometheusText parsed = Parse(registry);
  EXPECT_THAT(parsed.Value("odd_total", {{"path", "C:\\dir\n\"x\""}}), Optional(1.0));
  EXPECT_EQ(parsed.help.at("odd_total"), "Back\\slash and\nnewline; \"quotes\" stay.");
}

TEST(MetricsTest, FamiliesAreSortedByNameAndSeriesByLabelValues) {
  Registry registry;
  registry.AddGauge("zeta", "z.");
  registry.AddCounter("alpha_total", "a.", {"k"}).With({"b"}).Increment();
  registry.AddCounter("alpha_total", "a.", {"k"}).With({"a"}).Increment();
  registry.AddHistogram("mid_seconds", "m.");
  PrometheusText text = Parse(registry);
  EXPECT_THAT(text.families, ElementsAre("alpha_total", "mid_seconds", "zeta"));
  EXPECT_EQ(text.samples[0].labels.at("k"), "a");
  EXPECT_EQ(text.samples[1].labels.at("k"), "b");
}

TEST(MetricsTest, SameNameReturnsTheSameFamilyAndChildrenAreStable) {
  Registry registry;
  Family<Counter>& first = registry.AddCounter("hits_total", "Hits.", {"route"});
  Counter& child = first.With({"/a"});
  for (int i = 0; i < 1000; ++i) first.With({std::to_string(i)});  // Rehash the map.
  Family<Counter>& again = registry.AddCounter("hits_total", "Hits.", {"route"});
  EXPECT_EQ(&first, &again);
  EXPECT_EQ(&again.With({"/a"}), &child);
  std::vector<std::string_view> values = {"/a"};
  EXPECT_EQ(&again.With(absl::MakeConstSpan(values)), &child);
}

TEST(MetricsDeathTest, MisuseAbortsNamingTheMetric) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Registry registry;
  Family<Counter>& counter = registry.AddCounter("requests_total", "R.", {"code"});
  EXPECT_DEATH(registry.AddGauge("requests_total", "R."), "\"requests_total\".*counter");
  EXPECT_DEATH(registry.AddCounter("requests_total", "R.", {"method"}),
               "\"requests_total\".*labels \\(code\\)");
  EXPECT_DEATH(counter.With({"OK", "extra"}), "\"requests_total\": expects 1 label value");
  EXPECT_DEATH(registry.AddCounter("bad-name", "B."), "\"bad-name\": not a valid");
  EXPECT_DEATH(registry.AddGauge("g", "G.", {"__reserved"}), "\"g\": label \"__reserved\"");
  EXPECT_DEATH(registry.AddHistogram("h_seconds", "H.", {}, {1, 0.5}), "strictly increasing");
  EXPECT_DEATH(registry.AddHistogram("h_seconds", "H.", {"le"}), "\"le\" is reserved");
}

TEST(MetricsTest, CallbacksShareANameAndAddUpEqualSeries) {
  Registry registry;
  auto depth = [](std::string pool, double value) {
    return [pool, value] { return std::vector<Sample>{{{pool}, value}}; };
  };
  CallbackHandle a =
      registry.AddCallback("pool_depth", "Depth.", Type::kGauge, {"pool"}, depth("db", 2));
  CallbackHandle b =
      registry.AddCallback("pool_depth", "Depth.", Type::kGauge, {"pool"}, depth("db", 3));
  CallbackHandle c =
      registry.AddCallback("pool_depth", "Depth.", Type::kGauge, {"pool"}, depth("cpu", 1));
  EXPECT_EQ(registry.Render(),
            "# HELP pool_depth Depth.\n"
            "# TYPE pool_depth gauge\n"
            "pool_depth{pool=\"cpu\"} 1\n"
            "pool_depth{pool=\"db\"} 5\n");
}

TEST(MetricsTest, DestroyedCallbackHandleUnregisters) {
  Registry registry;
  int reads = 0;
  {
    CallbackHandle handle =
        registry.AddCallback("things_total", "Things.", Type::kCounter, {}, [&reads] {
          ++reads;
          return std::vector<Sample>{{{}, 7}};
        });
    EXPECT_THAT(Parse(registry).Value("things_total"), Optional(7.0));
    CallbackHandle moved = std::move(handle);  // Moving keeps it registered once.
    EXPECT_FALSE(handle.registered());  // NOLINT(bugprone-use-after-move): the point of the test
    EXPECT_THAT(Parse(registry).Value("things_total"), Optional(7.0));
    EXPECT_EQ(reads, 2);
  }
  PrometheusText text = Parse(registry);
  EXPECT_EQ(text.Value("things_total"), std::nullopt);
  EXPECT_EQ(reads, 2);
  EXPECT_EQ(text.types.at("things_total"), "counter");
}

TEST(MetricsTest, ConcurrentUpdatesSumExactly) {
  Registry registry;
  Family<Counter>& counters = registry.AddCounter("work_total", "Work.", {"worker"});
  Family<Histogram>& histograms = registry.AddHistogram("work_seconds", "Work.", {"kind"});
  Gauge& gauge = registry.AddGauge("level", "Level.").With({});
  constexpr int kThreads = 4;
  constexpr int kIterations = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        // Shared and per-thread children, found and created concurrently.
        counters.With({"shared"}).Increment();
        counters.With({std::to_string(i % 50)}).Increment();
        histograms.With({t % 2 == 0 ? "even" : "odd"}).Observe(0.25);
        gauge.Add(1);
      }
    });
  }
  // A scrape while the writers run: still well-formed.
  EXPECT_THAT(ParsePrometheusText(registry.Render()).status(), IsOk());
  for (auto& thread : threads) thread.join();
  PrometheusText text = Parse(registry);
  EXPECT_THAT(text.Value("work_total", {{"worker", "shared"}}), Optional(kThreads * kIterations));
  EXPECT_EQ(text.Sum("work_total"), 2.0 * kThreads * kIterations);
  EXPECT_EQ(text.Sum("work_seconds_count"), kThreads * kIterations);
  EXPECT_EQ(text.Sum("work_seconds_sum"), 0.25 * kThreads * kIterations);
  EXPECT_EQ(gauge.value(), kThreads * kIterations);
}

TEST(MetricsTest, DefaultRegistryIsOneRegistry) {
  EXPECT_EQ(&DefaultRegistry(), &DefaultRegistry());
}

TEST(PrometheusTextTest, NamesFollowTheGrammar) {
  EXPECT_TRUE(prometheus::IsValidMetricName("fanout:rpc_seconds"));
  EXPECT_FALSE(prometheus::IsValidMetricName("9lives"));
  EXPECT_FALSE(prometheus::IsValidMetricName(""));
  EXPECT_TRUE(prometheus::IsValidLabelName("_loop"));
  EXPECT_FALSE(prometheus::IsValidLabelName("a:b"));
  EXPECT_FALSE(prometheus::IsValidLabelName("__name__"));
}

TEST(PrometheusTextTest, ValuesReadBackExactly) {
  EXPECT_EQ(prometheus::FormatValue(0.0005), "0.0005");
  EXPECT_EQ(prometheus::FormatValue(0.25), "0.25");
  EXPECT_EQ(prometheus::FormatValue(2.5), "2.5");
  EXPECT_EQ(prometheus::FormatValue(3), "3");
  EXPECT_EQ(prometheus::FormatValue(1000000), "1000000");
  EXPECT_EQ(prometheus::FormatValue(-2), "-2");
  EXPECT_EQ(prometheus::FormatValue(1234.5), "1234.5");
  EXPECT_EQ(prometheus::FormatValue(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(prometheus::FormatValue(1e21), "1e+21");
  constexpr double kInf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(prometheus::FormatValue(kInf), "+Inf");
  EXPECT_EQ(prometheus::FormatValue(-kInf), "-Inf");
  EXPECT_EQ(prometheus::FormatValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

}  // namespace
}  // namespace fanout::metrics
