// Request matching: a method and path reach one route with its parameters,
// or tell a wrong method (405) from an unknown path (404).
#include "gateway/route_match.h"

#include "gateway/default_routes.h"
#include "tests/support/route_context.h"
#include "tests/support/status_matchers.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::CompileYamlRoutes;
using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::fanout::testing::TestRouteContext;

TEST(RouteTest, MatchingTellsWrongMethodFromUnknownPath) {
  config::v1::GatewayConfig config;
  ASSERT_THAT(AddDefaultRoutes(&config), IsOk());
  auto routes = CompileRoutes(config, TestRouteContext());
  ASSERT_THAT(routes, IsOk());
  RouteMatch wrong = MatchRoute(*routes, "PUT", "/v1/users/7");
  EXPECT_EQ(wrong.route, nullptr);
  EXPECT_THAT(wrong.allowed, ::testing::UnorderedElementsAre("GET", "PATCH"));
  RouteMatch unknown = MatchRoute(*routes, "GET", "/v1/nothing/here");
  EXPECT_EQ(unknown.route, nullptr);
  EXPECT_TRUE(unknown.allowed.empty());
  EXPECT_EQ(MatchRoute(*routes, "GET", "/v1/users/7/").route, nullptr);
  EXPECT_NE(MatchRoute(*routes, "HEAD", "/v1/users/7").route, nullptr);
}

TEST(PathTemplateTest, MatchesSegments) {
  auto path = PathTemplate::Parse("/v1/users/{id}/orders");
  ASSERT_THAT(path, IsOk());
  std::map<std::string, std::string> params;
  EXPECT_TRUE(path->Match("/v1/users/abc/orders", &params));
  EXPECT_EQ(params["id"], "abc");
  EXPECT_FALSE(path->Match("/v1/users//orders", &params));
  EXPECT_FALSE(path->Match("/v1/users/1/orders/2", &params));
  EXPECT_FALSE(path->Match("/v1/users/1", &params));
  EXPECT_THAT(PathTemplate::Parse("/a/{x}/{x}"), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace fanout::gateway
