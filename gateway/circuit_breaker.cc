#include "gateway/circuit_breaker.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace fanout::gateway {

CircuitBreaker::CircuitBreaker(Options options) : options_(std::move(options)) {}

bool CircuitBreaker::CountsAsFailure(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

const char* CircuitBreaker::StateName(State state) {
  switch (state) {
    case State::kClosed:
      return "closed";
    case State::kOpen:
      return "open";
    case State::kHalfOpen:
      return "half-open";
  }
  return "?";
}

CircuitBreaker::State CircuitBreaker::state() const {
  MutexLock lock(&mu_);
  return state_;
}

absl::Status CircuitBreaker::Allow() {
  if (!options_.enabled) return absl::OkStatus();
  absl::Time now = options_.clock->Now();
  MutexLock lock(&mu_);
  if (state_ == State::kOpen) {
    absl::Duration left = opened_at_ + options_.open_for - now;
    if (left > absl::ZeroDuration()) {
      return absl::UnavailableError(absl::StrCat("circuit breaker for backend \"", options_.name,
                                                 "\" is open (retry in ",
                                                 absl::FormatDuration(left), ")"));
    }
    state_ = State::kHalfOpen;
    probes_sent_ = probes_passed_ = 0;
  }
  if (state_ == State::kHalfOpen) {
    if (probes_sent_ >= options_.probes) {
      return absl::UnavailableError(absl::StrCat("circuit breaker for backend \"", options_.name,
                                                 "\" is half-open and its probe calls are out"));
    }
    ++probes_sent_;
  }
  return absl::OkStatus();
}

void CircuitBreaker::Record(bool failed) {
  if (!options_.enabled) return;
  absl::Time now = options_.clock->Now();
  MutexLock lock(&mu_);
  switch (state_) {
    case State::kOpen:
      return;  // A call from before it opened.
    case State::kHalfOpen:
      if (failed) {
        Open(now);
      } else if (++probes_passed_ >= options_.probes) {
        state_ = State::kClosed;
        for (Bucket& b : buckets_) b = Bucket{};
      }
      return;
    case State::kClosed: {
      int64_t slice = Slice(now);
      Bucket& bucket = buckets_[slice % kBuckets];
      if (bucket.slice != slice) bucket = Bucket{.slice = slice};
      ++bucket.calls;
      bucket.failures += failed;
      int calls = 0, failures = 0;
      for (const Bucket& b : buckets_) {
        if (b.slice > slice - kBuckets) {
          calls += b.calls;
          failures += b.failures;
        }
      }
      if (calls >= options_.min_calls && failures >= options_.failure_rate * calls) Open(now);
      return;
    }
  }
}

void CircuitBreaker::Abandon() {
  if (!options_.enabled) return;
  MutexLock lock(&mu_);
  if (state_ == State::kHalfOpen && probes_sent_ > probes_passed_) --probes_sent_;
}

int64_t CircuitBreaker::Slice(absl::Time now) const {
  int64_t width_ms = std::max<int64_t>(absl::ToInt64Milliseconds(options_.window) / kBuckets, 1);
  return absl::ToUnixMillis(now) / width_ms;
}

void CircuitBreaker::Open(absl::Time now) {
  state_ = State::kOpen;
  opened_at_ = now;
  for (Bucket& b : buckets_) b = Bucket{};
}

}  // namespace fanout::gateway
