// AdaptiveLimit: a backend's concurrency limit learnt from its latency, in
// the spirit of Envoy's adaptive concurrency filter (gradient controller)
// and Netflix's concurrency-limits.
//
//   measure min RTT ──► limit follows the gradient, one window at a time ──► every
//   (limit = floor,      gradient = min_rtt × (1 + tolerance) / window's p50,  min_rtt_interval:
//    min_rtt_samples)    limit = gradient × limit + √limit, in [floor, ceiling]  measure again
//
// While calls take about the minimum latency the gradient stays near (or
// above) 1 and the limit grows by its square root each window, as long as
// the callers use it: a window whose calls never filled half the limit
// leaves it where it is (Netflix's concurrency-limits calls this "app
// limited"), so a backend that is fast but lightly called does not sit at
// the ceiling, with nothing to protect it, on the day it slows. When latency
// rises (the backend queues) the gradient falls below 1 and the limit is
// cut, by at most half per window. The minimum is measured at a low limit
// (the floor), so the backend's queue has drained and what is seen is its
// own service time; it is measured again periodically because it drifts
// (a deploy, a bigger dataset).
//
//   AdaptiveLimit limit(options, clock);
//   ... each completed call:
//   if (auto changed = limit.Record(sent, bulkhead.in_use())) bulkhead.SetCapacity(*changed);
//
// The caller applies the limit (Backend sets its bulkhead's capacity);
// this class only decides it. Thread-safe: calls complete on every loop.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "fanout/config/v1/gateway_config.pb.h"
#include "node/base/clock.h"
#include "node/base/sync.h"

namespace fanout::gateway {

class AdaptiveLimit {
 public:
  struct Options {
    int64_t min_limit = 4;     // The floor; also the limit while min RTT is measured.
    int64_t max_limit = 1000;  // The ceiling.
    int64_t initial_limit = 20;
    // The latency allowed above the minimum before the limit is cut: 0.5 is 50%.
    double tolerance = 0.5;
    // A window's samples are aggregated (p50) and move the limit once.
    absl::Duration window = absl::Milliseconds(100);
    int min_window_samples = 10;  // Fewer at the window's end: it is extended.
    absl::Duration min_rtt_interval = absl::Seconds(30);
    int min_rtt_samples = 25;  // Calls sampled (p50) for the minimum.
    Clock* clock = &Clock::Real();
  };
  // From backends.<name>.adaptive_concurrency (0s replaced by the defaults
  // above).
  static Options FromConfig(const config::v1::AdaptiveConcurrency& config, Clock* clock);

  explicit AdaptiveLimit(Options options);

  // A call sent at `sent` (the clock's time) was answered now: answered,
  // failed, or cut by its own timeout (not one its caller gave up on), with
  // `in_flight` calls to the backend at that moment (itself included).
  // Returns the new limit when it changed.
  std::optional<int64_t> Record(absl::Time sent, int64_t in_flight);

  int64_t limit() const;
  // The minimum latency measured last; zero before the first measurement.
  absl::Duration min_rtt() const;
  // Times a window's latency cut the limit (not counting the drops to the
  // floor that measure the minimum).
  int64_t cuts() const;

 private:
  absl::Duration P50(std::vector<absl::Duration>& samples) const;
  void StartMeasuring(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable Mutex mu_;
  int64_t limit_ ABSL_GUARDED_BY(mu_);
  bool measuring_ ABSL_GUARDED_BY(mu_) = true;
  int64_t limit_before_measuring_ ABSL_GUARDED_BY(mu_);
  absl::Time measuring_since_ ABSL_GUARDED_BY(mu_);
  absl::Duration min_rtt_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  absl::Time next_measurement_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time window_end_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::vector<absl::Duration> samples_ ABSL_GUARDED_BY(mu_);  // At most kMaxSamples.
  int64_t window_peak_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t cuts_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace fanout::gateway
