// RateLimiter: a token bucket per caller (and per route), in a bounded
// table. Each bucket holds at most `burst` tokens and gains
// `per_second` a second; a request takes one or is refused.
//
//   RateLimiter limiter({.max_buckets = 100000});
//   RateLimiter::Decision d = limiter.Take(RateLimiter::Key(route, caller), {10, 20});
//   if (!d.allowed) -> 429, Retry-After: ceil(d.retry_after), RateLimit-* from d
//
// Bounded: a bucket that has refilled to `burst` is the same as no bucket,
// so when a shard of the table is full its refilled buckets are dropped
// (at most once per sweep interval, so a flood of new callers cannot make
// every request a sweep); callers that still find no room share one
// overflow bucket per limit until room comes back. Memory is
// O(max_buckets) whatever the callers do.
//
// Limits are per gateway replica: N replicas admit up to N times a limit.
//
// Thread-safe (sharded mutexes): the REST I/O threads and the loops share it.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "fanout/config/v1/gateway_config.pb.h"
#include "gateway/caller.h"
#include "node/base/clock.h"
#include "node/base/sync.h"

namespace fanout::gateway {

class RateLimiter {
 public:
  struct Limit {
    double per_second = 0;  // > 0
    int burst = 1;          // >= 1
  };
  struct Options {
    size_t max_buckets = 100000;
    absl::Duration sweep_interval = absl::Milliseconds(100);
    Clock* clock = &Clock::Real();
  };
  struct Decision {
    bool allowed = true;
    int limit = 0;                                      // The bucket's size (RateLimit-Limit).
    int remaining = 0;                                  // Whole tokens left (RateLimit-Remaining).
    absl::Duration reset = absl::ZeroDuration();        // Until it is full again (RateLimit-Reset).
    absl::Duration retry_after = absl::ZeroDuration();  // Refused: until a token is there.
  };

  explicit RateLimiter(Options options);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Takes a token from `key`'s bucket, made full on first use.
  Decision Take(absl::string_view key, const Limit& limit);

  // The key of `caller`'s bucket for `scope` (a route's name; "" for the
  // gateway-wide limit).
  static std::string Key(absl::string_view scope, absl::string_view caller);

  size_t buckets() const;  // For tests and metrics.

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time updated;
    Limit limit;
  };
  struct Shard {
    mutable Mutex mu;
    absl::flat_hash_map<std::string, Bucket> buckets ABSL_GUARDED_BY(mu);
    // Callers that found the shard full, by scope.
    absl::flat_hash_map<std::string, Bucket> overflow ABSL_GUARDED_BY(mu);
    absl::Time last_sweep ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  };
  static constexpr size_t kShards = 16;

  Bucket* Find(Shard& shard, absl::string_view key, const Limit& limit, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  const Options options_;
  const size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

// A RateLimit from config: nullopt when it sets no rate; INVALID_ARGUMENT
// naming `where` when a value is negative.
absl::StatusOr<std::optional<RateLimiter::Limit>> LimitFromConfig(
    const config::v1::RateLimit& config, absl::string_view where);

// The gateway's limits on callers: the gateway-wide one and a route's own,
// each a bucket per caller; the caller as TrustedProxies says.
class CallerRateLimits {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;
  // INVALID_ARGUMENT naming the key under gateway.rate_limiting.
  static absl::StatusOr<std::unique_ptr<CallerRateLimits>> Create(
      const config::v1::RateLimiting& config, Clock* clock);

  // Takes a token from each limit that applies to `caller` (`route_limit`
  // scoped to `route`): OK, or RESOURCE_EXHAUSTED naming the limit and when
  // to retry. `headers` gets RateLimit-Limit/-Remaining/-Reset of the
  // tighter limit, and Retry-After when refused. Nothing when no limit
  // applies.
  absl::Status Check(absl::string_view route, const std::optional<RateLimiter::Limit>& route_limit,
                     absl::string_view caller, Headers* headers);
  // Whether any limit applies to a request of a route with `route_limit`
  // (when none does, the caller need not be worked out).
  bool Applies(const std::optional<RateLimiter::Limit>& route_limit) const {
    return global_.has_value() || route_limit.has_value();
  }
  const TrustedProxies& trusted() const { return trusted_; }

 private:
  CallerRateLimits(size_t max_callers, Clock* clock)
      : limiter_({.max_buckets = max_callers, .clock = clock}) {}

  RateLimiter limiter_;
  std::optional<RateLimiter::Limit> global_;
  TrustedProxies trusted_;
};

}  // namespace fanout::gateway
