// Task<T>: a lazy coroutine, asyncio's `async def`.
//
// A Task does nothing until it is awaited (or spawned); awaiting one transfers
// control to it directly (symmetric transfer, no stack growth) and resumes the
// awaiter when it finishes. Each task runs with a TaskContext, inherited from
// whoever awaits it: the loop it runs on and the cancellation token (with the
// deadline) that every await inside it watches, and the trace span it works
// under.
//
//   Task<absl::StatusOr<int>> Add(int a, int b) {
//     FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Milliseconds(10)));
//     co_return a + b;
//   }
//   Task<absl::Status> Caller() {
//     FANOUT_CO_ASSIGN_OR_RETURN(int sum, co_await Add(1, 2));
//     ...
//   }
//
// GCC turns symmetric transfer into a tail call only when optimizing: build
// with -O1 or more (every fanout build type but Debug does), or long chains
// of synchronously completing awaits grow the stack.
//
// Loop-affine: a task runs on the loop it was spawned on.
#pragma once

#include <coroutine>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "node/base/cancellation.h"

namespace fanout {

class EventLoop;
namespace trace {
class Span;
}

struct TaskContext {
  EventLoop* loop = nullptr;
  CancellationToken token;
  // The span the task works under; null when not traced. Backend calls made
  // inside are its children; combinators pass it on to their children.
  std::shared_ptr<trace::Span> span;
};

namespace internal {

class PromiseBase {
 public:
  TaskContext context;
  std::coroutine_handle<> continuation;
  bool context_bound = false;  // Set explicitly; do not inherit from the awaiter.

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <typename P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      std::coroutine_handle<> next = h.promise().continuation;
      return next ? next : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }

  void unhandled_exception() noexcept {
    // fanout does not use exceptions across tasks; one escaping is a bug.
    std::fputs("fanout: exception escaped a Task\n", stderr);
    std::abort();
  }
};

template <typename P>
concept TaskPromise = std::is_base_of_v<PromiseBase, P>;

template <typename T>
class ValuePromise : public PromiseBase {
 public:
  template <typename U>
  void return_value(U&& value) {
    value_.emplace(std::forward<U>(value));
  }
  T TakeValue() { return std::move(*value_); }

 private:
  std::optional<T> value_;
};

template <>
class ValuePromise<void> : public PromiseBase {
 public:
  void return_void() {}
  void TakeValue() {}
};

}  // namespace internal

template <typename T = void>
class [[nodiscard]] Task {
 public:
  struct promise_type : internal::ValuePromise<T> {
    Task get_return_object() {
      return Task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
  };
  using value_type = T;

  Task() = default;
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      Destroy();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  ~Task() { Destroy(); }

  bool valid() const { return static_cast<bool>(handle_); }

  // Runs the task under `context` instead of the awaiter's. For combinators
  // that give children a cancellation source of their own.
  Task&& WithContext(TaskContext context) && {
    handle_.promise().context = context;
    handle_.promise().context_bound = true;
    return std::move(*this);
  }

  struct Awaiter {
    std::coroutine_handle<promise_type> child;
    bool await_ready() noexcept { return false; }
    template <internal::TaskPromise P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> parent) noexcept {
      auto& promise = child.promise();
      if (!promise.context_bound) promise.context = parent.promise().context;
      promise.continuation = parent;
      return child;
    }
    T await_resume() { return child.promise().TakeValue(); }
  };
  Awaiter operator co_await() && noexcept { return Awaiter{handle_}; }

 private:
  explicit Task(std::coroutine_handle<promise_type> h) : handle_(h) {}
  void Destroy() {
    if (handle_) handle_.destroy();
  }
  std::coroutine_handle<promise_type> handle_;
};

// `co_await CurrentContext()`: the running task's loop and token.
struct CurrentContext {
  TaskContext context;
  bool await_ready() noexcept { return false; }
  template <internal::TaskPromise P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    context = h.promise().context;
    return false;  // Never suspends.
  }
  TaskContext await_resume() noexcept { return context; }
};

namespace internal {

// A coroutine that starts at once and frees itself when done; when it ends it
// transfers to `continuation` if one was set. The building block of Spawn and
// of the combinators, which keep their children's lifetimes structured.
class DetachedTask {
 public:
  struct promise_type : PromiseBase {
    DetachedTask get_return_object() { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    struct FinalAwaiter {
      bool await_ready() noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        std::coroutine_handle<> next = h.promise().continuation;
        h.destroy();
        return next ? next : std::noop_coroutine();
      }
      void await_resume() noexcept {}
    };
    FinalAwaiter final_suspend() noexcept { return {}; }
    void return_void() {}
  };
};

// `co_await ContinueWith{h}` inside a DetachedTask: when it ends, resume `h`.
struct ContinueWith {
  std::coroutine_handle<> next;
  bool await_ready() noexcept { return false; }
  bool await_suspend(std::coroutine_handle<DetachedTask::promise_type> h) noexcept {
    h.promise().continuation = next;
    return false;
  }
  void await_resume() noexcept {}
};

template <typename T>
inline constexpr bool kIsStatusOr = false;
template <typename T>
inline constexpr bool kIsStatusOr<absl::StatusOr<T>> = true;

// The status inside a task result: absl::Status, absl::StatusOr<T>, or OK for
// anything else.
template <typename T>
absl::Status StatusOf(const T& value) {
  if constexpr (std::is_same_v<T, absl::Status>) {
    return value;
  } else if constexpr (kIsStatusOr<T>) {
    return value.status();
  } else {
    return absl::OkStatus();
  }
}

}  // namespace internal

template <typename T>
concept StatusLike = std::is_same_v<T, absl::Status> || internal::kIsStatusOr<T>;

}  // namespace fanout
