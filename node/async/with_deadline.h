// WithDeadline: asyncio.wait_for. Runs a task with a deadline; at the
// deadline the task is cancelled (its awaits return DEADLINE_EXCEEDED) and
// WithDeadline returns DEADLINE_EXCEEDED once the task has wound down.
//
//   absl::StatusOr<User> user = co_await WithTimeout(GetUser(id), absl::Milliseconds(200));
//   absl::StatusOr<User> user = co_await WithDeadline(GetUser(id), deadline);
//
// The deadline flows down: RPCs started inside carry the earlier of it and
// any outer deadline as their gRPC deadline. It is in the loop's time
// (EventLoop::Now(), simulated in tests); WithTimeout counts from when the
// awaited task starts. Loop-affine.
#pragma once

#include <optional>

#include "absl/strings/str_cat.h"
#include "node/async/child_scope.h"
#include "node/async/sleep.h"

namespace fanout {

namespace internal {

// WithDeadline with either a deadline or (when `timeout` is finite) a timeout
// from now on the task's loop: one coroutine frame either way.
template <StatusLike T>
Task<T> RunWithDeadline(Task<T> task, absl::Time deadline, absl::Duration timeout) {
  TaskContext context = co_await CurrentContext();
  if (timeout != absl::InfiniteDuration()) deadline = context.loop->Now() + timeout;
  if (deadline == absl::InfiniteFuture()) co_return co_await std::move(task);
  auto scope = std::make_shared<internal::ChildScope>(context, deadline);
  std::optional<T> result;
  bool expired = false;
  // Two children: the work and a sleeper. Whichever ends first cancels the other.
  internal::ChildScope::Start(scope, std::move(task), [&](T r) {
    result.emplace(std::move(r));
    scope->Cancel(absl::CancelledError("finished before the deadline"));
  });
  auto sleeper = [](absl::Time until) -> Task<absl::Status> {
    co_return co_await SleepUntil(until);
  };
  internal::ChildScope::Start(scope, sleeper(deadline), [&](absl::Status slept) {
    if (!slept.ok() || result.has_value()) return;
    expired = true;
    scope->Cancel(absl::DeadlineExceededError("deadline exceeded"));
  });
  co_await scope->Join();
  if (expired && !internal::StatusOf(*result).ok()) {
    co_return absl::DeadlineExceededError(
        absl::StrCat("deadline exceeded: ", internal::StatusOf(*result).message()));
  }
  co_return std::move(*result);
}

}  // namespace internal

template <StatusLike T>
Task<T> WithDeadline(Task<T> task, absl::Time deadline) {
  return internal::RunWithDeadline(std::move(task), deadline, absl::InfiniteDuration());
}

template <StatusLike T>
Task<T> WithTimeout(Task<T> task, absl::Duration timeout) {
  return internal::RunWithDeadline(std::move(task), absl::InfiniteFuture(), timeout);
}

}  // namespace fanout
