// Routes, compiled: what one outside request (REST or gRPC) turns into.
// The config's Route and Call messages are checked once at load and turned
// into this form (route_compile.h): resolved method descriptors, parsed
// request sources and the dependency graph between calls. A request finds
// its route by method and path (route_match.h) or by gRPC method, and runs
// it (aggregator.h).
//
//   FANOUT_ASSIGN_OR_RETURN(auto routes, CompileRoutes(config.gateway(), context));
//   RouteMatch match = MatchRoute(routes, "GET", "/v1/users/7/dashboard");
//   if (match.route) ... co_await RunRoute(*match.route, input, env) ...
//
// Immutable after compilation: thread-safe to share between loops.
#pragma once

#include <google/protobuf/descriptor.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "gateway/auth.h"
#include "gateway/cors.h"
#include "gateway/json_value.h"
#include "gateway/path_template.h"
#include "gateway/rate_limit.h"
#include "node/async/retry.h"

namespace fanout::gateway {

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

// "pkg.Service" of a method path "/pkg.Service/Method" (leading '/' optional).
inline std::string ServiceOf(absl::string_view method) {
  absl::ConsumePrefix(&method, "/");
  return std::string(method.substr(0, method.find('/')));
}

}  // namespace fanout::gateway
