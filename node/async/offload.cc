#include "node/async/offload.h"

namespace fanout {

OffloadPool::OffloadPool(Options options) : options_(options) {
  int n = options.threads > 0 ? options.threads : 1;
  threads_.reserve(n);
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Work(); });
}

OffloadPool::~OffloadPool() {
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
    running_.fetch_add(1, std::memory_order_relaxed);
    static_cast<Job*>(node->owner)->run();
    running_.fetch_sub(1, std::memory_order_relaxed);
    node->Wake();  // The awaiter (and node) may be gone right after this.
  }
}

}  // namespace fanout
