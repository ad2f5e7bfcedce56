// Offload: asyncio.to_thread. Blocking or CPU-heavy work runs on a small,
// fixed pool of threads; the awaiting task resumes on its own loop, so no
// loop ever blocks.
//
//   absl::StatusOr<Row> row = co_await Offload([&] { return db.Get(id); });
//
// The pool's queue is bounded: when it is full Offload fails at once with
// RESOURCE_EXHAUSTED. Work cancelled while still queued never runs (the await
// returns the cancellation reason); work already running finishes, and its
// result is returned.
//
// `fn` must return absl::Status or absl::StatusOr<T>. Thread-safe.
#pragma once

#include <atomic>
#include <deque>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "node/async/wait_list.h"
#include "node/base/sync.h"

namespace fanout {

class OffloadPool {
 public:
  struct Options {
    int threads = 2;
    size_t queue_capacity = 1024;
  };
  explicit OffloadPool(Options options);
  ~OffloadPool();  // Runs what is queued, then joins.
  OffloadPool(const OffloadPool&) = delete;
  OffloadPool& operator=(const OffloadPool&) = delete;

  size_t queue_depth() const;
  // Jobs executing right now.
  int running() const { return running_.load(std::memory_order_relaxed); }
  int threads() const { return static_cast<int>(threads_.size()); }

  template <typename Fn>
  class Awaiter;

  template <typename Fn>
  Awaiter<Fn> Run(Fn fn) {
    return Awaiter<Fn>(this, std::move(fn));
  }

 private:
  // A queued job is a WaitNode whose owner is its awaiter; `run` does the
  // work and stores the result in the awaiter.
  struct Job {
    internal::WaitNode node;
    absl::AnyInvocable<void()> run;
  };
  void Work();

  const Options options_;
  mutable Mutex mu_;
  internal::WaitList queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<int> running_{0};
  std::vector<std::thread> threads_;

 public:
  template <typename Fn>
  class Awaiter : public internal::CancellableWait {
   public:
    using Result = std::invoke_result_t<Fn&>;
    static_assert(StatusLike<Result>, "Offload work must return absl::Status or absl::StatusOr");

    Awaiter(OffloadPool* pool, Fn fn)
        : CancellableWait(&pool->mu_, &pool->queue_), pool_(pool), fn_(std::move(fn)) {
      node_.owner = &job_;
      job_.run = [this] { result_.emplace(fn_()); };
    }
    bool await_ready() noexcept { return false; }
    template <internal::TaskPromise P>
    bool await_suspend(std::coroutine_handle<P> h) {
      const TaskContext& context = h.promise().context;
      {
        MutexLock lock(mu_);
        if (pool_->stopping_) {
          node_.status = absl::UnavailableError("offload pool is stopping");
          return false;
        }
        if (static_cast<size_t>(list_->size()) >= pool_->options_.queue_capacity) {
          node_.status = absl::ResourceExhaustedError("offload queue is full");
          return false;
        }
        if (!Suspend(context, h)) return false;
      }
      pool_->Notify();
      WatchCancellation(context);
      return true;
    }
    Result await_resume() {
      StopWatching();
      if (result_.has_value()) return std::move(*result_);
      return node_.status;
    }

   private:
    OffloadPool* pool_;
    Fn fn_;
    Job job_;
    std::optional<Result> result_;
  };

 private:
  void Notify();
  CondVar cv_;
};

// co_await Offload(pool, fn): runs `fn` on `pool`, resumes on the caller's loop.
template <typename Fn>
auto Offload(OffloadPool& pool, Fn fn) {
  return pool.Run(std::move(fn));
}

}  // namespace fanout
