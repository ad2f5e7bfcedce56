// CqOp: awaits one completion-queue operation. Not for direct use: the
// building block of the RPC glue.
//
//   bool ok = co_await CqOp([&](EventLoop* loop, void* tag) {
//     reader->Finish(&response, &status, tag);
//   });
//
// The operation is started on the current task's loop and completes there.
// When the loop is draining the operation is not started and `ok` is false.
// Loop-affine.
#pragma once

#include <coroutine>

#include "node/async/task.h"
#include "node/loop/event_loop.h"

namespace fanout::internal {

template <typename Start>
class CqOp final : public Completion {
 public:
  explicit CqOp(Start start) : start_(std::move(start)) {}

  bool await_ready() noexcept { return false; }
  template <TaskPromise P>
  bool await_suspend(std::coroutine_handle<P> h) {
    EventLoop* loop = h.promise().context.loop;
    if (!loop->accepting_operations()) return false;
    handle_ = h;
    start_(loop, static_cast<Completion*>(this));
    return true;
  }
  bool await_resume() noexcept { return ok_; }

 private:
  void OnComplete(bool ok) override {
    ok_ = ok;
    handle_.resume();
  }

  Start start_;
  std::coroutine_handle<> handle_;
  bool ok_ = false;
};

// A tag that may complete while nobody awaits it (ServerContext's
// AsyncNotifyWhenDone): records that it arrived and wakes a later waiter.
class Signal final : public Completion {
 public:
  bool arrived() const { return arrived_; }
  void set_on_arrival(absl::AnyInvocable<void()> fn) { on_arrival_ = std::move(fn); }

  bool await_ready() noexcept { return arrived_; }
  void await_suspend(std::coroutine_handle<> h) noexcept { waiter_ = h; }
  void await_resume() noexcept {}

 private:
  void OnComplete(bool) override {
    arrived_ = true;
    if (on_arrival_) on_arrival_();
    if (waiter_) std::exchange(waiter_, {}).resume();
  }

  bool arrived_ = false;
  absl::AnyInvocable<void()> on_arrival_;
  std::coroutine_handle<> waiter_;
};

}  // namespace fanout::internal
