// The built-in routes: they compile, and the administration and lab routes
// are there only where asked for.
#include "gateway/default_routes.h"

#include "absl/strings/match.h"
#include "gateway/route_match.h"
#include "tests/support/route_context.h"
#include "tests/support/status_matchers.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::TestRouteContext;

TEST(RouteTest, DefaultRoutesCompile) {
  config::v1::GatewayConfig config;
  ASSERT_THAT(AddDefaultRoutes(&config), IsOk());
  auto routes = CompileRoutes(config, TestRouteContext());
  ASSERT_THAT(routes, IsOk());
  RouteMatch match = MatchRoute(*routes, "GET", "/v1/users/42/dashboard");
  ASSERT_NE(match.route, nullptr);
  EXPECT_EQ(match.route->name, "dashboard");
  EXPECT_EQ(match.params.at("id"), "42");
  EXPECT_EQ(match.route->calls.size(), 3u);
  EXPECT_TRUE(match.route->calls[1].optional);
  EXPECT_EQ(match.route->grpc_method, "/fanout.gateway.v1.Gateway/GetDashboard");
}

TEST(RouteTest, AdminRoutesAreBuiltInOnlyWhenAskedFor) {
  config::v1::GatewayConfig config;
  ASSERT_THAT(AddDefaultRoutes(&config), IsOk());
  auto routes = CompileRoutes(config, TestRouteContext());
  ASSERT_THAT(routes, IsOk());
  EXPECT_EQ(MatchRoute(*routes, "GET", "/v1/users").route, nullptr);
  EXPECT_EQ(MatchRoute(*routes, "DELETE", "/v1/users/7").route, nullptr);
  EXPECT_NE(MatchRoute(*routes, "POST", "/v1/users").route, nullptr);  // Creating stays.

  config::v1::GatewayConfig admin;
  admin.set_admin_routes(true);
  ASSERT_THAT(AddDefaultRoutes(&admin), IsOk());
  auto with_admin = CompileRoutes(admin, TestRouteContext());
  ASSERT_THAT(with_admin, IsOk());
  ASSERT_NE(MatchRoute(*with_admin, "GET", "/v1/users").route, nullptr);
  EXPECT_EQ(MatchRoute(*with_admin, "GET", "/v1/users").route->name, "list-users");
  ASSERT_NE(MatchRoute(*with_admin, "DELETE", "/v1/users/7").route, nullptr);
  EXPECT_EQ(MatchRoute(*with_admin, "DELETE", "/v1/users/7").route->name, "delete-user");
}

TEST(RouteTest, LabRoutesAreBuiltInOnlyWhereALabBackendIs) {
  std::set<std::string> without_lab = {"users", "orders", "recommendations"};
  config::v1::GatewayConfig config;
  ASSERT_THAT(AddDefaultRoutes(&config, &without_lab), IsOk());
  for (const auto& route : config.routes()) {
    EXPECT_FALSE(absl::StartsWith(route.path(), "/v1/lab/")) << route.name();
  }
  std::set<std::string> with_lab = {"users", "orders", "recommendations", "lab"};
  config::v1::GatewayConfig lab;
  ASSERT_THAT(AddDefaultRoutes(&lab, &with_lab), IsOk());
  EXPECT_EQ(lab.routes_size(), config.routes_size() + 2);  // lab-echo, lab-fanout
}

}  // namespace
}  // namespace fanout::gateway
