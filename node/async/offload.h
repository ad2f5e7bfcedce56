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
// Metrics (metrics::DefaultRegistry(), labelled pool="<Options::name>"):
// queue depth and running jobs read at scrape time, time queued and time
// running per job, and refusals of a full queue (node/telemetry/README.md).
//
// `fn` must return absl::Status or absl::StatusOr<T>. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "node/async/wait_list.h"
#include "node/base/sync.h"
#include "node/telemetry/metrics.h"
#include "node/telemetry/trace_span.h"

namespace fanout {

class OffloadPool {
 public:
  struct Options {
    int threads = 2;
    size_t queue_capacity = 1024;
    // The `pool` label of its metrics. Pools sharing a name add up.
    std::string name = "default";
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
    std::chrono::steady_clock::time_point queued_at;
  };
  // The metrics children of this pool, looked up once.
  struct Metrics {
    explicit Metrics(const std::string& pool);
    metrics::Histogram& queue_wait;
    metrics::Histogram& run_time;
    metrics::Counter& rejected;
  };
  void Work();
  void RunJob(Job& job);

  const Options options_;
  Metrics metrics_;
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
          pool_->metrics_.rejected.Increment();
          node_.status = absl::ResourceExhaustedError("offload queue is full");
          return false;
        }
        job_.queued_at = std::chrono::steady_clock::now();
        if (!Suspend(context, h)) return false;
      }
      span_ = context.span;
      pool_->Notify();
      WatchCancellation(context);
      return true;
    }
    Result await_resume() {
      StopWatching();
      // The caller's trace shows the work it sent off its loop.
      if (span_) {
        span_->AddEvent("offload",
                        {{"pool", pool_->options_.name},
                         {"duration_ms", std::chrono::duration<double, std::milli>(
                                             std::chrono::steady_clock::now() - job_.queued_at)
                                             .count()},
                         {"ran", result_.has_value()}});
      }
      if (result_.has_value()) return std::move(*result_);
      return node_.status;
    }

   private:
    OffloadPool* pool_;
    Fn fn_;
    Job job_;
    std::optional<Result> result_;
    std::shared_ptr<trace::Span> span_;  // The awaiting task's, when traced.
  };

 private:
  void Notify();
  CondVar cv_;
  // Last: unregistered first, while the queue they read still lives.
  metrics::CallbackHandle queue_depth_metric_;
  metrics::CallbackHandle running_metric_;
};

// co_await Offload(pool, fn): runs `fn` on `pool`, resumes on the caller's loop.
template <typename Fn>
auto Offload(OffloadPool& pool, Fn fn) {
  return pool.Run(std::move(fn));
}

}  // namespace fanout
