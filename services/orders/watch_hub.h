// WatchHub: fans new orders out to live watchers (WatchOrders streams).
// Each watcher has a bounded buffer; one that falls behind is closed and
// marked overflowed instead of growing memory.
//
//   std::shared_ptr<WatchHub::Watcher> w = hub.Add(user_id, last_seen);   // user 0: everyone
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
#include "services/orders/orders_store.h"

namespace fanout::orders {

class WatchHub {
 public:
  struct Watcher {
    Watcher(int64_t user, int64_t after, size_t capacity)
        : user_id(user), queue(capacity), last_sequence(after) {}
    const int64_t user_id;  // 0: everyone.
    Channel<v1::Order> queue;
    std::atomic<bool> overflowed{false};

   private:
    friend class WatchHub;
    // The sequence of the last order sent (of user_id's), under the hub's lock.
    int64_t last_sequence;
  };

  explicit WatchHub(size_t buffer) : buffer_(buffer) {}
  // A watcher of `user_id`'s orders after sequence `after_sequence`.
  std::shared_ptr<Watcher> Add(int64_t user_id, int64_t after_sequence = 0);
  void Remove(const std::shared_ptr<Watcher>& watcher);
  // Sends `order` to its user's watchers (and everyone's), each at most
  // once and only past its last sequence, so an order published twice (a
  // poll that overlaps the last) is sent once. Published orders of one user
  // must come in sequence order. A watcher whose buffer is full is closed
  // and marked overflowed.
  void Publish(const v1::Order& order);
  // Each watched user (not everyone's watchers) with the lowest sequence its
  // watchers have seen, where a poll of the store picks up, and the most
  // room any of them has left, what the poll may bring. A user whose
  // watchers are all full is left out: a burst waits for the watch to
  // drain instead of closing a watch that is merely slower than the poll.
  std::vector<OrdersStore::Cursor> Cursors() const;
  size_t size() const;

 private:
  const size_t buffer_;
  mutable Mutex mu_;
  std::vector<std::shared_ptr<Watcher>> watchers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fanout::orders
