#include "services/orders/watch_hub.h"

#include <algorithm>

namespace fanout::orders {

std::shared_ptr<WatchHub::Watcher> WatchHub::Add(int64_t user_id) {
  auto watcher = std::make_shared<Watcher>(user_id, buffer_);
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
    if (!w->queue.TrySend(order).ok()) {
      w->overflowed.store(true);
      w->queue.Close();
    }
  }
}

void WatchHub::Interrupt() {
  MutexLock lock(&mu_);
  for (const auto& w : watchers_) {
    w->interrupted.store(true);
    w->queue.Close();
  }
}

size_t WatchHub::size() const {
  MutexLock lock(&mu_);
  return watchers_.size();
}

}  // namespace fanout::orders
