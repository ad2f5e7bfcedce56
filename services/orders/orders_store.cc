#include "services/orders/orders_store.h"

#include "absl/time/clock.h"
#include "node/base/status_macros.h"

namespace fanout::orders {

absl::StatusOr<std::unique_ptr<OrdersStore>> OrdersStore::Open(const std::string& path) {
  FANOUT_ASSIGN_OR_RETURN(std::unique_ptr<Sqlite> db, Sqlite::Open(path));
  FANOUT_RETURN_IF_ERROR(
      db->Exec("CREATE TABLE IF NOT EXISTS orders ("
               " id INTEGER PRIMARY KEY AUTOINCREMENT,"
               " user_id INTEGER NOT NULL,"
               " item TEXT NOT NULL,"
               " quantity INTEGER NOT NULL,"
               " amount_cents INTEGER NOT NULL,"
               " created_unix_ms INTEGER NOT NULL,"
               " sequence INTEGER NOT NULL,"
               " UNIQUE (user_id, sequence));"
               "CREATE INDEX IF NOT EXISTS orders_by_user ON orders (user_id, sequence)"));
  return std::unique_ptr<OrdersStore>(new OrdersStore(std::move(db)));
}

absl::StatusOr<v1::Order> OrdersStore::Insert(const v1::CreateOrderRequest& request) {
  v1::Order order;
  order.set_user_id(request.user_id());
  order.set_item(request.item());
  order.set_quantity(request.quantity());
  order.set_amount_cents(request.amount_cents());
  order.set_created_unix_ms(absl::ToUnixMillis(absl::Now()));
  // One statement: the sequence is computed and stored atomically.
  FANOUT_ASSIGN_OR_RETURN(
      Sqlite::Change change,
      db_->Execute("INSERT INTO orders (user_id, item, quantity, amount_cents, created_unix_ms,"
                   " sequence) SELECT ?, ?, ?, ?, ?, COALESCE(MAX(sequence), 0) + 1"
                   " FROM orders WHERE user_id = ?",
                   {order.user_id(), order.item(), int64_t{order.quantity()}, order.amount_cents(),
                    order.created_unix_ms(), order.user_id()}));
  FANOUT_ASSIGN_OR_RETURN(auto rows,
                          db_->Query("SELECT sequence FROM orders WHERE id = ?", {change.last_id}));
  order.set_id(change.last_id);
  order.set_sequence(std::get<int64_t>(rows.at(0)[0]));
  return order;
}

absl::StatusOr<std::vector<v1::Order>> OrdersStore::Recent(int64_t user_id, int limit) {
  FANOUT_ASSIGN_OR_RETURN(
      auto rows,
      db_->Query("SELECT id, user_id, item, quantity, amount_cents, created_unix_ms, sequence"
                 " FROM orders WHERE user_id = ? ORDER BY sequence DESC LIMIT ?",
                 {user_id, int64_t{limit}}));
  std::vector<v1::Order> orders;
  for (const SqlRow& row : rows) {
    v1::Order& o = orders.emplace_back();
    o.set_id(std::get<int64_t>(row[0]));
    o.set_user_id(std::get<int64_t>(row[1]));
    o.set_item(std::get<std::string>(row[2]));
    o.set_quantity(static_cast<int32_t>(std::get<int64_t>(row[3])));
    o.set_amount_cents(std::get<int64_t>(row[4]));
    o.set_created_unix_ms(std::get<int64_t>(row[5]));
    o.set_sequence(std::get<int64_t>(row[6]));
  }
  return orders;
}

}  // namespace fanout::orders
