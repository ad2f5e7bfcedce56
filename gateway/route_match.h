// Request matching: which compiled route a REST request's method and path
// reach, with the path's parameters.
//
//   RouteMatch match = MatchRoute(routes, request.method, request.path);
//   if (match.route) ... run it with match.params ...
//   else if (!match.allowed.empty()) ... 405, Allow: match.allowed ...
//   else ... 404 ...
//
// Routes are tried in config order and the first whose path and method fit
// wins; HEAD is served by a GET route. A path that fits only routes of other
// methods lists those methods, so the caller can tell a wrong method (405)
// from an unknown path (404). gRPC requests are matched by method name, not
// here.
//
// Thread-safe: reads the routes only.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "gateway/route.h"

namespace fanout::gateway {

struct RouteMatch {
  const CompiledRoute* route = nullptr;  // Null: no route for this method and path.
  std::map<std::string, std::string> params;
  std::vector<std::string> allowed;  // When only the method is wrong: the methods that fit.
};

RouteMatch MatchRoute(const std::vector<CompiledRoute>& routes, absl::string_view method,
                      absl::string_view path);

}  // namespace fanout::gateway
