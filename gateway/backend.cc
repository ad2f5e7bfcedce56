#include "gateway/backend.h"

#include "absl/strings/str_cat.h"
#include "node/async/as_completed.h"
#include "node/async/sleep.h"
#include "node/telemetry/trace.h"

namespace fanout::gateway {
namespace {

Semaphore::Options BulkheadOptions(const config::v1::Backend& config,
                                   const AdaptiveLimit* adaptive) {
  int64_t permits = config.max_concurrent_calls() > 0 ? config.max_concurrent_calls() : 100;
  if (adaptive != nullptr) permits = adaptive->limit();
  int64_t queued = config.max_queued_calls() > 0 ? config.max_queued_calls() : 1024;
  return {.permits = permits, .max_waiters = queued};
}

std::unique_ptr<AdaptiveLimit> AdaptiveOrNull(const config::v1::Backend& config, Clock* clock) {
  if (!config.adaptive_concurrency().enabled()) return nullptr;
  return std::make_unique<AdaptiveLimit>(
      AdaptiveLimit::FromConfig(config.adaptive_concurrency(), clock));
}

CircuitBreaker::Options BreakerOptions(const std::string& name, const config::v1::Backend& config,
                                       Clock* clock) {
  const config::v1::CircuitBreaker& c = config.circuit_breaker();
  CircuitBreaker::Options options{.name = name, .enabled = c.enabled(), .clock = clock};
  if (c.failure_rate() > 0) options.failure_rate = c.failure_rate();
  if (c.min_calls() > 0) options.min_calls = c.min_calls();
  if (c.window_ms() > 0) options.window = absl::Milliseconds(c.window_ms());
  if (c.open_ms() > 0) options.open_for = absl::Milliseconds(c.open_ms());
  if (c.half_open_calls() > 0) options.probes = c.half_open_calls();
  return options;
}

RetryBudget::Options BudgetOptions(const config::v1::Backend& config) {
  RetryBudget::Options options;
  if (config.retry_budget().max_tokens() > 0)
    options.max_tokens = config.retry_budget().max_tokens();
  if (config.retry_budget().token_ratio() > 0)
    options.token_ratio = config.retry_budget().token_ratio();
  return options;
}

}  // namespace

Backend::Backend(std::string name, std::shared_ptr<grpc::Channel> channel,
                 const config::v1::Backend& config, Clock* clock)
    : name_(std::move(name)),
      timeout_(config.timeout_ms() > 0 ? absl::Milliseconds(config.timeout_ms())
                                       : absl::InfiniteDuration()),
      clock_(clock),
      channel_(std::move(channel)),
      stub_(channel_),
      adaptive_(AdaptiveOrNull(config, clock)),
      bulkhead_(BulkheadOptions(config, adaptive_.get())),
      breaker_(BreakerOptions(name_, config, clock)),
      retry_budget_(BudgetOptions(config)) {}

Task<absl::StatusOr<Bytes>> Backend::Call(std::string method, Bytes request, CallPolicy policy) {
  if (policy.retry.max_attempts <= 1) {
    co_return co_await Hedged(std::move(method), std::move(request), policy, 1);
  }
  int tries = 0;
  RetryOptions options{.budget = &retry_budget_,
                       .on_retry = [this](int, const absl::Status&) { ++stats_.retries; }};
  auto attempt = [&]() { return Hedged(method, request, policy, ++tries); };
  co_return co_await Retry(policy.retry, attempt, std::move(options));
}

Task<absl::StatusOr<Bytes>> Backend::Hedged(std::string method, Bytes request,
                                            const CallPolicy& policy, int attempt) {
  if (policy.hedge_delay <= absl::ZeroDuration()) {
    co_return co_await Attempt(std::move(method), std::move(request), policy,
                               Try{.attempt = attempt});
  }
  auto sent = std::make_shared<bool>(false);
  std::vector<Task<absl::StatusOr<Bytes>>> copies;
  copies.push_back(Attempt(method, request, policy, Try{.attempt = attempt}));
  copies.push_back(DelayedAttempt(policy.hedge_delay, method, request, policy,
                                  Try{.attempt = attempt, .hedge = true}, sent));
  AsCompleted<absl::StatusOr<Bytes>> race(std::move(copies));
  std::optional<absl::StatusOr<Bytes>> first_failure;
  while (auto done = co_await race.Next()) {
    if (done->result.ok()) {
      if (done->index == 1) ++stats_.hedge_wins;
      co_return std::move(done->result);  // The other copy is cancelled with `race`.
    }
    if (!first_failure) first_failure = std::move(done->result);
    // The first copy failed before the second was sent: no hedge, the
    // failure stands (retries are the retry policy's business).
    if (!*sent) break;
  }
  co_return std::move(*first_failure);
}

Task<absl::StatusOr<Bytes>> Backend::DelayedAttempt(absl::Duration delay, std::string method,
                                                    Bytes request, CallPolicy policy, Try attempt,
                                                    std::shared_ptr<bool> sent) {
  absl::Status slept = co_await Sleep(delay);
  if (!slept.ok()) co_return slept;
  *sent = true;
  ++stats_.hedges;
  co_return co_await Attempt(std::move(method), std::move(request), policy, attempt);
}

void Backend::Record(absl::StatusCode code, bool abandoned, absl::Time sent) {
  if (code != absl::StatusCode::kOk) ++stats_.failures;
  if (abandoned) {
    breaker_.Abandon();  // We gave up on it; says nothing of the backend.
    return;
  }
  breaker_.Record(code != absl::StatusCode::kOk && CircuitBreaker::CountsAsFailure(code));
  if (adaptive_) {
    if (std::optional<int64_t> limit = adaptive_->Record(sent, bulkhead_.in_use())) {
      bulkhead_.SetCapacity(*limit);
    }
  }
}

absl::StatusOr<std::variant<Backend::Pass, Backend::Queued>> Backend::Enter(
    absl::AnyInvocable<void(Pass)> granted) {
  if (absl::Status allowed = breaker_.Allow(); !allowed.ok()) {
    ++stats_.breaker_rejected;
    return allowed;
  }
  if (std::optional<Semaphore::Permit> permit = bulkhead_.TryAcquire()) {
    return Admit(*std::move(permit));
  }
  absl::StatusOr<Semaphore::Place> place =
      bulkhead_.Queue([this, granted = std::move(granted)](Semaphore::Permit permit) mutable {
        granted(Admit(std::move(permit)));
      });
  if (!place.ok()) {
    breaker_.Abandon();
    ++stats_.bulkhead_rejected;
    return absl::ResourceExhaustedError(absl::StrCat("backend \"", name_, "\" bulkhead (",
                                                     bulkhead_.capacity(),
                                                     " in flight): ", place.status().message()));
  }
  return Queued(this, *std::move(place));
}

Backend::Pass Backend::Admit(Semaphore::Permit permit) {
  ++stats_.attempts;
  return Pass(this, std::move(permit), adaptive_ ? clock_->Now() : absl::InfinitePast());
}

Backend::Queued::~Queued() {
  if (place_.Leave()) backend_->breaker_.Abandon();  // Never sent.
}

Backend::Pass::~Pass() {
  if (backend_ != nullptr && !ended_) backend_->Record(absl::StatusCode::kCancelled, true, sent_);
}

void Backend::Pass::End(absl::StatusCode code) {
  if (backend_ == nullptr || ended_) return;
  ended_ = true;
  backend_->Record(code, false, sent_);
  permit_.Release();
}

Task<absl::StatusOr<Bytes>> Backend::Attempt(std::string method, Bytes request, CallPolicy policy,
                                             Try attempt) {
  if (absl::Status allowed = breaker_.Allow(); !allowed.ok()) {
    ++stats_.breaker_rejected;
    if (const std::shared_ptr<trace::Span>& span = (co_await CurrentContext()).span) {
      span->AddEvent("circuit_breaker.rejected",
                     {{"backend", name_},
                      {"state", CircuitBreaker::StateName(breaker_.state())},
                      {"attempt", attempt.attempt}});
    }
    co_return allowed;
  }
  absl::StatusOr<Semaphore::Permit> permit = co_await bulkhead_.Acquire();
  if (!permit.ok()) {
    breaker_.Abandon();
    if (permit.status().code() == absl::StatusCode::kResourceExhausted) ++stats_.bulkhead_rejected;
    co_return absl::Status(permit.status().code(),
                           absl::StrCat("backend \"", name_, "\" bulkhead (", bulkhead_.capacity(),
                                        " in flight): ", permit.status().message()));
  }
  // A hedge's cancelled loser never writes server_metadata: only the answer
  // taken does.
  CallOptions options{.metadata = std::move(policy.metadata),
                      .server_metadata = policy.server_metadata};
  if (trace::GlobalTracer() != nullptr) {  // Else no span reads them.
    options.span_attributes = {{"fanout.backend", name_},
                               {"fanout.attempt", absl::StrCat(attempt.attempt)}};
    if (attempt.hedge) options.span_attributes.emplace_back("fanout.hedge", "true");
  }
  // The attempt's own limit: the route call's or the backend's, the shorter.
  const bool backends_own = timeout_ < policy.attempt_timeout;
  const absl::Duration limit = backends_own ? timeout_ : policy.attempt_timeout;
  if (limit != absl::InfiniteDuration()) {
    options.deadline = absl::Now() + limit;
    if (trace::GlobalTracer() != nullptr) {
      options.span_attributes.emplace_back("fanout.timeout_ms",
                                           absl::StrCat(absl::ToInt64Milliseconds(limit)));
    }
  }
  ++stats_.attempts;
  const absl::Time attempt_deadline = options.deadline;
  const absl::Time sent = adaptive_ ? clock_->Now() : absl::InfinitePast();
  absl::StatusOr<Bytes> reply =
      co_await CallGenericUnary(&stub_, std::move(method), std::move(request), std::move(options));
  TaskContext context = co_await CurrentContext();
  // The caller's deadline (shorter than the attempt's own) passing says
  // nothing of the backend either, whichever timer noticed first: a caller
  // sending tiny timeouts must not open the breaker for everyone.
  bool callers_deadline = reply.status().code() == absl::StatusCode::kDeadlineExceeded &&
                          context.token.deadline() < attempt_deadline;
  const bool abandoned = !reply.ok() && (context.token.cancelled() || callers_deadline);
  Record(reply.status().code(), abandoned, sent);
  if (abandoned) co_return reply;
  // gRPC's timer runs on its own clock and may fire a little before
  // absl::Now() reaches the deadline (often, under TSan): an answer within
  // kClockSlack of it is our limit firing, not a backend's own
  // DEADLINE_EXCEEDED.
  constexpr absl::Duration kClockSlack = absl::Milliseconds(20);
  if (reply.status().code() == absl::StatusCode::kDeadlineExceeded &&
      limit != absl::InfiniteDuration() && absl::Now() + kClockSlack >= attempt_deadline) {
    // Our own limit fired: say which one, so a 504 can be traced to config.
    co_return absl::DeadlineExceededError(absl::StrCat(
        "backend \"", name_, "\" gave no answer within ", absl::FormatDuration(limit), " (",
        backends_own ? absl::StrCat("backends.", name_, ".timeout_ms") : "the call's timeout_ms",
        ", attempt ", attempt.attempt, attempt.hedge ? ", hedge" : "", ")"));
  }
  co_return reply;
}

}  // namespace fanout::gateway
