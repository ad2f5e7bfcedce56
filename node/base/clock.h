// Clock: where "now" comes from. Code that computes schedules (rate windows,
// breaker cool-downs, restart windows) takes a Clock so unit tests can drive
// time by hand.
//
//   ManualClock clock;
//   CircuitBreaker breaker({.clock = &clock, ...});
//   clock.Advance(absl::Seconds(1));
//
// A ManualClock only answers Now(): nothing waits on it. What waits on a
// loop (Sleep, timeouts, Every) follows the loop's clock, which in tests is a
// SimulatedClock (node/loop/simulated_clock.h): a Clock too, whose Advance
// also fires the timers that come due.
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
