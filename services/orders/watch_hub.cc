#include "services/orders/watch_hub.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"

namespace fanout::orders {

std::shared_ptr<WatchHub::Watcher> WatchHub::Add(int64_t user_id, int64_t after_sequence) {
  auto watcher = std::make_shared<Watcher>(user_id, after_sequence, buffer_);
  MutexLock lock(&mu_);
  watchers_.push_back(watcher);
  return watcher;
}

void WatchHub::Remove(const std::shared_ptr<Watcher>& watcher) {
  MutexLock lock(&mu_);
  watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), watcher), watchers_.end());
}

void WatchHub::Publish(const v1::Order& order) {
  MutexLock lock(&mu_);
  for (const auto& w : watchers_) {
    if (w->user_id != 0 && w->user_id != order.user_id()) continue;
    if (w->overflowed.load()) continue;
    if (w->user_id != 0) {
      if (order.sequence() <= w->last_sequence) continue;
      w->last_sequence = order.sequence();
    }
    if (!w->queue.TrySend(order).ok()) {
      w->overflowed.store(true);
      w->queue.Close();
    }
  }
}

std::vector<OrdersStore::Cursor> WatchHub::Cursors() const {
  absl::flat_hash_map<int64_t, int64_t> lowest;
  {
    MutexLock lock(&mu_);
    for (const auto& w : watchers_) {
      if (w->user_id == 0 || w->overflowed.load()) continue;
      auto [it, added] = lowest.try_emplace(w->user_id, w->last_sequence);
      if (!added) it->second = std::min(it->second, w->last_sequence);
    }
  }
  std::vector<OrdersStore::Cursor> cursors;
  cursors.reserve(lowest.size());
  for (const auto& [user, after] : lowest) cursors.push_back({user, after});
  return cursors;
}

size_t WatchHub::size() const {
  MutexLock lock(&mu_);
  return watchers_.size();
}

}  // namespace fanout::orders
