#include "services/orders/watch_poller.h"

#include <algorithm>

#include "node/base/log.h"

namespace fanout::orders {

WatchPoller::WatchPoller(OrdersStore* store, WatchHub* hub, Options options)
    : store_(store), hub_(hub), options_(options), thread_([this] { Run(); }) {}

WatchPoller::~WatchPoller() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    stop_signal_.Signal();
  }
  thread_.join();
}

void WatchPoller::Run() {
  bool failing = false;
  for (;;) {
    {
      MutexLock lock(&mu_);
      absl::Time next = absl::Now() + options_.interval;
      while (!stopping_ && stop_signal_.WaitWithDeadline(&mu_, next)) {
      }
      if (stopping_) return;
    }
    absl::Status polled = PollOnce();
    if (!polled.ok() && !failing) {
      FANOUT_LOG(WARNING) << "orders watch poll failed (watches wait, and miss nothing, until "
                             "the store answers): "
                          << polled;
    } else if (polled.ok() && failing) {
      FANOUT_LOG(INFO) << "orders watch poll: the store answers again";
    }
    failing = !polled.ok();
  }
}

absl::Status WatchPoller::PollOnce() {
  std::vector<OrdersStore::Cursor> cursors = hub_->Cursors();
  if (cursors.empty()) return absl::OkStatus();
  polls_.fetch_add(1, std::memory_order_relaxed);
  for (OrdersStore::Cursor& c : cursors) {
    c.limit = std::min(c.limit, int64_t{options_.limit_per_user});
  }
  absl::StatusOr<std::vector<v1::Order>> orders = store_->After(cursors);
  if (!orders.ok()) return orders.status();
  for (const v1::Order& order : *orders) hub_->Publish(order);
  return absl::OkStatus();
}

}  // namespace fanout::orders
