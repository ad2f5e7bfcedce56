// RunUntilDone: BlockOn for loops on a SimulatedClock. Runs a task on a loop
// and, whenever the clock's loops are idle, jumps time to the next timer
// deadline, until the task is done: a test of a 10 s timeout takes
// microseconds, and no test waits on the wall clock.
//
//   SimulatedClock clock;
//   LoopGroup loops({.num_loops = 1, .simulated_clock = &clock});
//   absl::StatusOr<int> v = RunUntilDone(loops.At(0), clock, SlowAnswer());
//
// `max_simulated` bounds the simulated time the task may take: past it the
// test fails, the task is cancelled (DEADLINE_EXCEEDED) and its result, once
// it has wound down, is returned. While no timer is pending but the task is
// not done, it waits (in real time, up to a minute) for work from another
// thread, such as an Offload pool's.
//
// Thread-safe; not from a loop thread.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "node/async/spawn.h"
#include "node/async/task.h"
#include "node/base/sync.h"
#include "node/loop/event_loop.h"
#include "node/loop/simulated_clock.h"

namespace fanout::testing {

inline constexpr absl::Duration kDefaultMaxSimulated = absl::Hours(1);

namespace internal {

// Runs `task` under a source of its own that the driver can cancel; `*source`
// points at it while the task runs. Loop-affine.
template <typename T>
Task<T> UnderOwnSource(Task<T> task, CancellationSource** source) {
  TaskContext context = co_await CurrentContext();
  CancellationSource own(context.token);
  *source = &own;
  TaskContext child{context.loop, own.token(), context.span};  // Named: Known traps.
  if constexpr (std::is_void_v<T>) {
    co_await std::move(task).WithContext(child);
    *source = nullptr;
  } else {
    T result = co_await std::move(task).WithContext(child);
    *source = nullptr;
    co_return result;
  }
}

}  // namespace internal

template <typename T>
T RunUntilDone(EventLoop& loop, SimulatedClock& clock, Task<T> task,
               absl::Duration max_simulated = kDefaultMaxSimulated) {
  constexpr absl::Duration kRealPatience = absl::Minutes(1);
  Notification done;
  std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> result;
  CancellationSource* source = nullptr;  // Loop-affine.
  bool posted = loop.Post([&] {
    loop.TaskStarted();
    Task<T> run = internal::UnderOwnSource(std::move(task), &source);
    if constexpr (std::is_void_v<T>) {
      fanout::internal::RunRoot(&loop, std::move(run), [&] {
        result.emplace(true);
        done.Notify();
      });
    } else {
      fanout::internal::RunRoot(&loop, std::move(run), [&](T value) {
        result.emplace(std::move(value));
        done.Notify();
      });
    }
  });
  if (!posted) {
    std::fputs("RunUntilDone: the loop is stopped\n", stderr);
    std::abort();
  }
  const absl::Time start = clock.Now();
  const absl::Time limit = start + max_simulated;
  bool gave_up = false;
  for (;;) {
    const uint64_t seen = clock.AwaitIdle();
    if (done.HasBeenNotified()) break;
    std::optional<absl::Time> next = clock.NextDeadline();
    if (next.has_value() && *next <= limit && !gave_up) {
      clock.AdvanceTo(*next);
      continue;
    }
    // Nothing due in time: only another thread can still move the task on.
    if (!next.has_value() || gave_up) {
      if (clock.AwaitActivity(seen, absl::Now() + kRealPatience)) continue;
      if (gave_up) {
        std::fputs("RunUntilDone: the task ignores its cancellation; giving up\n", stderr);
        std::abort();
      }
    }
    ADD_FAILURE() << "RunUntilDone: the task is not done after "
                  << absl::FormatDuration(clock.Now() - start) << " of simulated time (bound "
                  << absl::FormatDuration(max_simulated)
                  << (next.has_value()
                          ? absl::StrCat("; next timer at +", absl::FormatDuration(*next - start))
                          : std::string("; no timer pending, nothing arrived"))
                  << "); cancelling it";
    gave_up = true;
    loop.Post([&source] {
      if (source != nullptr) {
        source->Cancel(absl::DeadlineExceededError("RunUntilDone: simulated time bound reached"));
      }
    });
  }
  if constexpr (!std::is_void_v<T>) return std::move(*result);
}

}  // namespace fanout::testing
