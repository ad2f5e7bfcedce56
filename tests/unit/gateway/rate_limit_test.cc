// RateLimiter on a manual clock: buckets exact to the token, independent per
// caller and scope, and a table that stays bounded whatever callers do.
#include "gateway/rate_limit.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace fanout::gateway {
namespace {

class RateLimitTest : public ::testing::Test {
 protected:
  ManualClock clock_;
};

TEST_F(RateLimitTest, ABucketAdmitsItsBurstThenOneATokenAsItRefills) {
  RateLimiter limiter({.clock = &clock_});
  const RateLimiter::Limit limit{.per_second = 2, .burst = 5};
  const std::string key = RateLimiter::Key("route", "10.0.0.1");
  for (int i = 0; i < 5; ++i) {
    RateLimiter::Decision d = limiter.Take(key, limit);
    EXPECT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.limit, 5);
    EXPECT_EQ(d.remaining, 4 - i);
  }
  RateLimiter::Decision refused = limiter.Take(key, limit);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0);
  EXPECT_EQ(refused.retry_after, absl::Milliseconds(500));  // One token at 2/s.
  EXPECT_EQ(refused.reset, absl::Milliseconds(2500));       // Five tokens.

  clock_.Advance(absl::Milliseconds(499));
  EXPECT_FALSE(limiter.Take(key, limit).allowed);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_TRUE(limiter.Take(key, limit).allowed);
  EXPECT_FALSE(limiter.Take(key, limit).allowed);

  clock_.Advance(absl::Hours(1));  // Full again, and no fuller than the burst.
  int admitted = 0;
  while (limiter.Take(key, limit).allowed) ++admitted;
  EXPECT_EQ(admitted, 5);
}

TEST_F(RateLimitTest, CallersAndScopesHaveTheirOwnBuckets) {
  RateLimiter limiter({.clock = &clock_});
  const RateLimiter::Limit one{.per_second = 1, .burst = 1};
  EXPECT_TRUE(limiter.Take(RateLimiter::Key("a", "alice"), one).allowed);
  EXPECT_FALSE(limiter.Take(RateLimiter::Key("a", "alice"), one).allowed);
  EXPECT_TRUE(limiter.Take(RateLimiter::Key("a", "bob"), one).allowed);
  EXPECT_TRUE(limiter.Take(RateLimiter::Key("b", "alice"), one).allowed);
  EXPECT_TRUE(limiter.Take(RateLimiter::Key("", "alice"), one).allowed);
  // The separator keeps ("a", "b\0c") and ("a\0b", "c") apart in spirit:
  // a scope is a route name, which has no NUL.
  EXPECT_NE(RateLimiter::Key("ab", "c"), RateLimiter::Key("a", "bc"));
}

TEST_F(RateLimitTest, TheTableStaysBoundedAndNewcomersShareAnOverflowBucket) {
  RateLimiter limiter({.max_buckets = 32, .clock = &clock_});
  const RateLimiter::Limit limit{.per_second = 1, .burst = 3};
  // Ten thousand callers, each still drawing (none refilled): the table
  // holds at most 32; the rest share one bucket per scope, so most of
  // them are refused.
  int admitted = 0;
  for (int i = 0; i < 10000; ++i) {
    if (limiter.Take(RateLimiter::Key("r", absl::StrCat("10.1.", i / 256, ".", i % 256)), limit)
            .allowed) {
      ++admitted;
    }
    EXPECT_LE(limiter.buckets(), 32u);
  }
  EXPECT_LE(admitted, 32 + 16 * 3);  // Each tracked caller once; each shard's overflow its burst.
  EXPECT_GE(admitted, 32);
  // Once buckets have refilled they are dropped for newcomers.
  clock_.Advance(absl::Seconds(10));
  EXPECT_TRUE(limiter.Take(RateLimiter::Key("r", "newcomer"), limit).allowed);
  EXPECT_LE(limiter.buckets(), 32u);
}

TEST_F(RateLimitTest, ALimitChangedByConfigAppliesToAnExistingBucket) {
  RateLimiter limiter({.clock = &clock_});
  const std::string key = RateLimiter::Key("r", "c");
  EXPECT_TRUE(limiter.Take(key, {.per_second = 1, .burst = 1}).allowed);
  EXPECT_FALSE(limiter.Take(key, {.per_second = 1, .burst = 1}).allowed);
  clock_.Advance(absl::Milliseconds(100));
  // Ten a second now: a tenth of a second made one token.
  EXPECT_TRUE(limiter.Take(key, {.per_second = 10, .burst = 1}).allowed);
}

}  // namespace
}  // namespace fanout::gateway
