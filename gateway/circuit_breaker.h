// CircuitBreaker: stops calling a backend that is failing, so its outage
// costs callers a fast UNAVAILABLE instead of a timeout each, and the
// backend gets room to recover.
//
//   closed ──(failure rate >= threshold over the window, min_calls seen)──► open
//   open ──(open_for elapsed)──► half-open: `probes` calls let through
//   half-open ──(all probes succeed)──► closed;  ──(any probe fails)──► open
//
//   if (absl::Status s = breaker.Allow(); !s.ok()) co_return s;   // UNAVAILABLE
//   absl::Status result = co_await Call(...);
//   breaker.Record(CircuitBreaker::CountsAsFailure(result.code()));
//
// Only failures that say the backend is unwell count (UNAVAILABLE,
// DEADLINE_EXCEEDED, INTERNAL, UNKNOWN, DATA_LOSS, RESOURCE_EXHAUSTED); a
// NOT_FOUND or INVALID_ARGUMENT is the caller's doing.
//
// Thread-safe: shared by every loop calling the backend.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "node/base/clock.h"
#include "node/base/sync.h"

namespace fanout::gateway {

class CircuitBreaker {
 public:
  struct Options {
    std::string name;  // The backend, for messages.
    bool enabled = true;
    double failure_rate = 0.5;
    int min_calls = 20;
    absl::Duration window = absl::Seconds(10);
    absl::Duration open_for = absl::Seconds(5);
    int probes = 3;
    Clock* clock = &Clock::Real();
  };
  enum class State { kClosed, kOpen, kHalfOpen };

  explicit CircuitBreaker(Options options);

  // OK when a call may go out; UNAVAILABLE naming the backend when open.
  absl::Status Allow();
  // The outcome of an allowed call.
  void Record(bool failed);
  // An allowed call that never went out, or was given up by its caller:
  // returns a half-open probe slot, counts nothing.
  void Abandon();
  State state() const;
  static bool CountsAsFailure(absl::StatusCode code);
  static const char* StateName(State state);

 private:
  int64_t Slice(absl::Time now) const;
  void Open(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kClosed;
  // The window as kBuckets slices (bounded memory at any call rate).
  static constexpr int kBuckets = 10;
  struct Bucket {
    int64_t slice = -1;  // Which slice of time it counts; stale when old.
    int calls = 0;
    int failures = 0;
  };
  Bucket buckets_[kBuckets] ABSL_GUARDED_BY(mu_);
  absl::Time opened_at_ ABSL_GUARDED_BY(mu_);
  int probes_sent_ ABSL_GUARDED_BY(mu_) = 0;
  int probes_passed_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace fanout::gateway
