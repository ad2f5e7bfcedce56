// OrdersStore: the orders table in SQLite. Blocking: call it through
// Offload. Thread-safe; per-user ordering is the caller's (one actor per user).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fanout/orders/v1/orders.pb.h"
#include "services/store/sqlite.h"

namespace fanout::orders {

class OrdersStore {
 public:
  static absl::StatusOr<std::unique_ptr<OrdersStore>> Open(const std::string& path);

  // Stores the order with the user's next sequence number.
  absl::StatusOr<v1::Order> Insert(const v1::CreateOrderRequest& request);
  // Newest first.
  absl::StatusOr<std::vector<v1::Order>> Recent(int64_t user_id, int limit);

 private:
  explicit OrdersStore(std::unique_ptr<Sqlite> db) : db_(std::move(db)) {}
  std::unique_ptr<Sqlite> db_;
};

}  // namespace fanout::orders
