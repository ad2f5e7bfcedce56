// Route compilation: the config's `gateway.routes` checked and turned into
// CompiledRoutes (route.h), once, at load. Every mistake is refused with
// INVALID_ARGUMENT naming the route and the key, e.g.
// `gateway.routes[0] route "r": call "a": backend "nope" is not configured
// (known: lab, orders)`.
//
//   RouteContext context{.backends = {"users", "orders"},
//                        .find_method = [&](absl::string_view m) { return registry.FindMethod(m); }};
//   FANOUT_ASSIGN_OR_RETURN(std::vector<CompiledRoute> routes,
//                           CompileRoutes(config.gateway(), context));
//
// What is checked: methods ("package.Service/Method", known unless
// reflection may find them, unary), request fields against the request
// type, sources (path.NAME names a path parameter; parts.NAME another call),
// the calls' dependencies (no cycles), timeouts, retries, rate limits, CORS,
// respond_with, and no two routes on one method and path or grpc_method.
//
// Thread-safe: pure functions of their arguments (`find_method` is called
// on the calling thread).
#pragma once

#include <google/protobuf/descriptor.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "fanout/config/v1/gateway_config.pb.h"
#include "gateway/route.h"

namespace fanout::gateway {

// What compilation needs to know about the world.
struct RouteContext {
  // Backends the node can call.
  std::set<std::string> backends;
  // "pkg.Service/Method" -> descriptor, or nullptr when unknown here.
  std::function<const google::protobuf::MethodDescriptor*(absl::string_view)> find_method;
  // Unknown methods are allowed (resolved by reflection at the first call).
  bool allow_unknown_methods = false;
  absl::Duration default_timeout = absl::Seconds(10);
};

absl::StatusOr<std::vector<CompiledRoute>> CompileRoutes(const config::v1::GatewayConfig& config,
                                                         const RouteContext& context);
absl::StatusOr<CompiledRoute> CompileRoute(const config::v1::Route& route,
                                           const RouteContext& context);

// A call of any unary method with the whole JSON body as its request and the
// answer as the response: POST /v1/{service}/{method}.
// `descriptor` may be null (resolved by reflection at the first call).
CompiledRoute DirectCallRoute(std::string backend, std::string service, std::string method,
                              const google::protobuf::MethodDescriptor* descriptor,
                              absl::Duration timeout);

}  // namespace fanout::gateway
