// The recommendations service: for a user, fetch their orders (a call to
// the orders service: a service that is itself a client, carrying its
// caller's deadline) and score the catalogue against them on the Offload
// pool, so the loops keep answering other calls while it runs.
//
//   RecommendationsService recs(orders_stub, &pool, {.catalogue_size = 20000});
//   recs.Register(server);  server.Start();  recs.Serve(server);
//
// Thread-safe.
#pragma once

#include <memory>

#include "fanout/orders/v1/orders.grpc.pb.h"
#include "fanout/recommendations/v1/recommendations.grpc.pb.h"
#include "node/async/offload.h"
#include "node/rpc/server.h"
#include "services/recommendations/catalogue.h"

namespace fanout::recommendations {

class RecommendationsService {
 public:
  struct Options {
    int catalogue_size = 20000;
    int orders_considered = 50;
  };
  // `orders` talks to the orders backend (its channel is shared by all loops).
  RecommendationsService(orders::v1::Orders::Stub* orders, OffloadPool* pool, Options options);

  // For a node that learns the orders address only once it listens: set
  // before Serve().
  void set_orders(orders::v1::Orders::Stub* orders) { orders_ = orders; }

  void Register(Server& server) { server.RegisterService(&service_); }
  void Serve(Server& server);

  Task<absl::StatusOr<v1::RecommendResponse>> Recommend(const v1::RecommendRequest& request);

 private:
  orders::v1::Orders::Stub* orders_;
  OffloadPool* pool_;
  const Options options_;
  const Catalogue catalogue_;
  v1::Recommendations::AsyncService service_;
};

}  // namespace fanout::recommendations
