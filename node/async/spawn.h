// Spawn: asyncio.create_task. Starts a task on a loop, detached.
//
//   Spawn(loop, ServeForever(), "acceptor");
//
// The task runs under a child of the loop's root cancellation source, so
// stopping the loop cancels it. A task that ends with a non-OK status is
// reported to the loop (logged and counted): failures are never lost.
//
// BlockOn runs a task to completion from outside any loop (main(), tests) and
// returns its value:
//
//   absl::StatusOr<int> sum = BlockOn(loops.At(0), Add(1, 2));
//
// Both are thread-safe. BlockOn must not be called from a loop thread.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

#include "node/async/task.h"
#include "node/base/log.h"
#include "node/base/sync.h"
#include "node/loop/event_loop.h"

namespace fanout {
namespace internal {

template <typename T, typename OnDone>
DetachedTask RunRoot(EventLoop* loop, Task<T> task, OnDone on_done) {
  CancellationSource source(loop->root_cancellation().token());
  TaskContext context{loop, source.token()};  // Named: see Known traps (README).
  if constexpr (std::is_void_v<T>) {
    co_await std::move(task).WithContext(context);
    on_done();
  } else {
    on_done(co_await std::move(task).WithContext(context));
  }
  loop->TaskFinished();
}

}  // namespace internal

// Returns false when the loop has stopped: the task is dropped (and logged).
template <typename T>
bool Spawn(EventLoop& loop, Task<T> task, std::string name = "task") {
  std::string what = name;
  bool posted = loop.Post([&loop, task = std::move(task), name = std::move(name)]() mutable {
    loop.TaskStarted();
    if constexpr (std::is_void_v<T>) {
      internal::RunRoot(&loop, std::move(task), [] {});
    } else {
      internal::RunRoot(&loop, std::move(task), [&loop, name = std::move(name)](T result) {
        absl::Status status = internal::StatusOf(result);
        if (!status.ok()) loop.ReportFailure(name, status);
      });
    }
  });
  if (!posted) FANOUT_LOG(WARNING) << what << ": not started, its loop has stopped";
  return posted;
}

template <typename T>
T BlockOn(EventLoop& loop, Task<T> task) {
  assert(!loop.InLoopThread());
  Notification done;
  std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> result;
  bool posted = loop.Post([&]() mutable {
    loop.TaskStarted();
    if constexpr (std::is_void_v<T>) {
      internal::RunRoot(&loop, std::move(task), [&] {
        result.emplace(true);
        done.Notify();
      });
    } else {
      internal::RunRoot(&loop, std::move(task), [&](T value) {
        result.emplace(std::move(value));
        done.Notify();
      });
    }
  });
  if (!posted) {
    if constexpr (StatusLike<T>) {
      return absl::UnavailableError("event loop is stopped");
    } else {
      std::fputs("fanout: BlockOn on a stopped event loop\n", stderr);
      std::abort();
    }
  }
  done.WaitForNotification();
  if constexpr (!std::is_void_v<T>) return std::move(*result);
}

}  // namespace fanout
