// The orders service. Each user's writes go through that user's actor (one
// per user id, spread over the loops), so they are numbered 1, 2, 3, ... in
// the order accepted even under concurrent writers; storage is SQLite
// through Offload. WatchOrders streams new orders live; each watcher has a
// bounded buffer, and one that falls behind is dropped with
// RESOURCE_EXHAUSTED instead of growing memory.
//
//   OrdersService orders(store.get(), &pool, server.loops(), {});
//   orders.Register(server);  server.Start();  orders.Serve(server);
//
// Thread-safe.
#pragma once

#include <memory>
#include <vector>

#include "fanout/orders/v1/orders.grpc.pb.h"
#include "node/actor/actor_registry.h"
#include "node/async/offload.h"
#include "node/rpc/server.h"
#include "services/orders/orders_store.h"

namespace fanout::orders {

// Fans new orders out to live watchers. Thread-safe.
class WatchHub {
 public:
  struct Watcher {
    Watcher(int64_t user, size_t capacity) : user_id(user), queue(capacity) {}
    const int64_t user_id;  // 0: everyone.
    Channel<v1::Order> queue;
    std::atomic<bool> overflowed{false};
  };

  explicit WatchHub(size_t buffer) : buffer_(buffer) {}
  std::shared_ptr<Watcher> Add(int64_t user_id);
  void Remove(const std::shared_ptr<Watcher>& watcher);
  // A watcher whose buffer is full is closed and marked overflowed.
  void Publish(const v1::Order& order);
  size_t size() const;

 private:
  const size_t buffer_;
  mutable Mutex mu_;
  std::vector<std::shared_ptr<Watcher>> watchers_ ABSL_GUARDED_BY(mu_);
};

class OrdersService {
 public:
  struct Options {
    size_t watcher_buffer = 64;
    size_t mailbox_capacity = 128;
    size_t max_user_actors = 100000;
    absl::Duration write_timeout = absl::Seconds(5);
  };
  OrdersService(OrdersStore* store, OffloadPool* pool, LoopGroup& loops, Options options);

  void Register(Server& server) { server.RegisterService(&service_); }
  void Serve(Server& server);

  Task<absl::StatusOr<v1::Order>> CreateOrder(const v1::CreateOrderRequest& request);
  Task<absl::StatusOr<v1::ListOrdersResponse>> ListOrders(const v1::ListOrdersRequest& request);
  Task<absl::Status> WatchOrders(const v1::WatchOrdersRequest& request,
                                 ServerStreamWriter<v1::Order>& out);

  size_t watchers() const { return hub_.size(); }

 private:
  OrdersStore* store_;
  OffloadPool* pool_;
  const Options options_;
  WatchHub hub_;
  ActorRegistry<int64_t, v1::CreateOrderRequest, v1::Order> users_;
  v1::Orders::AsyncService service_;
};

}  // namespace fanout::orders
