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

TEST(RouteMatchTest, TheFirstRouteInConfigOrderWinsWithItsParameters) {
  auto routes = CompileYamlRoutes(R"(
routes:
  - {name: any, path: "/a/{x}/{y}", calls: [{name: c, backend: lab, method: fanout.lab.v1.Lab/Echo}]}
  - {name: fixed, path: /a/b/c, calls: [{name: c, backend: lab, method: fanout.lab.v1.Lab/Echo}]}
)");
  ASSERT_THAT(routes, IsOk());
  RouteMatch match = MatchRoute(*routes, "GET", "/a/b/c");
  ASSERT_NE(match.route, nullptr);
  EXPECT_EQ(match.route->name, "any");
  EXPECT_EQ(match.params, (std::map<std::string, std::string>{{"x", "b"}, {"y", "c"}}));
}

TEST(RouteMatchTest, ParametersAreLeftAsSentForTheDoorToDecode) {
  auto routes = CompileYamlRoutes(R"(
routes: [{path: "/echo/{word}", calls: [{name: c, backend: lab, method: fanout.lab.v1.Lab/Echo}]}]
)");
  ASSERT_THAT(routes, IsOk());
  RouteMatch match = MatchRoute(*routes, "GET", "/echo/a%20b+c");
  ASSERT_NE(match.route, nullptr);
  EXPECT_EQ(match.params.at("word"), "a%20b+c");
}

TEST(RouteMatchTest, HeadIsServedOnlyByAGetRoute) {
  auto routes = CompileYamlRoutes(R"(
routes:
  - {http_method: POST, path: /p, calls: [{name: c, backend: lab, method: fanout.lab.v1.Lab/Echo}]}
  - {name: grpc-only, grpc_method: fanout.gateway.v1.Gateway/GetDashboard,
     calls: [{name: c, backend: lab, method: fanout.lab.v1.Lab/Echo}]}
)");
  ASSERT_THAT(routes, IsOk());
  RouteMatch head = MatchRoute(*routes, "HEAD", "/p");
  EXPECT_EQ(head.route, nullptr);
  EXPECT_EQ(head.allowed, std::vector<std::string>{"POST"});
  // A route without a path is never reached by a REST request.
  EXPECT_EQ(MatchRoute(*routes, "GET", "/").route, nullptr);
}

}  // namespace
}  // namespace fanout::gateway
