// OrdersStore: the orders table. Two implementations: SQLite (Open, the
// embedded default, one replica) and PostgreSQL (OpenPostgres, several
// replicas may write the same users). Both create and migrate their schema
// when opened. Blocking: call it through Offload. Thread-safe.
//
// Per-user sequence numbers: SQLite numbers in the insert itself and
// relies on the caller (one actor per user) being the only writer; on
// PostgreSQL the insert takes a row lock on the user's counter
// (order_counters) in the same statement, so writers on any replica get
// 1, 2, 3, ... without gaps or duplicates, a transaction-level guarantee.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fanout/orders/v1/orders.pb.h"
#include "services/store/postgres.h"

namespace fanout::orders {

class OrdersStore {
 public:
  static absl::StatusOr<std::unique_ptr<OrdersStore>> Open(const std::string& path);
  static absl::StatusOr<std::unique_ptr<OrdersStore>> OpenPostgres(PostgresOptions options);
  virtual ~OrdersStore() = default;

  // Stores the order with the user's next sequence number.
  virtual absl::StatusOr<v1::Order> Insert(const v1::CreateOrderRequest& request) = 0;
  // Newest first.
  virtual absl::StatusOr<std::vector<v1::Order>> Recent(int64_t user_id, int limit) = 0;

  // Every order committed by any writer of this database (this process
  // included), as it commits, on a thread of the store's. `on_gap`: some
  // may have been missed (the feed's connection was lost).
  struct CommitFeed {
    std::function<void(const v1::Order&)> on_order;
    std::function<void()> on_gap;
  };
  // False when the store has no such feed (SQLite: this process is the only
  // writer, and the caller publishes what it writes).
  virtual bool StartCommitFeed(CommitFeed feed) { return false; }
  // Stops the feed and joins its thread (before what it calls goes away).
  virtual void StopCommitFeed() {}
  // True once the feed receives (always, without one).
  virtual bool commit_feed_ready() const { return true; }
};

}  // namespace fanout::orders
