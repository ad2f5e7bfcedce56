#include "gateway/rate_limit.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "node/base/status_macros.h"

namespace fanout::gateway {
namespace {

// Tokens now, from what the bucket held when last touched.
double Refilled(double tokens, absl::Time updated, const RateLimiter::Limit& limit,
                absl::Time now) {
  double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - updated));
  return std::min<double>(limit.burst, tokens + elapsed * limit.per_second);
}

}  // namespace

RateLimiter::RateLimiter(Options options)
    : options_(options), per_shard_(std::max<size_t>(1, options.max_buckets / kShards)) {}

std::string RateLimiter::Key(absl::string_view scope, absl::string_view caller) {
  return absl::StrCat(scope, absl::string_view("\0", 1), caller);
}

RateLimiter::Bucket* RateLimiter::Find(Shard& shard, absl::string_view key, const Limit& limit,
                                       absl::Time now) {
  if (auto it = shard.buckets.find(key); it != shard.buckets.end()) return &it->second;
  if (shard.buckets.size() >= per_shard_ && now - shard.last_sweep >= options_.sweep_interval) {
    shard.last_sweep = now;
    absl::erase_if(shard.buckets, [&](const auto& entry) {
      const Bucket& b = entry.second;
      return Refilled(b.tokens, b.updated, b.limit, now) >= b.limit.burst;
    });
  }
  if (shard.buckets.size() < per_shard_) {
    return &shard.buckets.try_emplace(key, Bucket{double(limit.burst), now, limit}).first->second;
  }
  // Full of callers that are all still drawing: the newcomer shares the
  // scope's overflow bucket.
  absl::string_view scope = key.substr(0, key.find('\0'));
  return &shard.overflow.try_emplace(scope, Bucket{double(limit.burst), now, limit}).first->second;
}

RateLimiter::Decision RateLimiter::Take(absl::string_view key, const Limit& limit) {
  Shard& shard = shards_[absl::HashOf(key) % kShards];
  absl::Time now = options_.clock->Now();
  MutexLock lock(&shard.mu);
  Bucket* bucket = Find(shard, key, limit, now);
  bucket->limit = limit;  // A reloaded config changes it.
  bucket->tokens = Refilled(bucket->tokens, bucket->updated, limit, now);
  bucket->updated = now;
  Decision decision{.limit = limit.burst};
  if (bucket->tokens >= 1) {
    bucket->tokens -= 1;
  } else {
    decision.allowed = false;
    decision.retry_after = absl::Seconds((1 - bucket->tokens) / limit.per_second);
  }
  decision.remaining = static_cast<int>(std::floor(bucket->tokens));
  decision.reset = absl::Seconds((limit.burst - bucket->tokens) / limit.per_second);
  return decision;
}

size_t RateLimiter::buckets() const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    MutexLock lock(&shard.mu);
    n += shard.buckets.size();
  }
  return n;
}

absl::StatusOr<std::optional<RateLimiter::Limit>> LimitFromConfig(
    const config::v1::RateLimit& config, absl::string_view where) {
  if (config.requests_per_second() < 0 || config.burst() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": requests_per_second and burst must be >= 0, got ",
                     config.requests_per_second(), " and ", config.burst()));
  }
  if (config.requests_per_second() == 0) {
    if (config.burst() > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": burst without requests_per_second (0 means no limit)"));
    }
    return std::nullopt;
  }
  int burst = config.burst() > 0
                  ? config.burst()
                  : static_cast<int>(std::min<double>(
                        INT32_MAX, std::max(1.0, std::ceil(config.requests_per_second()))));
  return RateLimiter::Limit{.per_second = config.requests_per_second(), .burst = burst};
}

absl::StatusOr<std::unique_ptr<CallerRateLimits>> CallerRateLimits::Create(
    const config::v1::RateLimiting& config, Clock* clock) {
  if (config.max_callers() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "gateway.rate_limiting.max_callers: must be >= 0, got ", config.max_callers()));
  }
  std::unique_ptr<CallerRateLimits> limits(
      new CallerRateLimits(config.max_callers() > 0 ? config.max_callers() : 100000, clock));
  FANOUT_ASSIGN_OR_RETURN(limits->global_,
                          LimitFromConfig(config.global(), "gateway.rate_limiting.global"));
  absl::StatusOr<TrustedProxies> trusted =
      TrustedProxies::Parse({config.trusted_proxies().begin(), config.trusted_proxies().end()});
  if (!trusted.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("gateway.rate_limiting.trusted_proxies: ", trusted.status().message()));
  }
  limits->trusted_ = *std::move(trusted);
  return limits;
}

absl::Status CallerRateLimits::Check(absl::string_view route,
                                     const std::optional<RateLimiter::Limit>& route_limit,
                                     absl::string_view caller, Headers* headers) {
  struct Applied {
    RateLimiter::Decision decision;
    std::string what;
  };
  std::optional<Applied> tightest, refused;
  auto take = [&](absl::string_view scope, const RateLimiter::Limit& limit, std::string what) {
    RateLimiter::Decision d = limiter_.Take(RateLimiter::Key(scope, caller), limit);
    if (!tightest || d.remaining < tightest->decision.remaining) tightest = Applied{d, what};
    if (!d.allowed && (!refused || d.retry_after > refused->decision.retry_after)) {
      refused = Applied{d, std::move(what)};
    }
  };
  if (global_) take("", *global_, "the gateway's limit");
  if (route_limit) take(route, *route_limit, absl::StrCat("route \"", route, "\"'s limit"));
  if (!tightest) return absl::OkStatus();
  const RateLimiter::Decision& shown = refused ? refused->decision : tightest->decision;
  auto seconds = [](absl::Duration d) {
    return absl::StrCat(static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(d))));
  };
  headers->emplace_back("RateLimit-Limit", absl::StrCat(shown.limit));
  headers->emplace_back("RateLimit-Remaining", absl::StrCat(shown.remaining));
  headers->emplace_back("RateLimit-Reset", seconds(shown.reset));
  if (!refused) return absl::OkStatus();
  headers->emplace_back("Retry-After", seconds(shown.retry_after));
  return absl::ResourceExhaustedError(
      absl::StrCat("rate limited: ", refused->what, " (", shown.limit,
                   " requests at once per caller) is used up; retry in ",
                   absl::FormatDuration(absl::Ceil(shown.retry_after, absl::Milliseconds(1)))));
}

}  // namespace fanout::gateway
