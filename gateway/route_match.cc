#include "gateway/route_match.h"

namespace fanout::gateway {

RouteMatch MatchRoute(const std::vector<CompiledRoute>& routes, absl::string_view method,
                      absl::string_view path) {
  RouteMatch match;
  for (const CompiledRoute& route : routes) {
    if (!route.path) continue;
    std::map<std::string, std::string> params;
    if (!route.path->Match(path, &params)) continue;
    if (route.http_method == method || (method == "HEAD" && route.http_method == "GET")) {
      match.route = &route;
      match.params = std::move(params);
      return match;
    }
    match.allowed.push_back(route.http_method);
  }
  return match;
}

}  // namespace fanout::gateway
