#include "node/async/offload.h"

#include "absl/strings/str_cat.h"
#include "node/base/this_thread.h"

namespace fanout {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

OffloadPool::Metrics::Metrics(const std::string& pool)
    : queue_wait(metrics::DefaultRegistry()
                     .AddHistogram("fanout_offload_queue_wait_seconds",
                                   "Time an offloaded job waited in the queue for a thread.",
                                   {"pool"})
                     .With({pool})),
      run_time(metrics::DefaultRegistry()
                   .AddHistogram("fanout_offload_run_seconds",
                                 "Time an offloaded job ran on its pool thread.", {"pool"})
                   .With({pool})),
      rejected(metrics::DefaultRegistry()
                   .AddCounter("fanout_offload_rejected_total",
                               "Jobs refused because the offload queue was full.", {"pool"})
                   .With({pool})) {}

OffloadPool::OffloadPool(Options options) : options_(options), metrics_(options_.name) {
  int n = options.threads > 0 ? options.threads : 1;
  threads_.reserve(n);
  for (int i = 0; i < n; ++i) {
    threads_.emplace_back([this] {
      NameThisThread(absl::StrCat("offload-", options_.name));
      Work();
    });
  }
  queue_depth_metric_ = metrics::DefaultRegistry().AddCallback(
      "fanout_offload_queue_depth", "Offloaded jobs waiting for a thread.", metrics::Type::kGauge,
      {"pool"}, [this] {
        return std::vector<metrics::Sample>{{{options_.name}, static_cast<double>(queue_depth())}};
      });
  running_metric_ = metrics::DefaultRegistry().AddCallback(
      "fanout_offload_running", "Offloaded jobs running now (busy pool threads).",
      metrics::Type::kGauge, {"pool"}, [this] {
        return std::vector<metrics::Sample>{{{options_.name}, static_cast<double>(running())}};
      });
}

OffloadPool::~OffloadPool() {
  queue_depth_metric_.Reset();
  running_metric_.Reset();
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.SignalAll();
  for (auto& t : threads_) t.join();
}

size_t OffloadPool::queue_depth() const {
  MutexLock lock(&mu_);
  return queue_.size();
}

void OffloadPool::Notify() { cv_.Signal(); }

void OffloadPool::Work() {
  for (;;) {
    internal::WaitNode* node;
    {
      MutexLock lock(&mu_);
      while (queue_.empty() && !stopping_) cv_.Wait(&mu_);
      node = queue_.PopFront();
      if (node == nullptr) return;  // Stopping and drained.
    }
    RunJob(*static_cast<Job*>(node->owner));
    node->Wake();  // The awaiter (and node) may be gone right after this.
  }
}

void OffloadPool::RunJob(Job& job) {
  metrics_.queue_wait.Observe(SecondsSince(job.queued_at));
  auto started = std::chrono::steady_clock::now();
  running_.fetch_add(1, std::memory_order_relaxed);
  job.run();
  running_.fetch_sub(1, std::memory_order_relaxed);
  metrics_.run_time.Observe(SecondsSince(started));
}

}  // namespace fanout
