// Fixtures with a few event loops and Run(task), which runs a task on loop 0
// and returns its result.
//
// SimulatedLoopTest, for unit tests: the loops' time is a SimulatedClock
// (node/loop/simulated_clock.h) and Run() advances it whenever the loops are
// idle (tests/support/run_until_done.h), so sleeps, timeouts and backoffs
// take no wall-clock time and happen in exactly the order their deadlines say.
//
//   class RetryTest : public testing::SimulatedLoopTest {};
//   TEST_F(RetryTest, GivesUp) {
//     EXPECT_THAT(Run(WithTimeout(Forever(), absl::Seconds(5))), StatusIs(kDeadlineExceeded));
//     EXPECT_EQ(clock().Now() - start, absl::Seconds(5));  // exactly
//   }
//
// LoopTest: real time, for tests that talk to real gRPC servers (integration).
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "node/async/spawn.h"
#include "node/loop/event_loop.h"
#include "node/loop/simulated_clock.h"
#include "tests/support/run_until_done.h"

namespace fanout::testing {

class LoopTest : public ::testing::Test {
 protected:
  explicit LoopTest(int num_loops = 2)
      : loops_(std::make_unique<LoopGroup>(LoopGroup::Options{.num_loops = num_loops})) {}
  ~LoopTest() override { loops_->Stop(absl::Now() + absl::Seconds(5)); }

  template <typename T>
  T Run(Task<T> task) {
    return BlockOn(loops_->At(0), std::move(task));
  }
  EventLoop& loop(int i = 0) { return loops_->At(i); }
  LoopGroup& loops() { return *loops_; }

 private:
  std::unique_ptr<LoopGroup> loops_;
};

class SimulatedLoopTest : public ::testing::Test {
 protected:
  explicit SimulatedLoopTest(int num_loops = 2)
      : loops_(std::make_unique<LoopGroup>(
            LoopGroup::Options{.num_loops = num_loops, .simulated_clock = &clock_})) {}
  // The stop's deadline is real: it bounds a wait for the loops' threads.
  ~SimulatedLoopTest() override { loops_->Stop(absl::Now() + absl::Seconds(5)); }

  // Runs `task` on loop 0, advancing simulated time until it is done (at
  // most `max_simulated` of it).
  template <typename T>
  T Run(Task<T> task, absl::Duration max_simulated = kDefaultMaxSimulated) {
    return RunUntilDone(loops_->At(0), clock_, std::move(task), max_simulated);
  }
  EventLoop& loop(int i = 0) { return loops_->At(i); }
  LoopGroup& loops() { return *loops_; }
  SimulatedClock& clock() { return clock_; }

 private:
  SimulatedClock clock_;  // Before the loops: it outlives them.
  std::unique_ptr<LoopGroup> loops_;
};

}  // namespace fanout::testing
