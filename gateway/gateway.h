// Gateway: the front door. Outside callers reach the node's backends
// through it, over REST (HTTP/1.1 + JSON) or gRPC:
//
//   REST  GET /v1/users/7/dashboard ─┐                ┌─► users.GetUser
//   gRPC  Gateway/GetDashboard ──────┼─► route ─► fan-out ─► orders.ListOrders ─► one answer
//   gRPC  any other method ──────────┘  (proxy)       └─► recommendations.Recommend
//
// A request is admitted (global and per-route in-flight limits; shed at
// once when full), given a deadline (the caller's, capped by the route's),
// run as its route's calls (see aggregator.h), and answered whole or
// partial. When the caller goes away every backend call is cancelled.
//
// Gateway composes units with one job each and owns what they share:
//
//   Gateway
//   ├── GatewayState (gateway_state.h): routes, admission, rate limits, auth,
//   │   backends, message types; compiled from config (gateway_config.h)
//   ├── RestDoor (rest_door.h): HTTP/1.1 + JSON, on its own HTTP server
//   ├── GrpcDoor (grpc_door.h): routed methods and Gateway/Aggregate
//   │   └── ServiceProxy (service_proxy.h): every other gRPC method
//   └── metrics read at scrape time (gateway_metrics.h)
//
// Each door and the proxy are handed the GatewayState; none sees Gateway.
//
//   FANOUT_ASSIGN_OR_RETURN(auto gateway, Gateway::Create({.config = ..., .backends = ...,
//                                                          .channel = make_channel}));
//   gateway->Register(server);               // before server.Start()
//   FANOUT_RETURN_IF_ERROR(server.Start());
//   FANOUT_RETURN_IF_ERROR(gateway->Start(server));
//   ... gateway->Stop(); server.Shutdown(grace);
//
// Thread-safe: Create/Register/Start/Stop from the controlling thread;
// requests are handled on the server's loops.
#pragma once

#include <grpcpp/generic/async_generic_service.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fanout/config/v1/node_config.pb.h"
#include "gateway/gateway_config.h"
#include "gateway/gateway_state.h"
#include "gateway/grpc_door.h"
#include "gateway/grpc_relay.h"
#include "gateway/rest_door.h"
#include "gateway/service_proxy.h"
#include "node/rpc/server.h"
#include "node/telemetry/metrics.h"

namespace fanout::gateway {

class Gateway {
 public:
  struct Options {
    config::v1::GatewayConfig config;
    // Every backend the routes may call, with its protection settings.
    std::map<std::string, config::v1::Backend> backends;
    // The channel to a backend, by name.
    std::function<std::shared_ptr<grpc::Channel>(const std::string&)> channel;
    Clock* clock = &Clock::Real();
    // gRPC services this node serves itself. A call to one that reaches the
    // gateway names a method the service lacks: UNIMPLEMENTED, never
    // proxied (to a backend that may be this very node).
    std::set<std::string> local_services;
    // For the frame relay (gateway.grpc_relay_address), by backend name:
    // its target (default: the backend's), and TLS to it (default: its
    // backends.<name>.tls). And the relay's own TLS, the gRPC door's.
    std::function<std::string(const std::string&)> backend_address;
    std::function<TlsOptions(const std::string&)> backend_tls;
    TlsOptions relay_tls;
  };

  // Compiles the routes: INVALID_ARGUMENT naming the route and key (what
  // CheckGatewayConfig says of the same config).
  static absl::StatusOr<std::unique_ptr<Gateway>> Create(Options options);
  ~Gateway();

  void Register(Server& server);
  absl::Status Start(Server& server);
  // Drain, in order: BeginDrain (the REST door takes no new connections;
  // answers carry Connection: close; the relay sends GOAWAY), AwaitDrained
  // (until every REST request read is answered and written, and every
  // relayed call has ended, or the deadline), then the server's
  // shutdown (the gRPC door; remaining requests are cancelled with
  // UNAVAILABLE, 503 on REST), then Stop (closes the REST door, after at
  // most a second for those last answers to be written).
  void BeginDrain();
  bool AwaitDrained(absl::Time deadline);
  void Stop();

  int rest_port() const;
  int relay_port() const;  // 0 without gateway.grpc_relay_address.
  const BackendMap& backends() const { return state_->backends(); }
  const AdmissionLimiter& admission() const { return state_->admission(); }
  const std::vector<CompiledRoute>& routes() const { return state_->routes(); }

 private:
  Gateway(std::function<std::shared_ptr<grpc::Channel>(const std::string&)> channel,
          std::unique_ptr<GatewayState> state, ServiceProxy::Options proxy);
  absl::Status StartRelay(Server& server);

  const std::function<std::shared_ptr<grpc::Channel>(const std::string&)> channel_;
  std::unique_ptr<GatewayState> state_;
  ServiceProxy proxy_;
  GrpcDoor grpc_;
  std::unique_ptr<RestDoor> rest_;    // Null without gateway.rest_address.
  GrpcRelay::Options relay_options_;  // But for the address and threads (StartRelay).
  std::unique_ptr<GrpcRelay> relay_;  // Null without gateway.grpc_relay_address.
  grpc::AsyncGenericService generic_;
  std::vector<metrics::CallbackHandle> metrics_;  // Before state_ dies: declared after it.
};

}  // namespace fanout::gateway
