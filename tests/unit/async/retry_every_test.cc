#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "node/async/every.h"
#include "node/async/retry.h"
#include "node/async/with_deadline.h"
#include "node/base/status_macros.h"
#include "node/base/sync.h"
#include "tests/support/loop_fixture.h"
#include "tests/support/status_matchers.h"

namespace fanout {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::IsOkAndHolds;
using ::fanout::testing::StatusIs;
using ::testing::ElementsAre;

// Retry sleeps with the real Sleep, on simulated time: the waits are read
// off the clock between attempts, exactly, and take no wall-clock time.
class RetryTest : public testing::SimulatedLoopTest {
 protected:
  // Fails with `code` `failures` times, then answers 7.
  auto Flaky(int failures, absl::StatusCode code = absl::StatusCode::kUnavailable) {
    return [this, failures, code]() -> Task<absl::StatusOr<int>> {
      attempted_at_.push_back(clock().Now());
      if (attempts() <= failures) co_return absl::Status(code, "flaky");
      co_return 7;
    };
  }
  int attempts() const { return static_cast<int>(attempted_at_.size()); }
  // The backoffs: the gaps between attempts.
  std::vector<absl::Duration> waits() const {
    std::vector<absl::Duration> gaps;
    for (size_t i = 1; i < attempted_at_.size(); ++i) {
      gaps.push_back(attempted_at_[i] - attempted_at_[i - 1]);
    }
    return gaps;
  }

