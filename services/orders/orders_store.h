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
// The lock is held until commit, so each user's orders also commit in
// sequence order: a reader that has seen sequence n misses nothing by
// asking for n+1 onwards (After), which is how WatchOrders follows the
// orders every replica writes.
#pragma once

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

  // Where a watch of one user has got to: it has seen orders up to
  // `after_sequence`, and has room for `limit` more.
  struct Cursor {
    int64_t user_id;
    int64_t after_sequence;
    int64_t limit;
  };
  // Each cursor's user's orders after its sequence, oldest first, at most
  // its `limit`. Per-user sequences commit in order (each user's writers are
  // serialised until commit), so reading from a cursor misses none:
  // WatchOrders polls this where other processes write too.
  virtual absl::StatusOr<std::vector<v1::Order>> After(const std::vector<Cursor>& cursors) = 0;
  // True when other processes write this store too (PostgreSQL): a watch
  // then reads new orders from the store (After) instead of hearing of
  // this process's writes.
  virtual bool shared() const { return false; }
};

}  // namespace fanout::orders
