// Node: one fanoutd process. Builds the roles a NodeConfig asks for on one
// Server (one set of loops shared by every service and every client), with
// gRPC health (per service) and server reflection (unless grpc_server.reflection
// is false).
//
//   Node node(config);
//   FANOUT_RETURN_IF_ERROR(node.Start());   // listening, health SERVING
//   ... SIGTERM ...
//   node.Drain();                           // NOT_SERVING, finish in-flight calls, stop
//
// Backends are gRPC targets with one channel each, shared by all loops; a
// role served by this same node is still called through gRPC (loopback), so
// the topology never changes behaviour. With grpc_tls, that loopback call is
// TLS too: it trusts grpc_tls.ca_file, checks the name the door's
// certificate carries, and presents the door's certificate (for mTLS).
//
// Thread-safe: Start and Drain from the controlling thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fanout/orders/v1/orders.grpc.pb.h"
#include "gateway/gateway.h"
#include "node/async/offload.h"
#include "node/http/admin_server.h"
#include "node/rpc/health.h"
#include "node/rpc/server.h"
#include "node/rpc/tls_credentials.h"
#include "node/telemetry/trace.h"
#include "services/fanoutd/node_config.h"
#include "services/lab/lab_service.h"
#include "services/orders/orders_service.h"
#include "services/recommendations/recommendations_service.h"
#include "services/users/users_service.h"

namespace fanout::fanoutd {

class Node {
 public:
  explicit Node(NodeConfig config);
  ~Node();

  absl::Status Start();
  // Readiness off (health watches end), then Server::Shutdown with the
  // configured grace.
  void Drain();

  int grpc_port() const { return server_->port(); }
  // 0 when the gateway role or its REST door is off.
  int rest_port() const { return gateway_ ? gateway_->rest_port() : 0; }
  int relay_port() const { return gateway_ ? gateway_->relay_port() : 0; }
  // 0 when the admin port is off.
  int admin_port() const { return admin_ ? admin_->port() : 0; }
  const NodeConfig& config() const { return config_; }
  // Fully qualified names of the services this node serves.
  const std::vector<std::string>& services() const { return services_; }
  // The pool blocking work (the stores) runs on: offload.threads and
  // offload.queue_capacity.
  OffloadPool& offload_pool() { return *pool_; }

 private:
  absl::Status OpenStores();
  // TLS (or not) of every backend this node may call, checked up front so a
  // channel is never made with credentials weaker than configured.
  absl::Status PrepareChannelSecurity();
  std::shared_ptr<grpc::Channel> BackendChannel(const std::string& name);
  void SetServing(bool serving);
  absl::Status StartAdmin();
  absl::Status StartTracing();
  absl::Status CreateGateway();

  NodeConfig config_;
  // Outlives the server: calls finishing during Drain still end their spans.
  std::unique_ptr<trace::Tracer> tracer_;
  std::atomic<bool> ready_{false};
  std::unique_ptr<AdminServer> admin_;
  HealthService health_;  // Outlives the server, as every service must.
  std::unique_ptr<Server> server_;
  // By backend name: its TLS (the relay's) and the channel credentials made
  // from it.
  struct BackendSecurity {
    TlsOptions tls;
    ChannelSecurity channel;
  };
  std::map<std::string, BackendSecurity> backend_security_;
  std::unique_ptr<OffloadPool> pool_;
  // With PostgreSQL, each data role's store calls run on a pool of their
  // own, one thread per connection; with SQLite, on pool_.
  std::unique_ptr<OffloadPool> users_store_pool_;
  std::unique_ptr<OffloadPool> orders_store_pool_;
  std::vector<std::string> services_;
  std::unique_ptr<lab::LabService> lab_;
  std::unique_ptr<users::UsersStore> users_store_;
  std::unique_ptr<users::UsersService> users_;
  std::unique_ptr<orders::OrdersStore> orders_store_;
  std::unique_ptr<orders::OrdersService> orders_;
  std::unique_ptr<users::v1::Users::Stub> users_stub_;
  std::unique_ptr<orders::v1::Orders::Stub> orders_stub_;
  std::unique_ptr<recommendations::RecommendationsService> recommendations_;
  std::unique_ptr<gateway::Gateway> gateway_;
};

}  // namespace fanout::fanoutd