  std::vector<absl::Time> attempted_at_;  // Written on loop 0.
};

TEST_F(RetryTest, BacksOffExponentiallyWithoutJitter) {
  RetryPolicy policy{.max_attempts = 5,
                     .initial_backoff = absl::Milliseconds(10),
                     .max_backoff = absl::Milliseconds(30),
                     .multiplier = 2,
                     .jitter = 0};
  EXPECT_THAT(Run(Retry(policy, Flaky(4))), IsOkAndHolds(7));
  EXPECT_EQ(attempts(), 5);
  // 10, 20, then capped at 30.
  EXPECT_THAT(waits(), ElementsAre(absl::Milliseconds(10), absl::Milliseconds(20),
                                   absl::Milliseconds(30), absl::Milliseconds(30)));
}

TEST_F(RetryTest, JitterStaysWithinItsBand) {
  RetryPolicy policy{.initial_backoff = absl::Milliseconds(100), .jitter = 0.2};
  absl::BitGen gen;
  for (int i = 0; i < 1000; ++i) {
    absl::Duration d = policy.Backoff(1, gen);
    EXPECT_GE(d, absl::Milliseconds(80));
    EXPECT_LE(d, absl::Milliseconds(120));
  }
}

TEST_F(RetryTest, GivesUpAfterMaxAttempts) {
  RetryPolicy policy{.max_attempts = 3, .jitter = 0};
  EXPECT_THAT(Run(Retry(policy, Flaky(10))), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(attempts(), 3);
}

TEST_F(RetryTest, DoesNotRetryOtherCodes) {
  RetryPolicy policy{.max_attempts = 3};
  EXPECT_THAT(Run(Retry(policy, Flaky(1, absl::StatusCode::kInvalidArgument))),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(attempts(), 1);
}

TEST_F(RetryTest, NeverSleepsPastTheDeadline) {
  // The deadline is in the loop's (simulated) time: 25 ms leaves room for one
  // 20 ms wait only.
  RetryPolicy policy{
      .max_attempts = 10, .initial_backoff = absl::Milliseconds(20), .multiplier = 1, .jitter = 0};
  auto run = [&]() -> Task<absl::StatusOr<int>> {
    CancellationSource source((co_await CurrentContext()).token,
                              clock().Now() + absl::Milliseconds(25));
    TaskContext context = co_await CurrentContext();
    context.token = source.token();
    co_return co_await Retry(policy, Flaky(10)).WithContext(context);
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(waits(), ElementsAre(absl::Milliseconds(20)));
  EXPECT_EQ(attempts(), 2);
}

TEST_F(RetryTest, BudgetStopsRetriesDuringAnOutage) {
  RetryBudget budget({.max_tokens = 4, .token_ratio = 0.5});
  RetryPolicy policy{.max_attempts = 10, .jitter = 0};
  RetryOptions options{.budget = &budget};
  // Every attempt fails: 4 tokens, 3 after one failure (retry allowed: > 2),
  // 2 after the second (not above half): no third attempt.
  EXPECT_THAT(Run(Retry(policy, Flaky(100), options)), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(attempts(), 2);
  EXPECT_FALSE(budget.AllowRetry());
  // Successes refill it.
  for (int i = 0; i < 4; ++i) budget.OnSuccess();
  EXPECT_TRUE(budget.AllowRetry());
}

TEST_F(RetryTest, PolicyValidationNamesTheField) {
  EXPECT_THAT(RetryPolicy{.max_attempts = 0}.Validate(), ::testing::HasSubstr("max_attempts"));
  EXPECT_THAT(RetryPolicy{.jitter = 2}.Validate(), ::testing::HasSubstr("jitter"));
  EXPECT_EQ(RetryPolicy{}.Validate(), "");
}

// Rounds are stamped with the simulated time they ran at: the schedule is
// checked exactly, with no polling and no wall-clock wait.
class EveryTest : public testing::SimulatedLoopTest {
 protected:
  absl::Duration SinceStart() const { return EventLoop::Current()->Now() - start_; }

  const absl::Time start_ = clock().Now();
  std::vector<absl::Duration> rounds_;  // Written on loop 0.
};

TEST_F(EveryTest, RunsARoundPerIntervalUntilCancelled) {
  Task<absl::Status> periodic = Every(absl::Seconds(1), [&]() -> Task<absl::Status> {
    rounds_.push_back(SinceStart());
    if (rounds_.size() == 2) co_return absl::InternalError("one bad round is logged, not fatal");
    co_return absl::OkStatus();
  });
  // Cancelled by the timeout, the periodic task ends quietly.
  EXPECT_THAT(Run(WithTimeout(std::move(periodic), absl::Milliseconds(5500))), IsOk());
  EXPECT_THAT(rounds_, ElementsAre(absl::Seconds(1), absl::Seconds(2), absl::Seconds(3),
                                   absl::Seconds(4), absl::Seconds(5)));
}

TEST_F(EveryTest, ASlowRoundDelaysTheScheduleInsteadOfBursting) {
  Task<absl::Status> periodic = Every(absl::Seconds(1), [&]() -> Task<absl::Status> {
    rounds_.push_back(SinceStart());
    // The first round overruns two and a half intervals.
    if (rounds_.size() == 1) FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Milliseconds(2500)));
    co_return absl::OkStatus();
  });
  EXPECT_THAT(Run(WithTimeout(std::move(periodic), absl::Seconds(6))), IsOk());
  // The missed rounds are not made up: one at once, then every second again.
  EXPECT_THAT(rounds_, ElementsAre(absl::Seconds(1), absl::Milliseconds(3500),
                                   absl::Milliseconds(4500), absl::Milliseconds(5500)));
}

// The loop itself, on real time (its Post and wake-up); nothing here waits
// for time to pass.
class EventLoopTest : public testing::LoopTest {};

TEST_F(EventLoopTest, PostRunsOnTheTargetLoopInOrder) {
  std::vector<int> seen;
  Notification done;
  for (int i = 0; i < 100; ++i) {
    loop(1).Post([&, i] {
      if (EventLoop::Current() == &loop(1)) seen.push_back(i);
      if (i == 99) done.Notify();
    });
  }
  done.WaitForNotification();
  ASSERT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[i], i);
}

TEST_F(EventLoopTest, SpawnedFailuresAreReported) {
  auto fail = []() -> Task<absl::Status> { co_return absl::InternalError("lost?"); };
  int64_t before = loop(1).failures();
  Spawn(loop(1), fail(), "failing task");
  // BlockOn after it on the same loop: the spawned task has finished by then.
  auto noop = []() -> Task<absl::Status> { co_return absl::OkStatus(); };
  ASSERT_TRUE(BlockOn(loop(1), noop()).ok());
  EXPECT_EQ(loop(1).failures(), before + 1);
}

TEST(EventLoopStopTest, StopCancelsRunningTasksAndPostFailsAfter) {
  LoopGroup loops({.num_loops = 1});
  absl::Status ended;
  Notification finished;
  auto forever = [&]() -> Task<absl::Status> {
    ended = co_await Sleep(absl::Hours(1));
    finished.Notify();
    co_return absl::OkStatus();
  };
  Spawn(loops.At(0), forever());
  loops.Stop(absl::Now() + absl::Seconds(5));
  EXPECT_TRUE(finished.HasBeenNotified());
  // Nobody cancelled it: the node is going away (a REST caller sees 503).
  EXPECT_THAT(ended, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_FALSE(loops.At(0).Post([] {}));
}

}  // namespace
}  // namespace fanout
