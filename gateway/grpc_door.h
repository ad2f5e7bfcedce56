// GrpcDoor: the gateway's gRPC front door. Every method no registered
// service has arrives here as a generic call:
//
//   - a method bound to a route (Route.grpc_method) runs that route: the
//     request message's fields are its parameters, the answer is the
//     method's response type (or a stream of fanout.gateway.v1.Part);
//   - fanout.gateway.v1.Gateway/Aggregate runs any non-streaming route by
//     name, untyped (params and a Struct body in, a Struct and per-part
//     statuses out);
//   - anything else goes to the transparent proxy (service_proxy.h).
//
//   GrpcDoor door(state, proxy);
//   server.ServeGeneric(&generic, [&door](GenericCall& call) { return door.Serve(call); });
//
// Each call, in order: the hop limit (x-fanout-hops: a proxy loop ends
// FAILED_PRECONDITION), the caller's rate limits (RESOURCE_EXHAUSTED with
// RateLimit-* trailers), credentials (UNAUTHENTICATED with a
// www-authenticate trailer; PERMISSION_DENIED), admission (UNAVAILABLE), the
// deadline (the caller's, capped by the route's). Routed answers carry
// x-fanout-completed in trailing metadata; a failed required part is the
// call's status.
//
// Loop-affine per call: Serve runs on the call's loop; one door serves all
// loops (it holds only the routes by method, immutable).
#pragma once

#include <map>
#include <string>

#include "gateway/gateway_state.h"
#include "gateway/service_proxy.h"
#include "node/async/task.h"
#include "node/rpc/server_call.h"

namespace fanout::gateway {

class GrpcDoor {
 public:
  // `state` and `proxy` must outlive the door.
  GrpcDoor(GatewayState& state, ServiceProxy& proxy);

  // The generic handler: serves `call` to its end.
  Task<absl::Status> Serve(GenericCall& call);
  // Whether `method` ("/pkg.Service/Method") is the gateway's own: a
  // route's, or Aggregate; anything else goes to the proxy. Thread-safe.
  bool ServesItself(const std::string& method) const {
    return method == kAggregateMethod || routes_by_method_.contains(method);
  }
  static constexpr char kAggregateMethod[] = "/fanout.gateway.v1.Gateway/Aggregate";

 private:
  Task<absl::Status> ServeRoute(GenericCall& call, const CompiledRoute& route);
  Task<absl::Status> ServeAggregate(GenericCall& call);
  // What every route run on this door shares: credentials, admission, the
  // deadline, forwarded metadata, the completion flag in trailing metadata.
  Task<absl::StatusOr<RouteResult>> Run(GenericCall& call, const CompiledRoute& route,
                                        RequestInput input, PartSink sink = nullptr);
  // The caller by `policy`, from the call's metadata; on refusal the
  // challenge is in the trailing metadata (www-authenticate).
  absl::StatusOr<std::optional<Identity>> Authenticate(GenericCall& call,
                                                       const RouteAuthPolicy& policy);

  GatewayState& state_;
  ServiceProxy& proxy_;
  std::map<std::string, const CompiledRoute*> routes_by_method_;  // By "/pkg.Service/Method".
  // The proxy's policy: gateway.auth.default_mode.
  const RouteAuthPolicy proxy_auth_{};
};

}  // namespace fanout::gateway
