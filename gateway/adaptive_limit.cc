#include "gateway/adaptive_limit.h"

#include <algorithm>
#include <cmath>

namespace fanout::gateway {
namespace {

// Samples kept per window or measurement: enough for a p50, bounded however
// many calls a window sees.
constexpr size_t kMaxSamples = 1024;

}  // namespace

AdaptiveLimit::Options AdaptiveLimit::FromConfig(const config::v1::AdaptiveConcurrency& config,
                                                 Clock* clock) {
  Options options{.clock = clock};
  if (config.min_limit() > 0) options.min_limit = config.min_limit();
  if (config.max_limit() > 0) options.max_limit = config.max_limit();
  options.initial_limit = config.initial_limit() > 0
                              ? config.initial_limit()
                              : std::max(options.initial_limit, options.min_limit);
  if (config.tolerance() > 0) options.tolerance = config.tolerance();
  if (config.window_ms() > 0) options.window = absl::Milliseconds(config.window_ms());
  if (config.min_rtt_interval_ms() > 0) {
    options.min_rtt_interval = absl::Milliseconds(config.min_rtt_interval_ms());
  }
  if (config.min_rtt_samples() > 0) options.min_rtt_samples = config.min_rtt_samples();
  options.max_limit = std::max(options.max_limit, options.min_limit);  // Validation says so.
  options.initial_limit = std::clamp(options.initial_limit, options.min_limit, options.max_limit);
  return options;
}

AdaptiveLimit::AdaptiveLimit(Options options)
    : options_(options),
      limit_(options.min_limit),
      limit_before_measuring_(options.initial_limit),
      measuring_since_(options.clock->Now()) {
  samples_.reserve(std::min<size_t>(kMaxSamples, 64));
}

std::optional<int64_t> AdaptiveLimit::Record(absl::Time sent, int64_t in_flight) {
  const absl::Time now = options_.clock->Now();
  MutexLock lock(&mu_);
  // A call sent before the measurement began ran beside more than the
  // floor's calls: its latency is not the backend's own.
  if (measuring_ && sent < measuring_since_) return std::nullopt;
  if (samples_.size() < kMaxSamples) samples_.push_back(now - sent);
  window_peak_in_flight_ = std::max(window_peak_in_flight_, in_flight);
  const int64_t before = limit_;
  if (measuring_) {
    if (static_cast<int64_t>(samples_.size()) < options_.min_rtt_samples) return std::nullopt;
    min_rtt_ = std::max(P50(samples_), absl::Microseconds(1));
    samples_.clear();
    measuring_ = false;
    limit_ = limit_before_measuring_;
    next_measurement_ = now + options_.min_rtt_interval;
    window_end_ = now + options_.window;
  } else if (now >= window_end_ &&
             static_cast<int64_t>(samples_.size()) >= options_.min_window_samples) {
    const absl::Duration sample = P50(samples_);
    samples_.clear();
    window_end_ = now + options_.window;
    const double gradient =
        std::clamp(absl::FDivDuration(min_rtt_ * (1 + options_.tolerance), sample), 0.5, 2.0);
    const double limit = static_cast<double>(limit_);
    const int64_t next = static_cast<int64_t>(std::ceil(gradient * limit + std::sqrt(limit)));
    // Grown only while used; cut whatever the use.
    const bool used = window_peak_in_flight_ * 2 >= limit_;
    window_peak_in_flight_ = 0;
    if (next < limit_ || used) limit_ = std::clamp(next, options_.min_limit, options_.max_limit);
    if (limit_ < before) ++cuts_;
    if (now >= next_measurement_) StartMeasuring(now);
  }
  if (limit_ == before) return std::nullopt;
  return limit_;
}

void AdaptiveLimit::StartMeasuring(absl::Time now) {
  measuring_ = true;
  measuring_since_ = now;
  limit_before_measuring_ = limit_;
  limit_ = options_.min_limit;
  samples_.clear();
  window_peak_in_flight_ = 0;
}

absl::Duration AdaptiveLimit::P50(std::vector<absl::Duration>& samples) const {
  auto middle = samples.begin() + static_cast<std::ptrdiff_t>(samples.size() / 2);
  std::nth_element(samples.begin(), middle, samples.end());
  return *middle;
}

int64_t AdaptiveLimit::limit() const {
  MutexLock lock(&mu_);
  return limit_;
}

absl::Duration AdaptiveLimit::min_rtt() const {
  MutexLock lock(&mu_);
  return min_rtt_;
}

int64_t AdaptiveLimit::cuts() const {
  MutexLock lock(&mu_);
  return cuts_;
}

}  // namespace fanout::gateway
