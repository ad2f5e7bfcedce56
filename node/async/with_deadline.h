// WithDeadline: asyncio.wait_for. Runs a task with a deadline; at the
// deadline the task is cancelled (its awaits return DEADLINE_EXCEEDED) and
// WithDeadline returns DEADLINE_EXCEEDED once the task has wound down.
//
//   absl::StatusOr<User> user =
//       co_await WithDeadline(GetUser(id), absl::Now() + absl::Milliseconds(200));
//
// The deadline flows down: RPCs started inside carry the earlier of it and
// any outer deadline as their gRPC deadline. Loop-affine.
#pragma once

#include <optional>

#include "absl/strings/str_cat.h"
#include "node/async/child_scope.h"
#include "node/async/sleep.h"

namespace fanout {

template <StatusLike T>
Task<T> WithDeadline(Task<T> task, absl::Time deadline) {
  TaskContext context = co_await CurrentContext();
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

template <StatusLike T>
Task<T> WithTimeout(Task<T> task, absl::Duration timeout) {
  return WithDeadline(std::move(task), absl::Now() + timeout);
}

}  // namespace fanout
