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

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fanout/config/v1/node_config.pb.h"
#include "gateway/admission.h"
#include "gateway/aggregator.h"
#include "gateway/auth.h"
#include "gateway/backend.h"
#include "gateway/gateway_config.h"
#include "gateway/grpc_proxy.h"
#include "gateway/json_parse.h"
#include "gateway/rate_limit.h"
#include "gateway/route.h"
#include "gateway/route_compile.h"
#include "gateway/route_match.h"
#include "node/async/offload.h"
#include "node/rpc/server.h"
#include "node/telemetry/metrics.h"

namespace fanout {
class HttpServer;
class HttpExchange;
namespace trace {
class Span;
}
}  // namespace fanout

namespace fanout::gateway {

class DescriptorRegistry;

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
  };

  // Compiles the routes: INVALID_ARGUMENT naming the route and key.
  static absl::StatusOr<std::unique_ptr<Gateway>> Create(Options options);
  ~Gateway();

  void Register(Server& server);
  absl::Status Start(Server& server);
  // Drain, in order: BeginDrain (the REST door takes no new connections;
  // answers carry Connection: close), AwaitDrained (until every REST request
  // read is answered and written, or the deadline), then the server's
  // shutdown (the gRPC door; remaining requests are cancelled with
  // UNAVAILABLE, 503 on REST), then Stop (closes the REST door, after at
  // most a second for those last answers to be written).
  void BeginDrain();
  bool AwaitDrained(absl::Time deadline);
  void Stop();

  int rest_port() const;
  const BackendMap& backends() const { return backends_; }
  const AdmissionLimiter& admission() const { return admission_; }
  const std::vector<CompiledRoute>& routes() const { return routes_; }

 private:
  explicit Gateway(Options options);

  // REST (rest_front.cc).
  void HandleHttp(std::shared_ptr<HttpExchange> exchange);
  // A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method)
  // answered 204 or 403; false when no CORS policy covers it (then it is
  // routed as any OPTIONS request).
  bool AnswerPreflight(HttpExchange& exchange);
  // The CORS policy of a request of `route` (null: unrouted): the route's
  // own, else the gateway's; null when neither has one.
  const CorsPolicy* CorsFor(const CompiledRoute* route) const {
    if (route != nullptr && route->cors) return &*route->cors;
    return cors_ ? &*cors_ : nullptr;
  }
  // A REST request past routing and admission, on its way to a loop.
  struct RestRequest {
    std::shared_ptr<HttpExchange> exchange;
    std::shared_ptr<const CompiledRoute> route;
    std::map<std::string, std::string> params;
    absl::Duration timeout;
    std::shared_ptr<trace::Span> span;  // The request's server span; null untraced.
    std::optional<Identity> identity;   // The verified caller, when the route read one.
  };
  Task<absl::Status> ServeRest(RestRequest rest);
  Task<void> StreamRest(HttpExchange& exchange, const CompiledRoute& route,
                        const RequestInput& input);
  // The route for POST /v1/{service}/{method}; null with `why` set when
  // there is none.
  std::shared_ptr<const CompiledRoute> DirectRoute(absl::string_view path, absl::Status* why);

  // gRPC (grpc_front.cc).
  Task<absl::Status> ServeGrpc(GenericCall& call);
  Task<absl::Status> ServeGrpcRoute(GenericCall& call, const CompiledRoute& route);
  Task<absl::Status> ServeAggregate(GenericCall& call);
  Task<absl::StatusOr<RouteResult>> RunGrpcRoute(GenericCall& call, const CompiledRoute& route,
                                                 RequestInput input, PartSink sink = nullptr);
  // Holds `ticket` until the backend has answered.
  Task<absl::Status> ProxyUnary(GenericCall& call, Backend& backend,
                                AdmissionLimiter::Ticket ticket, const ProxyOptions& options);
  // The caller by `policy`, from the call's metadata; on refusal the
  // challenge is in the trailing metadata (www-authenticate).
  absl::StatusOr<std::optional<Identity>> AuthenticateGrpc(GenericCall& call,
                                                           const RouteAuthPolicy& policy);

  // Shared by both doors.
  std::optional<std::vector<AdmissionLimiter::Ticket>> Admit(const CompiledRoute& route);
  // Marks a request shed by admission on its span (null: untraced).
  static void NoteShed(trace::Span* span, std::string_view route);
  // Metrics read from the gateway's live state at scrape time (gateway_metrics.cc).
  void ExportMetrics();
  // The route's place in routes_, or -1 (a direct-call route).
  int RouteIndex(const CompiledRoute& route) const {
    bool configured = &route >= routes_.data() && &route < routes_.data() + routes_.size();
    return configured ? static_cast<int>(&route - routes_.data()) : -1;
  }
  // The allowlisted headers (never a caller's x-fanout-*), the hop count
  // (`hops` + 1) and the verified identity, for backends.
  std::vector<std::pair<std::string, std::string>> Forwarded(
      const std::vector<std::pair<std::string, std::string>>& headers, int hops,
      const std::optional<Identity>& identity) const;
  // A route's deadline when its config sets none.
  absl::Duration default_timeout() const;
  // The backend serving a gRPC service, or "".
  std::string BackendFor(absl::string_view service) const;
  Task<absl::StatusOr<const google::protobuf::MethodDescriptor*>> Resolve(const CompiledCall& call);

  Options options_;
  std::vector<CompiledRoute> routes_;
  std::vector<std::unique_ptr<AdmissionLimiter>> route_limits_;  // By route index.
  std::map<std::string, const CompiledRoute*> grpc_routes_;
  AdmissionLimiter admission_;
  AdmissionLimiter stream_admission_;              // Proxied streams (gateway.max_streams).
  std::unique_ptr<CallerRateLimits> rate_limits_;  // gateway.rate_limiting
  std::optional<CorsPolicy> cors_;                 // gateway.cors
  std::unique_ptr<Authenticator> auth_;            // gateway.auth
  // The gRPC proxy's and direct calls' policy: gateway.auth.default_mode.
  RouteAuthPolicy proxy_auth_;
  const JsonLimits body_limits_;  // gateway.json
  const int64_t offload_bytes_;
  std::unique_ptr<OffloadPool> parse_pool_;  // Large bodies are parsed here, not on a loop.
  BackendMap backends_;
  std::map<std::string, std::string> services_;  // gRPC service -> backend.
  ProxyOptions proxy_options_;  // The metadata allowlist, lower-case, for every door.
  std::unique_ptr<DescriptorRegistry> descriptors_;
  RouteEnv env_;
  // Direct-call routes, made on demand; never removed (bounded by the
  // methods the backends have).
  mutable Mutex direct_mu_;
  std::map<std::string, std::shared_ptr<const CompiledRoute>> direct_ ABSL_GUARDED_BY(direct_mu_);

  grpc::AsyncGenericService generic_;
  std::unique_ptr<HttpServer> http_;
  LoopGroup* loops_ = nullptr;
  std::atomic<uint32_t> next_loop_{0};
  int trace_resource_ = 0;                        // The tracer resource REST spans report under.
  std::vector<metrics::CallbackHandle> metrics_;  // Before backends_ dies: declared after it.
};

}  // namespace fanout::gateway
