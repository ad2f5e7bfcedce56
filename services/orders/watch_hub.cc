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
  // Per user: the lowest sequence its watchers have seen, and the most room
  // any of them has. A watcher the poll then overfills has fallen behind
  // another of the same user's, not behind the poll.
  absl::flat_hash_map<int64_t, OrdersStore::Cursor> cursors;
  {
    MutexLock lock(&mu_);
    for (const auto& w : watchers_) {
      if (w->user_id == 0 || w->overflowed.load()) continue;
      const auto room = static_cast<int64_t>(w->queue.capacity() - w->queue.size());
      auto [it, added] = cursors.try_emplace(w->user_id, OrdersStore::Cursor{
                                                             .user_id = w->user_id,
                                                             .after_sequence = w->last_sequence,
                                                             .limit = room,
                                                         });
      if (added) continue;
      it->second.after_sequence = std::min(it->second.after_sequence, w->last_sequence);
      it->second.limit = std::max(it->second.limit, room);
    }
  }
  std::vector<OrdersStore::Cursor> out;
  out.reserve(cursors.size());
  for (const auto& [user, cursor] : cursors) {
    if (cursor.limit > 0) out.push_back(cursor);  // Full: it waits a poll.
  }
  return out;
}

size_t WatchHub::size() const {
  MutexLock lock(&mu_);
  return watchers_.size();
}

}  // namespace fanout::orders
