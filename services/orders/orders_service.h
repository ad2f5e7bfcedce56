// The orders service. Each user's writes go through that user's actor
// (UserOrders, one per user id, spread over the loops), so they are
// numbered 1, 2, 3, ... in the order accepted even under concurrent
// writers; storage is SQLite or PostgreSQL through Offload. WatchOrders
// streams new orders live (WatchHub): with SQLite those this process
// writes, as it writes them; with PostgreSQL those any replica commits,
// within about `watch_poll_interval` (WatchPoller reads them from the store).
//
//   auto users_stub = users::v1::Users::NewStub(users_channel);
//   OrdersService orders(store.get(), &pool, server.loops(), {});
//   orders.Register(server);  server.Start();
//   orders.set_users(users_stub.get());  orders.Serve(server);
//
// CreateOrder checks that the user exists by calling the users service
// (GetUser) from the handler, so the call carries the caller's deadline and
// cancellation: an unknown user is NOT_FOUND naming the id, a users service
// that cannot answer is UNAVAILABLE, and nothing is written in either case.
// The answer is kept by the user's actor for `user_check_ttl`
// (user_orders.h says what that means for a deleted user).
//
// The actors are evicted when idle (ActorRegistry): at most
// `max_user_actors` live, and one not written to for `actor_idle_timeout`
// goes, so any number of distinct users keeps memory bounded.
// services/orders/README.md has the whole contract, cancelled writes included.
//
// Thread-safe.
#pragma once

#include <memory>

#include "fanout/config/v1/node_config.pb.h"
#include "fanout/orders/v1/orders.grpc.pb.h"
#include "fanout/users/v1/users.grpc.pb.h"
#include "node/actor/actor_registry.h"
#include "node/async/offload.h"
#include "node/rpc/server.h"
#include "services/orders/orders_store.h"
#include "services/orders/user_orders.h"
#include "services/orders/watch_hub.h"
#include "services/orders/watch_poller.h"

namespace fanout::orders {

class OrdersService {
 public:
  struct Options {
    size_t watcher_buffer = 64;
    size_t mailbox_capacity = 128;
    // Live user actors at most (idle ones are evicted to stay under it).
    size_t max_user_actors = 10000;
    absl::Duration actor_idle_timeout = absl::Minutes(1);
    // How long a user's actor trusts that its user exists.
    absl::Duration user_check_ttl = absl::Minutes(1);
    absl::Duration write_timeout = absl::Seconds(5);
    // With a store other replicas share: how often watched users' new
    // orders are read from it (the longest a watcher waits for one).
    absl::Duration watch_poll_interval = absl::Milliseconds(50);
  };
  // The node config's `orders` block, its 0s read as the defaults above.
  static Options OptionsFromConfig(const config::v1::Orders& config);
  // `users` talks to the users backend; it may be set later (set_users),
  // before Serve().
  OrdersService(OrdersStore* store, OffloadPool* pool, LoopGroup& loops, Options options,
                users::v1::Users::Stub* users = nullptr);

  void set_users(users::v1::Users::Stub* users) { users_ = users; }
  void Register(Server& server) { server.RegisterService(&service_); }
  void Serve(Server& server);

  Task<absl::StatusOr<v1::Order>> CreateOrder(const v1::CreateOrderRequest& request);
  Task<absl::StatusOr<v1::ListOrdersResponse>> ListOrders(const v1::ListOrdersRequest& request);
  Task<absl::Status> WatchOrders(const v1::WatchOrdersRequest& request,
                                 ServerStreamWriter<v1::Order>& out);

  size_t watchers() const { return hub_.size(); }
  // Watchers see orders read from the store (every replica's).
  bool watches_every_replica() const { return poller_ != nullptr; }
  // User actors held now, and evicted so far.
  size_t user_actors() const { return writers_.size(); }
  int64_t user_actor_evictions() const { return writers_.evictions(); }
  const WriteOutcomes& write_outcomes() const { return outcomes_; }
  // Asks whose caller stopped waiting (a cancelled or expired CreateOrder).
  int64_t callers_left() const { return callers_left_.load(); }

 private:
  // OK when the users service knows the user.
  Task<absl::Status> CheckUser(int64_t user_id);
  // One Ask of the user's actor; marks the write abandoned if it fails.
  Task<absl::StatusOr<WriteResult>> Write(WriteOrder write);

  OrdersStore* store_;
  OffloadPool* pool_;
  users::v1::Users::Stub* users_;
  const Options options_;
  WatchHub hub_;
  // With a shared store; stopped (joined) before the hub goes.
  std::unique_ptr<WatchPoller> poller_;
  WriteOutcomes outcomes_;
  const UserOrders::Context context_;
  ActorRegistry<int64_t, WriteOrder, WriteResult> writers_;
  std::atomic<int64_t> callers_left_{0};
  v1::Orders::AsyncService service_;
};

}  // namespace fanout::orders
