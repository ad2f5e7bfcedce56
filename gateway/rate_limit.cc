#include "gateway/rate_limit.h"

#include <algorithm>
#include <cmath>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

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

}  // namespace fanout::gateway
