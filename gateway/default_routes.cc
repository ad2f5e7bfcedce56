#include "gateway/default_routes.h"

#include "node/config/yaml_proto.h"

namespace fanout::gateway {
namespace {

// The routes a gateway serves when its config lists none. Written in the
// config's own YAML form: copy them into `gateway.routes` to change them.
constexpr char kDefaultRoutes[] = R"yaml(
routes:
  # A user's dashboard: three backends at once; orders and recommendations
  # are optional (the answer is partial without them), the user is not.
  - name: dashboard
    http_method: GET
    path: /v1/users/{id}/dashboard
    grpc_method: fanout.gateway.v1.Gateway/GetDashboard
    timeout_ms: 2000
    calls: &dashboard_calls
      - name: user
        backend: users
        method: fanout.users.v1.Users/GetUser
        request: {id: path.id}
        timeout_ms: 500
        retry: {max_attempts: 3, initial_backoff_ms: 20, max_backoff_ms: 200}
      - name: orders
        backend: orders
        method: fanout.orders.v1.Orders/ListOrders
        request: {user_id: path.id, limit: "=10"}
        select: orders
        optional: true
        timeout_ms: 500
      - name: recommendations
        backend: recommendations
        method: fanout.recommendations.v1.Recommendations/Recommend
        request: {user_id: path.id, limit: "=5"}
        select: items
        optional: true
        timeout_ms: 800
        hedge_delay_ms: 300
  - name: dashboard-stream
    http_method: GET
    path: /v1/users/{id}/dashboard/stream
    grpc_method: fanout.gateway.v1.Gateway/StreamDashboard
    stream: true
    timeout_ms: 2000
    calls: *dashboard_calls

  # The services' own calls, one backend call each.
  - name: create-user
    http_method: POST
    path: /v1/users
    success_status: 201
    respond_with: user
    calls:
      - {name: user, backend: users, method: fanout.users.v1.Users/CreateUser, request: {"*": body}}
  - name: get-user
    path: /v1/users/{id}
    respond_with: user
    calls:
      - {name: user, backend: users, method: fanout.users.v1.Users/GetUser, request: {id: path.id}}
  - name: update-user
    http_method: PATCH
    path: /v1/users/{id}
    respond_with: user
    calls:
      - name: user
        backend: users
        method: fanout.users.v1.Users/UpdateUser
        request: {"*": body, id: path.id}
  - name: create-order
    http_method: POST
    path: /v1/users/{id}/orders
    success_status: 201
    respond_with: order
    calls:
      - name: order
        backend: orders
        method: fanout.orders.v1.Orders/CreateOrder
        request: {"*": body, user_id: path.id}
  - name: list-orders
    path: /v1/users/{id}/orders
    respond_with: orders
    calls:
      - name: orders
        backend: orders
        method: fanout.orders.v1.Orders/ListOrders
        request: {user_id: path.id, limit: query.limit}
  - name: recommendations
    path: /v1/users/{id}/recommendations
    respond_with: recommendations
    calls:
      - name: recommendations
        backend: recommendations
        method: fanout.recommendations.v1.Recommendations/Recommend
        request: {user_id: path.id, limit: query.limit}

  # The lab backend, for tests, drills and benchmarks: only where a lab
  # backend or role is (`available`).
  - name: lab-echo
    path: /v1/lab/echo
    respond_with: echo
    calls:
      - name: echo
        backend: lab
        method: fanout.lab.v1.Lab/Echo
        request: {message: query.message, delay_ms: query.delay_ms, error_code: query.error_code}
  - name: lab-fanout
    path: /v1/lab/fanout
    timeout_ms: 5000
    calls:
      - {name: a, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: "=a", delay_ms: query.delay_ms}}
      - {name: b, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: "=b", delay_ms: query.delay_ms}}
      - {name: c, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: "=c", delay_ms: query.delay_ms}}
)yaml";

// Administration, not a public API: every user's email, and deletion. Only
// with gateway.admin_routes.
constexpr char kAdminRoutes[] = R"yaml(
routes:
  - name: list-users
    path: /v1/users
    respond_with: users
    calls:
      - name: users
        backend: users
        method: fanout.users.v1.Users/ListUsers
        request: {page_size: query.page_size, page_token: query.page_token}
  - name: delete-user
    http_method: DELETE
    path: /v1/users/{id}
    respond_with: user
    calls:
      - {name: user, backend: users, method: fanout.users.v1.Users/DeleteUser, request: {id: path.id}}
)yaml";

}  // namespace

absl::Status AddDefaultRoutes(config::v1::GatewayConfig* config,
                              const std::set<std::string>* available) {
  config::v1::GatewayConfig defaults;
  absl::Status parsed = YamlTextToMessage(kDefaultRoutes, "default routes", &defaults);
  if (!parsed.ok()) return parsed;
  if (config->admin_routes()) {
    config::v1::GatewayConfig admin;
    parsed = YamlTextToMessage(kAdminRoutes, "admin routes", &admin);
    if (!parsed.ok()) return parsed;
    defaults.MergeFrom(admin);
  }
  for (auto& route : *defaults.mutable_routes()) {
    bool servable = true;
    for (const auto& call : route.calls()) {
      if (available && !available->contains(call.backend())) servable = false;
    }
    if (servable) *config->add_routes() = std::move(route);
  }
  return absl::OkStatus();
}

}  // namespace fanout::gateway
