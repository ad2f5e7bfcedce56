#include "node/loop/simulated_clock.h"

#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "node/async/every.h"
#include "node/async/promise.h"
#include "node/async/sleep.h"
#include "node/async/with_deadline.h"
#include "node/base/status_macros.h"
#include "node/loop/timer.h"
#include "tests/support/loop_fixture.h"
#include "tests/support/status_matchers.h"

namespace fanout {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::IsOkAndHolds;
using ::fanout::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class SimulatedClockTest : public testing::SimulatedLoopTest {
 protected:
  // Sets a Timer on `loop` (on its thread) that appends `name` to fired_ or
  // "<name> cancelled" when it completes.
  Timer& SetTimer(EventLoop& on, absl::Duration after, std::string name) {
    auto set = [&]() -> Task<void> {
      timers_.emplace_back(on, on.Now() + after, [this, name](bool fired) {
        fired_.push_back(fired ? name : name + " cancelled");
      });
      co_return;
    };
    BlockOn(on, set());
    return timers_.back();
  }

  // Written on the loops, read by the test once Advance has returned (the
  // loops are idle then, and what they did is visible).
  std::vector<std::string> fired_;
  std::deque<Timer> timers_;  // Timers must outlive their callbacks.
};

TEST_F(SimulatedClockTest, ASleepWakesWhenTimeIsAdvancedPastIt) {
  const absl::Time start = clock().Now();
  absl::Time woke = absl::InfinitePast();
  auto sleeper = [&]() -> Task<absl::Status> {
    FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Seconds(10)));
    woke = EventLoop::Current()->Now();
    co_return absl::OkStatus();
  };
  Spawn(loop(), sleeper());
  clock().Advance(absl::Seconds(9));
  EXPECT_EQ(woke, absl::InfinitePast());
  EXPECT_EQ(clock().pending_timers(), 1u);
  clock().Advance(absl::Seconds(1));
  EXPECT_EQ(woke, start + absl::Seconds(10));
  EXPECT_EQ(clock().pending_timers(), 0u);
}

TEST_F(SimulatedClockTest, TimersFireInDeadlineOrderThenInTheOrderSet) {
  SetTimer(loop(), absl::Seconds(3), "c");
  SetTimer(loop(), absl::Seconds(1), "a1");
  SetTimer(loop(1), absl::Seconds(2), "b");
  SetTimer(loop(), absl::Seconds(1), "a2");
  EXPECT_EQ(clock().NextDeadline(), clock().Now() + absl::Seconds(1));
  clock().Advance(absl::Seconds(5));
  EXPECT_THAT(fired_, ElementsAre("a1", "a2", "b", "c"));
}

TEST_F(SimulatedClockTest, ACancelledTimerCompletesOnceAndNeverFires) {
  Timer& timer = SetTimer(loop(), absl::Seconds(1), "t");
  auto cancel = [&]() -> Task<void> {
    timer.Cancel();
    co_return;
  };
  BlockOn(loop(), cancel());
  clock().AwaitIdle();
  EXPECT_TRUE(timer.done());
  clock().Advance(absl::Seconds(2));
  EXPECT_THAT(fired_, ElementsAre("t cancelled"));
}

TEST_F(SimulatedClockTest, ATimerAlreadyDueFiresWithoutAdvancing) {
  const absl::Time start = clock().Now();
  SetTimer(loop(), absl::ZeroDuration(), "now");
  SetTimer(loop(), -absl::Seconds(1), "past");
  clock().AwaitIdle();
  EXPECT_THAT(fired_, ElementsAre("now", "past"));
  EXPECT_EQ(clock().Now(), start);
}

TEST_F(SimulatedClockTest, TimersSetByAWakeUpFireWithinTheSameAdvance) {
  const absl::Time start = clock().Now();
  std::vector<absl::Duration> rounds;
  Spawn(loop(), Every(absl::Seconds(10), [&]() -> Task<absl::Status> {
          rounds.push_back(EventLoop::Current()->Now() - start);
          co_return absl::OkStatus();
        }));
  clock().Advance(absl::Seconds(45));
  EXPECT_THAT(rounds, ElementsAre(absl::Seconds(10), absl::Seconds(20), absl::Seconds(30),
                                  absl::Seconds(40)));
  EXPECT_EQ(clock().Now(), start + absl::Seconds(45));
  loops().Stop(absl::Now() + absl::Seconds(5));  // Ends Every while `rounds` lives.
}

