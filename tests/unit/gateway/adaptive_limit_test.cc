// AdaptiveLimit on a manual clock: it measures the minimum latency at the
// floor, grows while latency stays near it, is cut when latency rises,
// grows back when it falls, and measures the minimum again on schedule.
#include "gateway/adaptive_limit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace fanout::gateway {
namespace {

class AdaptiveLimitTest : public ::testing::Test {
 protected:
  AdaptiveLimit::Options Options() {
    return {.min_limit = 4,
            .max_limit = 100,
            .initial_limit = 20,
            .tolerance = 0.5,
            .window = absl::Milliseconds(100),
            .min_window_samples = 3,
            .min_rtt_interval = absl::Seconds(30),
            .min_rtt_samples = 5,
            .clock = &clock_};
  }
  // `n` calls that each took `latency`, answered now, each beside
  // `in_flight` calls in all (unset: as many as the limit allows, callers
  // using all of it).
  std::optional<int64_t> Calls(AdaptiveLimit& limit, int n, absl::Duration latency,
                               std::optional<int64_t> in_flight = std::nullopt) {
    std::optional<int64_t> changed;
    for (int i = 0; i < n; ++i) {
      if (auto now = limit.Record(clock_.Now() - latency, in_flight.value_or(limit.limit())))
        changed = now;
    }
    return changed;
  }
  // One window of `latency`: the window's time passes, then three calls end.
  std::optional<int64_t> Window(AdaptiveLimit& limit, absl::Duration latency,
                                std::optional<int64_t> in_flight = std::nullopt) {
    clock_.Advance(absl::Milliseconds(100));
    return Calls(limit, 3, latency, in_flight);
  }
  // Measures a minimum of `latency` (a fresh limit starts there), with calls
  // sent after the limit was made.
  void Measure(AdaptiveLimit& limit, absl::Duration latency) {
    clock_.Advance(absl::Seconds(1));
    EXPECT_EQ(Calls(limit, 5, latency), 20);  // The floor, then the initial limit.
    EXPECT_EQ(limit.min_rtt(), latency);
  }

