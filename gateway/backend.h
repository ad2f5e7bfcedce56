// Backend: one service the gateway calls, with the protection each call to
// it goes through:
//
//   bulkhead (Semaphore; its size fixed, or learnt from latency by an
//   AdaptiveLimit) ─► circuit breaker ─► gRPC call with the remaining
//   budget as its deadline ─► outcome recorded
//
// Each attempt (every retry, each hedge copy) waits at most the shorter of
// the call's attempt_timeout (a route call's timeout_ms) and the backend's
// own timeout_ms, and never past the caller's deadline. When one of the
// first two fires, the DEADLINE_EXCEEDED says which, and the attempt's span
// carries fanout.timeout_ms.
//
// and, around that, retries (backoff, a shared retry budget) and hedging
// (a second copy after a delay, first answer wins, the other cancelled).
//
//   Backend users("users", channel, config.backends().at("users"));
//   absl::StatusOr<Bytes> reply = co_await users.Call(
//       "/fanout.users.v1.Users/GetUser", request, {.retry = policy, .hedge_delay = 20ms});
//
// Thread-safe: one Backend is shared by every loop; each call runs on the
// loop of the task awaiting it.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/generic/generic_stub.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>

#include "fanout/config/v1/node_config.pb.h"
#include "gateway/adaptive_limit.h"
#include "gateway/circuit_breaker.h"
#include "node/async/retry.h"
#include "node/async/semaphore.h"
#include "node/rpc/client.h"

namespace fanout::gateway {

// Counters for tests, logs and (later) metrics. Monotonic.
struct BackendStats {
  std::atomic<int64_t> attempts{0};  // Calls sent to the backend.
  std::atomic<int64_t> failures{0};  // Attempts that failed.
  std::atomic<int64_t> bulkhead_rejected{0};
  std::atomic<int64_t> breaker_rejected{0};
  std::atomic<int64_t> retries{0};
  std::atomic<int64_t> hedges{0};      // Second copies sent.
  std::atomic<int64_t> hedge_wins{0};  // ... that answered first.
};

struct CallPolicy {
  // Each attempt's own limit (the backend's timeout_ms applies too).
  absl::Duration attempt_timeout = absl::InfiniteDuration();
  RetryPolicy retry{.max_attempts = 1};
  absl::Duration hedge_delay = absl::ZeroDuration();  // Zero: no hedging.
  std::vector<std::pair<std::string, std::string>> metadata;
  // Filled with the answering backend's metadata (CallOptions::server_metadata).
  ServerMetadata* server_metadata = nullptr;
};

class Backend {
 public:
  Backend(std::string name, std::shared_ptr<grpc::Channel> channel,
          const config::v1::Backend& config, Clock* clock = &Clock::Real());

  // A unary call by method path, with retries and hedging per `policy`.
  Task<absl::StatusOr<Bytes>> Call(std::string method, Bytes request, CallPolicy policy);

  const std::string& name() const { return name_; }
  // backends.<name>.timeout_ms; infinite when 0.
  absl::Duration timeout() const { return timeout_; }
  grpc::GenericStub* stub() { return &stub_; }
  const Semaphore& bulkhead() const { return bulkhead_; }
  // The learnt limit (backends.<name>.adaptive_concurrency); null when the
  // bulkhead's size is fixed.
  const AdaptiveLimit* adaptive() const { return adaptive_.get(); }
  const CircuitBreaker& breaker() const { return breaker_; }
  const BackendStats& stats() const { return stats_; }

  // A call made outside Call, whose bytes pass elsewhere (the frame
  // relay's), holding its way through the breaker and the bulkhead. Ends
  // as an attempt does: End records the outcome with the breaker, the
  // adaptive limit and the stats; a Pass dropped unended was abandoned
  // (the caller left or its own deadline passed), which says nothing of
  // the backend. Movable; the permit goes with it.
  class Pass {
   public:
    Pass(Pass&& other) noexcept
        : backend_(std::exchange(other.backend_, nullptr)),
          permit_(std::move(other.permit_)),
          sent_(other.sent_),
          ended_(other.ended_) {}
    Pass& operator=(Pass&&) = delete;
    ~Pass();
    void End(absl::StatusCode code);

   private:
    friend class Backend;
    Pass(Backend* backend, Semaphore::Permit permit, absl::Time sent)
        : backend_(backend), permit_(std::move(permit)), sent_(sent) {}
    Backend* backend_;
    Semaphore::Permit permit_;
    absl::Time sent_;
    bool ended_ = false;
  };
  // Such a call waiting in the bulkhead's line. Destroying it leaves the
  // line (and hands back what the breaker let through). Movable.
  class Queued {
   public:
    Queued(Queued&&) noexcept = default;
    Queued& operator=(Queued&&) = delete;
    ~Queued();

   private:
    friend class Backend;
    Queued(Backend* backend, Semaphore::Place place)
        : backend_(backend), place_(std::move(place)) {}
    Backend* backend_;
    Semaphore::Place place_;
  };
  // Through the breaker, then the bulkhead: a Pass now, or when the
  // bulkhead is full a place in its line (max_queued_calls, in turn with
  // the gRPC door's and the routes' calls), and then `granted` runs with
  // the Pass on the thread that frees a permit, unless the Queued goes
  // first. UNAVAILABLE while the breaker is open, RESOURCE_EXHAUSTED when
  // the line is full, each naming the backend.
  absl::StatusOr<std::variant<Pass, Queued>> Enter(absl::AnyInvocable<void(Pass)> granted);

 private:
  // A permit becomes a sent call's Pass.
  Pass Admit(Semaphore::Permit permit);
  // An attempt's outcome: with the breaker, the adaptive limit (sent at
  // `sent`) and the stats; `abandoned`: the caller gave up on it.
  void Record(absl::StatusCode code, bool abandoned, absl::Time sent);
  // Which try a call is, for its client span: the retry number, and whether
  // it is the hedge's second copy.
  struct Try {
    int attempt = 1;
    bool hedge = false;
  };
  // One copy: hedged when the policy says so.
  Task<absl::StatusOr<Bytes>> Hedged(std::string method, Bytes request, const CallPolicy& policy,
                                     int attempt);
  Task<absl::StatusOr<Bytes>> DelayedAttempt(absl::Duration delay, std::string method,
                                             Bytes request, CallPolicy policy, Try attempt,
                                             std::shared_ptr<bool> sent);
  // One attempt through the bulkhead and the breaker. Copies and delayed
  // copies own their arguments: a cancelled loser may outlive the caller.
  Task<absl::StatusOr<Bytes>> Attempt(std::string method, Bytes request, CallPolicy policy,
                                      Try attempt);

  const std::string name_;
  const absl::Duration timeout_;
  Clock* const clock_;
  std::shared_ptr<grpc::Channel> channel_;
  grpc::GenericStub stub_;
  const std::unique_ptr<AdaptiveLimit> adaptive_;  // Before bulkhead_: it sizes it.
  Semaphore bulkhead_;
  CircuitBreaker breaker_;
  RetryBudget retry_budget_;
  BackendStats stats_;
};

// The backends of a gateway, by name. Immutable after construction.
using BackendMap = std::map<std::string, std::unique_ptr<Backend>>;

}  // namespace fanout::gateway