TEST_F(SimulatedClockTest, EachSleeperWakesOnItsOwnLoop) {
  auto where = [](absl::Duration d) -> Task<absl::StatusOr<int>> {
    FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(d));
    co_return EventLoop::Current()->index();
  };
  std::vector<absl::StatusOr<int>> seen(2);
  auto on = [&](int i) -> Task<absl::Status> {
    seen[i] = co_await where(absl::Seconds(1 + i));
    co_return absl::OkStatus();
  };
  Spawn(loop(0), on(0));
  Spawn(loop(1), on(1));
  clock().Advance(absl::Seconds(2));
  EXPECT_THAT(seen, ElementsAre(IsOkAndHolds(0), IsOkAndHolds(1)));
}

TEST_F(SimulatedClockTest, RunJumpsOverIdleTimeToTheNextDeadline) {
  const absl::Time start = clock().Now();
  auto nap = []() -> Task<absl::Status> { co_return co_await Sleep(absl::Minutes(30)); };
  EXPECT_THAT(Run(nap()), IsOk());
  EXPECT_EQ(clock().Now(), start + absl::Minutes(30));
}

TEST_F(SimulatedClockTest, ATimeoutExpiresAtExactlyItsDeadline) {
  const absl::Time start = clock().Now();
  auto forever = []() -> Task<absl::Status> { co_return co_await Sleep(absl::Hours(1)); };
  EXPECT_THAT(Run(WithTimeout(forever(), absl::Seconds(5))),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(clock().Now(), start + absl::Seconds(5));
  EXPECT_EQ(clock().pending_timers(), 0u);  // The cancelled sleep left nothing behind.
}

TEST_F(SimulatedClockTest, RunWaitsForWorkFromAnotherThread) {
  // No timer is pending while the task waits: Run must wait for the thread,
  // not give up (or jump time).
  auto [promise, future] = MakePromise<absl::StatusOr<int>>();
  Notification waiting;
  // A named capture: clang 14 (clang-tidy's) cannot capture a structured binding.
  auto wait = [&, &future = future]() -> Task<absl::StatusOr<int>> {
    waiting.Notify();
    co_return co_await future.Get();
  };
  std::thread other([&, p = std::move(promise)]() mutable {
    waiting.WaitForNotification();
    clock().AwaitIdle();  // The task is suspended on the future now.
    p.Set(7);
  });
  const absl::Time start = clock().Now();
  EXPECT_THAT(Run(wait()), IsOkAndHolds(7));
  EXPECT_EQ(clock().Now(), start);
  other.join();
}

TEST_F(SimulatedClockTest, RunFailsTheTestAtItsBoundAndCancelsTheTask) {
  absl::Status slept;
  auto sleep = [&]() -> Task<absl::Status> {
    slept = co_await Sleep(absl::Hours(2));
    co_return slept;
  };
  EXPECT_NONFATAL_FAILURE(slept = Run(sleep(), absl::Hours(1)),
                          "not done after 0 of simulated time (bound 1h; next timer at +2h)");
  EXPECT_THAT(slept, StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("bound reached")));
}

TEST(SimulatedClockLoopTest, StoppingALoopDropsItsTimers) {
  SimulatedClock clock;
  LoopGroup loops({.num_loops = 1, .simulated_clock = &clock});
  std::optional<Timer> timer;
  auto set = [&]() -> Task<void> {
    timer.emplace(loops.At(0), loops.At(0).Now() + absl::Seconds(1), [](bool) {});
    co_return;
  };
  BlockOn(loops.At(0), set());
  EXPECT_EQ(clock.pending_timers(), 1u);
  loops.Stop(absl::Now() + absl::Seconds(5));
  EXPECT_EQ(clock.pending_timers(), 0u);
  clock.Advance(absl::Seconds(2));  // Nothing to fire into a stopped loop.
  EXPECT_FALSE(timer->done());
}

TEST(SimulatedClockLoopTest, LoopsWithoutOneRunOnRealTime) {
  LoopGroup loops({.num_loops = 1});
  EXPECT_EQ(loops.At(0).simulated_clock(), nullptr);
  EXPECT_EQ(&loops.At(0).clock(), &Clock::Real());
  EXPECT_EQ(&loops.clock(), &Clock::Real());
}

}  // namespace
}  // namespace fanout
