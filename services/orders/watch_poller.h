// WatchPoller: brings the orders other processes write to this process's
// watchers, for a store several replicas share (PostgreSQL). Every
// `interval`, when anyone watches, one query (OrdersStore::After) asks for
// each watched user's orders past the lowest sequence its watchers have
// seen, and publishes them to the hub, which sends each watcher only what
// it has not had.
//
//   WatchPoller poller(store, &hub, {.interval = absl::Milliseconds(50)});
//   // ... orders written by any replica reach hub's watchers within about
//   // one interval; the destructor stops and joins the poller's thread.
//
// Why polling and not LISTEN/NOTIFY: a transaction that issues NOTIFY
// holds a database-wide lock until its commit is flushed, so every writer
// of orders would commit one at a time (bench/README.md has the numbers).
// A poll costs one indexed query per interval per replica, whatever the
// number of watchers, and none while nobody watches. It cannot miss an
// order: each user's orders commit in sequence order (orders_store.h), and
// a store that fails a poll (a restart) is asked from the same place at
// the next one, so watches live through it.
//
// Thread-safe; one thread of its own.
#pragma once

#include <atomic>
#include <thread>

#include "absl/time/time.h"
#include "node/base/sync.h"
#include "services/orders/orders_store.h"
#include "services/orders/watch_hub.h"

namespace fanout::orders {

class WatchPoller {
 public:
  struct Options {
    absl::Duration interval = absl::Milliseconds(50);
    // Orders of one user per poll; a user with more gets the rest at the
    // next. Each poll brings a user at most the room its watchers have
    // (WatchHub::Cursors), so a burst waits instead of closing a watch.
    int limit_per_user = 64;
  };
  WatchPoller(OrdersStore* store, WatchHub* hub, Options options);
  ~WatchPoller();
  WatchPoller(const WatchPoller&) = delete;
  WatchPoller& operator=(const WatchPoller&) = delete;

  // Polls that asked the store (for tests and logs).
  int64_t polls() const { return polls_.load(); }

 private:
  void Run();
  // One poll: the store's error when it failed.
  absl::Status PollOnce();

  OrdersStore* const store_;
  WatchHub* const hub_;
  const Options options_;
  std::atomic<int64_t> polls_{0};
  Mutex mu_;
  CondVar stop_signal_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace fanout::orders
