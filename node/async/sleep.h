// asyncio.sleep for coroutines, on the loop's timers (grpc::Alarm).
//
//   FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Milliseconds(100)));
//
// Sleep returns OK when the time is up, or the task's cancellation reason
// (CANCELLED, DEADLINE_EXCEEDED) as soon as it is cancelled.
//
// Loop-affine.
#pragma once

#include <grpcpp/alarm.h>

#include <coroutine>
#include <optional>

#include "absl/time/time.h"
#include "node/async/task.h"
#include "node/loop/event_loop.h"

namespace fanout {

class SleepAwaiter final : public Completion {
 public:
  explicit SleepAwaiter(absl::Time until) : until_(until) {}

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
  TaskContext context_;
  std::coroutine_handle<> handle_;
  absl::Status result_;
  grpc::Alarm alarm_;
  std::optional<CancellationCallback> on_cancel_;
};

inline SleepAwaiter Sleep(absl::Duration d) { return SleepAwaiter(absl::Now() + d); }
inline SleepAwaiter SleepUntil(absl::Time t) { return SleepAwaiter(t); }

}  // namespace fanout
