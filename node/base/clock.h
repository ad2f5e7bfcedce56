// Clock: where "now" comes from. Code that computes schedules (backoff,
// deadlines, rate windows) takes a Clock so unit tests can drive time by hand.
//
//   ManualClock clock;
//   RetryOptions options{.clock = &clock, ...};
//   clock.Advance(absl::Seconds(1));
#pragma once

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "node/base/sync.h"

namespace fanout {

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // The process-wide real clock.
  static Clock& Real();
};

// Thread-safe. Time moves only when told to.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::UnixEpoch() + absl::Hours(24 * 365 * 50))
      : now_(start) {}

  absl::Time Now() const override {
    MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fanout