  ManualClock clock_;
};

TEST_F(AdaptiveLimitTest, StartsAtTheFloorUntilTheMinimumIsMeasured) {
  AdaptiveLimit limit(Options());
  EXPECT_EQ(limit.limit(), 4);
  EXPECT_EQ(limit.min_rtt(), absl::ZeroDuration());
  clock_.Advance(absl::Milliseconds(5));
  // A call sent before the limit existed says nothing of the floor's latency.
  EXPECT_EQ(Calls(limit, 10, absl::Milliseconds(10)), std::nullopt);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(Calls(limit, 4, absl::Milliseconds(10)), std::nullopt);
  EXPECT_EQ(limit.limit(), 4);
  // The fifth sample completes the measurement; its p50 is the minimum.
  EXPECT_EQ(limit.Record(clock_.Now() - absl::Milliseconds(30), 4), 20);
  EXPECT_EQ(limit.min_rtt(), absl::Milliseconds(10));
}

TEST_F(AdaptiveLimitTest, GrowsWhileLatencyStaysNearTheMinimumUpToTheCeiling) {
  AdaptiveLimit limit(Options());
  Measure(limit, absl::Milliseconds(10));
  // gradient = 10 ms × 1.5 / 10 ms = 1.5 → 20 × 1.5 + √20 = 34.47 → 35.
  EXPECT_EQ(Window(limit, absl::Milliseconds(10)), 35);
  // Within the tolerance (12 ms < 15 ms) it still grows: 15/12 × 35 + √35.
  EXPECT_EQ(Window(limit, absl::Milliseconds(12)), 50);
  for (int i = 0; i < 5; ++i) Window(limit, absl::Milliseconds(10));
  EXPECT_EQ(limit.limit(), 100);  // The ceiling.
  EXPECT_EQ(limit.cuts(), 0);
}

TEST_F(AdaptiveLimitTest, GrowsOnlyWhileItsCallersUseHalfOfIt) {
  AdaptiveLimit limit(Options());
  Measure(limit, absl::Milliseconds(10));
  // Fast, but never more than 9 calls at once: 9 × 2 < 20, it stays.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Window(limit, absl::Milliseconds(10), 9), std::nullopt);
  EXPECT_EQ(limit.limit(), 20);
  // 10 at once is half of it: grown as before (20 × 1.5 + √20).
  EXPECT_EQ(Window(limit, absl::Milliseconds(10), 10), 35);
  // Unused or not, a slower backend is cut: 15/40 is below the gradient's
  // floor, so 35 × 0.5 + √35.
  EXPECT_EQ(Window(limit, absl::Milliseconds(40), 1), 24);
  EXPECT_EQ(limit.cuts(), 1);
}

TEST_F(AdaptiveLimitTest, AWindowNeedsItsTimeAndItsSamples) {
  AdaptiveLimit limit(Options());
  Measure(limit, absl::Milliseconds(10));
  EXPECT_EQ(Calls(limit, 10, absl::Milliseconds(10)), std::nullopt);  // Not 100 ms yet.
  clock_.Advance(absl::Milliseconds(100));
  EXPECT_EQ(Calls(limit, 0, absl::Milliseconds(10)), std::nullopt);
  // The window's time has passed, and it has more than 3 samples: the next
  // call closes it.
  EXPECT_EQ(Calls(limit, 1, absl::Milliseconds(10)), 35);
}

TEST_F(AdaptiveLimitTest, IsCutWhenLatencyRisesAndGrowsBackWhenItFalls) {
  AdaptiveLimit limit(Options());
  Measure(limit, absl::Milliseconds(1));
  for (int i = 0; i < 8; ++i) Window(limit, absl::Milliseconds(1));
  ASSERT_EQ(limit.limit(), 100);
  // The backend slows to 200 ms: the gradient is at its floor (0.5), so the
  // limit halves (plus its root, rounded up) each window, down to where that
  // holds still: ceil(7/2 + √7) = 7.
  std::vector<int64_t> seen;
  for (int i = 0; i < 8; ++i) {
    Window(limit, absl::Milliseconds(200));
    seen.push_back(limit.limit());
  }
  EXPECT_THAT(seen, ::testing::ElementsAre(60, 38, 26, 19, 14, 11, 9, 8));
  EXPECT_EQ(limit.cuts(), 8);
  for (int i = 0; i < 20; ++i) Window(limit, absl::Milliseconds(200));
  EXPECT_EQ(limit.limit(), 7);
  EXPECT_EQ(limit.cuts(), 9);
  // It recovers: back at 1 ms the gradient is 1.5 again.
  for (int i = 0; i < 8; ++i) Window(limit, absl::Milliseconds(1));
  EXPECT_EQ(limit.limit(), 100);
}

TEST_F(AdaptiveLimitTest, MeasuresTheMinimumAgainOnScheduleIgnoringCallsSentBefore) {
  AdaptiveLimit limit(Options());
  Measure(limit, absl::Milliseconds(10));
  for (int i = 0; i < 3; ++i) Window(limit, absl::Milliseconds(10));
  const int64_t grown = limit.limit();
  ASSERT_GT(grown, 20);
  clock_.Advance(absl::Seconds(30));
  // The first window past the interval moves the limit, then drops it to the
  // floor to measure.
  EXPECT_EQ(Calls(limit, 3, absl::Milliseconds(10)), 4);
  // Calls sent before the drop ran beside many others: not counted.
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(limit.Record(clock_.Now() - absl::Seconds(1), 4), std::nullopt);
  EXPECT_EQ(limit.limit(), 4);
  clock_.Advance(absl::Milliseconds(50));
  // The backend got slower for good (40 ms): that is the new minimum, and
  // the limit goes back to where it was.
  std::optional<int64_t> back = Calls(limit, 5, absl::Milliseconds(40));
  ASSERT_TRUE(back.has_value());
  EXPECT_GT(*back, grown);  // Where it was, plus the window that started the measurement.
  EXPECT_EQ(limit.min_rtt(), absl::Milliseconds(40));
}

// proves: backends.*.adaptive_concurrency.min_limit, backends.*.adaptive_concurrency.max_limit
// proves: backends.*.adaptive_concurrency.initial_limit, backends.*.adaptive_concurrency.tolerance
// proves: backends.*.adaptive_concurrency.window_ms
// proves: backends.*.adaptive_concurrency.min_rtt_interval_ms
// proves: backends.*.adaptive_concurrency.min_rtt_samples
TEST_F(AdaptiveLimitTest, ConfigZerosTakeTheDefaults) {
  config::v1::AdaptiveConcurrency config;
  config.set_enabled(true);
  AdaptiveLimit::Options options = AdaptiveLimit::FromConfig(config, &clock_);
  EXPECT_EQ(options.min_limit, 4);
  EXPECT_EQ(options.max_limit, 1000);
  EXPECT_EQ(options.initial_limit, 20);
  EXPECT_EQ(options.tolerance, 0.5);
  EXPECT_EQ(options.window, absl::Milliseconds(100));
  EXPECT_EQ(options.min_rtt_interval, absl::Seconds(30));
  EXPECT_EQ(options.min_rtt_samples, 25);
  config.set_min_limit(50);
  config.set_max_limit(200);
  config.set_initial_limit(10);  // Below the floor: the floor.
  config.set_tolerance(0.2);
  config.set_window_ms(250);
  config.set_min_rtt_interval_ms(60000);
  config.set_min_rtt_samples(7);
  options = AdaptiveLimit::FromConfig(config, &clock_);
  EXPECT_EQ(options.min_limit, 50);
  EXPECT_EQ(options.max_limit, 200);
  EXPECT_EQ(options.initial_limit, 50);
  EXPECT_EQ(options.tolerance, 0.2);
  EXPECT_EQ(options.window, absl::Milliseconds(250));
  EXPECT_EQ(options.min_rtt_interval, absl::Seconds(60));
  EXPECT_EQ(options.min_rtt_samples, 7);
}

}  // namespace
}  // namespace fanout::gateway
