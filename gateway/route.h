// Routes, compiled: what one outside request (REST or gRPC) turns into.
// The config's Route and Call messages are checked once at load, with
// errors naming the route and the key, and turned into this form:
// resolved method descriptors, parsed request sources and the dependency
// graph between calls.
//
//   FANOUT_ASSIGN_OR_RETURN(auto routes, CompileRoutes(config.gateway(), context));
//   RouteMatch match = MatchRoute(routes, "GET", "/v1/users/7/dashboard");
//
// Immutable after compilation: thread-safe to share between loops.
#pragma once

#include <google/protobuf/descriptor.h>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fanout/config/v1/gateway_config.pb.h"
#include "gateway/auth.h"
#include "gateway/cors.h"
#include "gateway/json_value.h"
#include "gateway/rate_limit.h"
#include "node/async/retry.h"

namespace fanout::gateway {

// "/v1/users/{id}/dashboard": literal segments and {param} segments.
class PathTemplate {
 public:
  static absl::StatusOr<PathTemplate> Parse(absl::string_view text);
  // True when `path` fits; fills `params` (not decoded further than %XX).
  bool Match(absl::string_view path, std::map<std::string, std::string>* params) const;
  const std::string& text() const { return text_; }
  bool HasParam(const std::string& name) const;

 private:
  std::string text_;
  std::vector<std::string> segments_;  // "{name}" marks a parameter.
};

// Where a request field's value comes from (Call.request's right side).
struct Source {
  enum class Kind { kPath, kQuery, kHeader, kBody, kPart, kLiteral };
  Kind kind = Kind::kLiteral;
  std::string name;  // Path/query parameter, header, or part name.
  int call = -1;     // kPart: the index of the call named.
  std::string path;  // Field path inside the body or part; "" for all of it.
  Value literal;
  std::string text;  // As written, for messages.
};

struct RequestField {
  std::string field;  // Dotted request field path; "" fills the whole message.
  Source source;
};

struct CompiledCall {
  std::string name;
  std::string backend;
  std::string method;  // "/pkg.Service/Method", the gRPC path.
  // Null when the types come from reflection at the first call.
  const google::protobuf::MethodDescriptor* descriptor = nullptr;
  std::vector<RequestField> request;
  std::vector<int> needs;      // Indices of the calls whose answers this one uses...
  std::vector<int> needed_by;  // ... and of those that use this one's.
  absl::Duration timeout = absl::InfiniteDuration();
  bool optional = false;
  RetryPolicy retry;  // max_attempts 1: no retries.
  absl::Duration hedge_delay = absl::ZeroDuration();
  std::string output;  // "" leaves the part out; "." merges into the top level.
  std::string select;
  std::vector<std::string> drop_fields;
  std::vector<std::pair<std::string, std::string>> rename_fields;

  // Whether the part's value differs from the answer as the backend sent it.
  bool Reshapes() const {
    return !select.empty() || !drop_fields.empty() || !rename_fields.empty();
  }
};

struct CompiledRoute {
  std::string name;
  std::string http_method;  // "" when the route has no REST form.
  std::optional<PathTemplate> path;
  std::string grpc_method;  // "/pkg.Service/Method" or "".
  const google::protobuf::MethodDescriptor* grpc_descriptor = nullptr;
  absl::Duration timeout;
  int max_in_flight = 0;  // 0: no limit of the route's own (the gateway's still applies)
  bool stream = false;
  std::vector<CompiledCall> calls;
  int respond_with = -1;  // Index of the call answering for the route, or -1.
  int success_status = 200;
  // Each caller's rate on this route (gateway.rate_limiting adds the
  // gateway-wide one); nullopt: none of its own.
  std::optional<RateLimiter::Limit> rate_limit;
  // Its own CORS policy, instead of gateway.cors; nullopt: the gateway's.
  std::optional<CorsPolicy> cors;
  // The credentials it requires (mode unspecified: gateway.auth.default_mode).
  RouteAuthPolicy auth;
  // What a loop serving this route notes it is doing (EventLoop::NoteActivity).
  const char* activity = "a gateway route";
};

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

// "pkg.Service" of a method path "/pkg.Service/Method" (leading '/' optional).
std::string ServiceOf(absl::string_view method);

struct RouteMatch {
  const CompiledRoute* route = nullptr;  // Null: no route for this method and path.
  std::map<std::string, std::string> params;
  std::vector<std::string> allowed;  // When only the method is wrong: the methods that fit.
};
RouteMatch MatchRoute(const std::vector<CompiledRoute>& routes, absl::string_view method,
                      absl::string_view path);

}  // namespace fanout::gateway
