// WatchHub: fans new orders out to live watchers (WatchOrders streams).
// Each watcher has a bounded buffer; one that falls behind is closed and
// marked overflowed instead of growing memory.
//
//   std::shared_ptr<WatchHub::Watcher> w = hub.Add(user_id);   // 0: everyone
//   absl::StatusOr<v1::Order> next = co_await w->queue.Receive();
//   hub.Remove(w);
//
// Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "fanout/orders/v1/orders.pb.h"
#include "node/async/channel.h"
#include "node/base/sync.h"

namespace fanout::orders {

class WatchHub {
 public:
  struct Watcher {
    Watcher(int64_t user, size_t capacity) : user_id(user), queue(capacity) {}
    const int64_t user_id;  // 0: everyone.
    Channel<v1::Order> queue;
    std::atomic<bool> overflowed{false};
    // The feed of orders was interrupted: some may be missing.
    std::atomic<bool> interrupted{false};
  };

  explicit WatchHub(size_t buffer) : buffer_(buffer) {}
  std::shared_ptr<Watcher> Add(int64_t user_id);
  void Remove(const std::shared_ptr<Watcher>& watcher);
  // A watcher whose buffer is full is closed and marked overflowed.
  void Publish(const v1::Order& order);
  // Ends every watcher, marked interrupted (its stream may have missed orders).
  void Interrupt();
  size_t size() const;

 private:
  const size_t buffer_;
  mutable Mutex mu_;
  std::vector<std::shared_ptr<Watcher>> watchers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fanout::orders
