// GatewayState: what every door of the gateway shares. The routes, and
// what a request passes through whichever door it came by: admission (the
// gateway's in-flight limit and each route's), rate limits, authentication,
// the backends, the message types, the metadata a backend may be sent.
// Gateway owns one and hands it to each door (rest_door.h, grpc_door.h,
// service_proxy.h), so a request counts the same at either door.
//
//   FANOUT_ASSIGN_OR_RETURN(auto state, GatewayState::Create({.config = ..., .backends = ...}));
//   state->ConnectBackends(make_channel);        // once, before any request
//   if (auto tickets = state->Admit(route)) ... run it ... else ... 503 ...
//
// Thread-safe after ConnectBackends: the doors call it from every loop and
// HTTP thread. What it holds is immutable (routes, services, allowlist) or
// synchronized on its own (limiters are atomic; rate limits, auth and the
// descriptor registry lock).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "fanout/config/v1/node_config.pb.h"
#include "gateway/admission.h"
#include "gateway/aggregator.h"
#include "gateway/auth.h"
#include "gateway/backend.h"
#include "gateway/descriptors.h"
#include "gateway/grpc_proxy.h"
#include "gateway/rate_limit.h"
#include "gateway/route.h"

namespace fanout {
namespace trace {
class Span;
}
}  // namespace fanout

namespace fanout::gateway {

class GatewayState {
 public:
  struct Options {
    config::v1::GatewayConfig config;
    // Every backend the routes may call, with its protection settings.
    std::map<std::string, config::v1::Backend> backends;
    Clock* clock = &Clock::Real();
  };
  // Compiles the gateway config (gateway_config.h): INVALID_ARGUMENT naming
  // the route and key.
  static absl::StatusOr<std::unique_ptr<GatewayState>> Create(Options options);

  // Makes the Backend of each configured backend on the channel `channel`
  // gives for its name. Once, before the first request.
  void ConnectBackends(
      const std::function<std::shared_ptr<grpc::Channel>(const std::string&)>& channel);

  // The in-flight slots of a request of `route`: the gateway's and, for a
  // configured route, the route's own; nullopt (none taken) when either is
  // full.
  std::optional<std::vector<AdmissionLimiter::Ticket>> Admit(const CompiledRoute& route);
  // The caller's rate limits for a request of `route` (null: a proxied
  // call, under the gateway-wide limit only): OK or RESOURCE_EXHAUSTED, and
  // the RateLimit-* headers to answer with in `*headers` either way. The
  // caller is `peer` (the address the door saw), or X-Forwarded-For
  // (`forwarded_for`) as gateway.trusted_proxies allows.
  absl::Status CheckRateLimits(const CompiledRoute* route, absl::string_view peer,
                               absl::string_view forwarded_for, CallerRateLimits::Headers* headers);
  // The caller by `policy`, from its credentials: nullopt when the policy
  // asks for none. On a refusal (UNAUTHENTICATED, PERMISSION_DENIED) the
  // challenge to answer with (WWW-Authenticate) is in `*challenge`.
  absl::StatusOr<std::optional<Identity>> Authenticate(const RouteAuthPolicy& policy,
                                                       absl::string_view authorization,
                                                       absl::string_view api_key,
                                                       std::string* challenge);
  // Marks a request shed by admission on its span (null: untraced).
  static void NoteShed(trace::Span* span, std::string_view route);
  // What a backend call of a request is sent with: the allowlisted headers
  // (never a caller's x-fanout-*), the hop count (`hops` + 1) and the
  // verified identity.
  MetadataList Forwarded(const std::vector<std::pair<std::string, std::string>>& headers, int hops,
                         const std::optional<Identity>& identity) const;
  // The backend serving a gRPC service, or "".
  std::string BackendFor(absl::string_view service) const;

  const config::v1::GatewayConfig& config() const { return options_.config; }
  const std::vector<CompiledRoute>& routes() const { return routes_; }
  // The route's place in routes(), or -1 (a direct-call route).
  int RouteIndex(const CompiledRoute& route) const {
    bool configured = &route >= routes_.data() && &route < routes_.data() + routes_.size();
    return configured ? static_cast<int>(&route - routes_.data()) : -1;
  }
  // gateway.max_in_flight, over both doors.
  const AdmissionLimiter& admission() const { return admission_; }
  AdmissionLimiter& admission() { return admission_; }
  // A configured route's own max_in_flight, by RouteIndex.
  const AdmissionLimiter& route_limit(int index) const { return *route_limits_[index]; }
  CallerRateLimits& rate_limits() { return *rate_limits_; }
  Authenticator& auth() { return *auth_; }
  DescriptorRegistry& descriptors() { return *descriptors_; }
  const BackendMap& backends() const { return backends_; }
  // Each backend's configuration, by name.
  const std::map<std::string, config::v1::Backend>& backend_configs() const {
    return options_.backends;
  }
  Backend& backend(const std::string& name) { return *backends_.at(name); }
  // What RunRoute needs: the backends, messages by type, reflection.
  const RouteEnv& env() const { return env_; }
  // The metadata allowlist, lower-case, for every door; no added metadata.
  const ProxyOptions& proxy_options() const { return proxy_options_; }
  // A route's deadline when its config sets none.
  absl::Duration default_timeout() const { return default_timeout_; }

 private:
  explicit GatewayState(Options options);
  Task<absl::StatusOr<const google::protobuf::MethodDescriptor*>> Resolve(const CompiledCall& call);

  const Options options_;
  const absl::Duration default_timeout_;
  std::unique_ptr<DescriptorRegistry> descriptors_;
  std::vector<CompiledRoute> routes_;
  std::vector<std::unique_ptr<AdmissionLimiter>> route_limits_;  // By route index.
  AdmissionLimiter admission_;
  std::unique_ptr<CallerRateLimits> rate_limits_;  // gateway.rate_limiting
  std::unique_ptr<Authenticator> auth_;            // gateway.auth
  BackendMap backends_;
  std::map<std::string, std::string> services_;  // gRPC service -> backend.
  ProxyOptions proxy_options_;
  RouteEnv env_;
};

}  // namespace fanout::gateway
