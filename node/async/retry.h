// Retry: retries with exponential backoff, jitter, a deadline and a budget.
//
//   RetryPolicy policy{.max_attempts = 4, .initial_backoff = absl::Milliseconds(20)};
//   absl::StatusOr<User> user = co_await Retry(policy, [&] { return users.Get(id); });
//
// Attempt n (from 1) failing with a retryable code waits
// min(max_backoff, initial_backoff * multiplier^(n-1)), spread by ±jitter,
// then tries again. It never sleeps past the task's deadline: when the next
// attempt could not start in time, the last error is returned. A RetryBudget
// shared by all callers of a backend caps retries when most calls fail, so
// retries cannot multiply an outage.
//
// Loop-affine (the budget is thread-safe).
#pragma once

#include <functional>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "absl/random/random.h"
#include "node/async/sleep.h"
#include "node/async/task.h"
#include "node/base/clock.h"
#include "node/base/sync.h"
#include "node/loop/event_loop.h"

namespace fanout {

struct RetryPolicy {
  int max_attempts = 3;  // Including the first.
  absl::Duration initial_backoff = absl::Milliseconds(25);
  absl::Duration max_backoff = absl::Seconds(1);
  double multiplier = 2.0;
  double jitter = 0.2;  // Fraction, 0..1.
  std::vector<absl::StatusCode> retryable = {absl::StatusCode::kUnavailable};

  bool IsRetryable(absl::StatusCode code) const;
  // The wait after failed attempt `attempt` (1-based), jitter included.
  absl::Duration Backoff(int attempt, absl::BitGenRef random) const;
  // Empty when valid; else what is wrong, naming the field.
  std::string Validate() const;
};

// gRPC-style retry throttling: a token bucket that failures drain and
// successes refill. Retries are allowed only while it is over half full.
// Thread-safe.
class RetryBudget {
 public:
  struct Options {
    double max_tokens = 10;
    double token_ratio = 0.1;  // Refill per success.
  };
  explicit RetryBudget(Options options) : options_(options), tokens_(options.max_tokens) {}
  void OnSuccess();
  void OnFailure();
  bool AllowRetry() const;

 private:
  const Options options_;
  mutable Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_);
};

struct RetryOptions {
  // What "now" is when checking the deadline; null: the loop's
  // (EventLoop::Now(), simulated in tests).
  Clock* clock = nullptr;
  // How to wait; empty: Sleep, on the loop's timers.
  std::function<Task<absl::Status>(absl::Duration)> sleep;
  RetryBudget* budget = nullptr;
  // Called before each retry with the attempt about to start (2, 3, ...).
  std::function<void(int attempt, const absl::Status& last)> on_retry;
};

namespace internal {
Task<absl::Status> DefaultRetrySleep(absl::Duration d);
absl::BitGenRef RetryRandom();
}  // namespace internal

// `attempt()` returns Task<absl::Status> or Task<absl::StatusOr<T>>.
template <typename Fn, typename Result = typename std::invoke_result_t<Fn&>::value_type>
Task<Result> Retry(RetryPolicy policy, Fn attempt, RetryOptions options = {}) {
  auto sleep = options.sleep ? options.sleep : internal::DefaultRetrySleep;
  TaskContext context = co_await CurrentContext();
  absl::Time deadline = context.token.deadline();
  for (int n = 1;; ++n) {
    Result result = co_await attempt();
    absl::Status status = internal::StatusOf(result);
    if (options.budget) {
      if (status.ok())
        options.budget->OnSuccess();
      else
        options.budget->OnFailure();
    }
    if (status.ok() || n >= policy.max_attempts || !policy.IsRetryable(status.code())) {
      co_return result;
    }
    if (options.budget && !options.budget->AllowRetry()) co_return result;
    absl::Duration wait = policy.Backoff(n, internal::RetryRandom());
    const absl::Time now = options.clock != nullptr ? options.clock->Now() : context.loop->Now();
    if (now + wait >= deadline) co_return result;
    if (options.on_retry) options.on_retry(n + 1, status);
    absl::Status slept = co_await sleep(wait);
    if (!slept.ok()) co_return result;
  }
}

}  // namespace fanout
