#include "node/async/retry.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace fanout {

bool RetryPolicy::IsRetryable(absl::StatusCode code) const {
  return std::find(retryable.begin(), retryable.end(), code) != retryable.end();
}

absl::Duration RetryPolicy::Backoff(int attempt, absl::BitGenRef random) const {
  double base = absl::ToDoubleSeconds(initial_backoff) * std::pow(multiplier, attempt - 1);
  base = std::min(base, absl::ToDoubleSeconds(max_backoff));
  double spread = base * std::clamp(jitter, 0.0, 1.0);
  double wait = spread > 0 ? absl::Uniform(random, base - spread, base + spread) : base;
  return std::min(absl::Seconds(wait), max_backoff);
}

std::string RetryPolicy::Validate() const {
  if (max_attempts < 1) return absl::StrCat("max_attempts must be >= 1, got ", max_attempts);
  if (initial_backoff < absl::ZeroDuration()) {
    return absl::StrCat("initial_backoff must be >= 0, got ",
                        absl::FormatDuration(initial_backoff));
  }
  if (max_backoff < initial_backoff) {
    return absl::StrCat("max_backoff must be >= initial_backoff, got ",
                        absl::FormatDuration(max_backoff));
  }
  if (multiplier < 1.0) return absl::StrCat("multiplier must be >= 1, got ", multiplier);
  if (jitter < 0.0 || jitter > 1.0) return absl::StrCat("jitter must be in [0, 1], got ", jitter);
  return "";
}

void RetryBudget::OnSuccess() {
  MutexLock lock(&mu_);
  tokens_ = std::min(options_.max_tokens, tokens_ + options_.token_ratio);
}

void RetryBudget::OnFailure() {
  MutexLock lock(&mu_);
  tokens_ = std::max(0.0, tokens_ - 1.0);
}

bool RetryBudget::AllowRetry() const {
  MutexLock lock(&mu_);
  return tokens_ > options_.max_tokens / 2;
}

namespace internal {

Task<absl::Status> DefaultRetrySleep(absl::Duration d) { co_return co_await Sleep(d); }

absl::BitGenRef RetryRandom() {
  thread_local absl::BitGen gen;
  return absl::BitGenRef(gen);
}

}  // namespace internal
}  // namespace fanout
