// Promise<T> / Future<T>: a one-shot result handed across threads, asyncio's
// Future. The reply path of Actor::Ask.
//
//   auto [promise, future] = MakePromise<absl::StatusOr<int>>();
//   other_loop.Post([p = std::move(promise)]() mutable { p.Set(42); });
//   absl::StatusOr<int> v = co_await future.Get();
//
// A Promise destroyed without Set() resolves its Future with UNAVAILABLE
// ("broken promise"), so a waiter never hangs on a result that cannot come.
// Get() gives up with the task's cancellation reason.
//
// Thread-safe: Set() from any thread; the waiter resumes on its own loop.
#pragma once

#include <memory>
#include <optional>
#include <utility>

#include "node/async/wait_list.h"
#include "node/base/sync.h"

namespace fanout {

template <StatusLike T>
class Future;

namespace internal {

template <StatusLike T>
struct PromiseState {
  Mutex mu;
  std::optional<T> value ABSL_GUARDED_BY(mu);
  internal::WaitList waiters ABSL_GUARDED_BY(mu);

  void Resolve(T v) {
    internal::WaitNode* n;
    {
      MutexLock lock(&mu);
      value.emplace(std::move(v));
      n = waiters.PopFront();
    }
    if (n) n->Wake();
  }
};

}  // namespace internal

template <StatusLike T>
class Promise {
 public:
  Promise() = default;
  Promise(Promise&&) noexcept = default;
  Promise& operator=(Promise&& other) noexcept {
    if (this != &other) {
      Abandon();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ~Promise() { Abandon(); }

  // The first Set wins.
  void Set(T value) {
    if (!state_) return;
    std::exchange(state_, nullptr)->Resolve(std::move(value));
  }
  bool valid() const { return state_ != nullptr; }

 private:
  template <StatusLike U>
  friend std::pair<Promise<U>, Future<U>> MakePromise();
  using State = internal::PromiseState<T>;
  explicit Promise(std::shared_ptr<State> s) : state_(std::move(s)) {}
  void Abandon() {
    if (state_) Set(absl::UnavailableError("broken promise: no result will come"));
  }
  std::shared_ptr<State> state_;
};

template <StatusLike T>
class Future {
 public:
  using State = internal::PromiseState<T>;

  class Awaiter : public internal::CancellableWait {
   public:
    explicit Awaiter(State* s) : CancellableWait(&s->mu, &s->waiters), state_(s) {}
    bool await_ready() noexcept { return false; }
    template <internal::TaskPromise P>
    bool await_suspend(std::coroutine_handle<P> h) {
      const TaskContext& context = h.promise().context;
      {
        MutexLock lock(mu_);
        if (state_->value.has_value() || !Suspend(context, h)) return false;
      }
      WatchCancellation(context);
      return true;
    }
    T await_resume() {
      StopWatching();
      MutexLock lock(mu_);
      if (state_->value.has_value()) return std::move(*state_->value);
      return node_.status;
    }

   private:
    State* state_;
  };

  // co_await: the value, once. The Future must outlive the await.
  Awaiter Get() { return Awaiter(state_.get()); }

 private:
  template <StatusLike U>
  friend std::pair<Promise<U>, Future<U>> MakePromise();
  explicit Future(std::shared_ptr<State> s) : state_(std::move(s)) {}
  std::shared_ptr<State> state_;
};

template <StatusLike T>
std::pair<Promise<T>, Future<T>> MakePromise() {
  auto state = std::make_shared<internal::PromiseState<T>>();
  return {Promise<T>(state), Future<T>(state)};
}

}  // namespace fanout
