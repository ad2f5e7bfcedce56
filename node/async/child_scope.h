// ChildScope: the machinery under Gather, GatherSettled, AsCompleted,
// WithDeadline and TaskGroup. Not for direct use.
//
// Children run concurrently on the parent's loop under one cancellation
// source (a child of the parent's token), so cancelling the parent, or the
// scope, cancels them all. The parent awaits Join() and resumes when the last
// child is done: children never outlive the combinator that started them.
//
// Loop-affine.
#pragma once

#include <coroutine>
#include <memory>
#include <utility>

#include "node/async/task.h"

namespace fanout::internal {

class ChildScope {
 public:
  explicit ChildScope(TaskContext parent, absl::Time deadline = absl::InfiniteFuture())
      : loop_(parent.loop), source_(parent.token, deadline), span_(std::move(parent.span)) {}
  ChildScope(const ChildScope&) = delete;
  ChildScope& operator=(const ChildScope&) = delete;

  // Starts `task` now; `on_done(result)` runs on completion, before the
  // parent is resumed. The scope must stay alive while children run: keep it
  // in a shared_ptr that Start also holds.
  template <typename T, typename OnDone>
  static void Start(std::shared_ptr<ChildScope> scope, Task<T> task, OnDone on_done) {
    ++scope->running_;
    Run(std::move(scope), std::move(task), std::move(on_done));
  }

  void Cancel(absl::Status reason) { source_.Cancel(std::move(reason)); }
  CancellationSource& source() { return source_; }
  EventLoop* loop() const { return loop_; }
  int running() const { return running_; }

  // Suspends until no child runs (or, with `wake_on_each`, until the next one
  // finishes).
  struct Waiter {
    ChildScope* scope;
    bool each;
    bool await_ready() noexcept { return scope->running_ == 0; }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      scope->waiter_ = h;
      scope->wake_on_each_ = each;
    }
    void await_resume() noexcept {}
  };
  Waiter Join() { return {this, false}; }
  Waiter NextDone() { return {this, true}; }

 private:
  template <typename T, typename OnDone>
  static DetachedTask Run(std::shared_ptr<ChildScope> self, Task<T> task, OnDone on_done) {
    TaskContext context{self->loop_, self->source_.token(), self->span_};
    if constexpr (std::is_void_v<T>) {
      co_await std::move(task).WithContext(context);
      on_done();
    } else {
      on_done(co_await std::move(task).WithContext(context));
    }
    --self->running_;
    if (self->waiter_ && (self->wake_on_each_ || self->running_ == 0)) {
      co_await ContinueWith{std::exchange(self->waiter_, {})};
    }
  }

  EventLoop* loop_;
  CancellationSource source_;
  std::shared_ptr<trace::Span> span_;
  int running_ = 0;
  std::coroutine_handle<> waiter_;
  bool wake_on_each_ = false;
};

}  // namespace fanout::internal
