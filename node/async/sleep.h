// asyncio.sleep for coroutines, on the loop's timers (node/loop/timer.h).
//
//   FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Milliseconds(100)));
//
// Sleep returns OK when the time is up, or the task's cancellation reason
// (CANCELLED, DEADLINE_EXCEEDED) as soon as it is cancelled.
//
// Time is the loop's (EventLoop::Now()): Sleep(d) counts from when the
// sleep starts on the loop, and a loop on a SimulatedClock wakes the sleeper
// when the test advances time past it, not when the wall clock does.
//
// Loop-affine.
#pragma once

#include <coroutine>
#include <optional>

#include "absl/time/time.h"
#include "node/async/task.h"
#include "node/loop/event_loop.h"
#include "node/loop/timer.h"

namespace fanout {

class SleepAwaiter final : public Completion {
 public:
  // Until `until`, in the loop's time.
  explicit SleepAwaiter(absl::Time until) : until_(until) {}
  // For `d` from the start of the sleep.
  explicit SleepAwaiter(absl::Duration d) : for_(d), relative_(true) {}

  bool await_ready() noexcept { return false; }
  template <internal::TaskPromise P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return Start(h.promise().context, h);
  }
  absl::Status await_resume() { return std::move(result_); }

 private:
  bool Start(const TaskContext& context, std::coroutine_handle<> h);
  void OnComplete(bool ok) override;

  absl::Time until_;
  absl::Duration for_;
  bool relative_ = false;
  TaskContext context_;
  std::coroutine_handle<> handle_;
  absl::Status result_;
  LoopAlarm alarm_;
  std::optional<CancellationCallback> on_cancel_;
};

inline SleepAwaiter Sleep(absl::Duration d) { return SleepAwaiter(d); }
inline SleepAwaiter SleepUntil(absl::Time t) { return SleepAwaiter(t); }

}  // namespace fanout
