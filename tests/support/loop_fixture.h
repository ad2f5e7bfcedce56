// LoopTest: a fixture with a few event loops and Run(task), which runs a
// task on loop 0 and returns its result.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "node/async/spawn.h"
#include "node/loop/event_loop.h"

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

}  // namespace fanout::testing
