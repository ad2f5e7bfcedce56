// Route compilation: every mistake a config can hold is rejected with a
// message naming the route and the key; what compiles has its dependency
// graph and its defaults.
#include "gateway/route_compile.h"

#include <random>

#include "absl/strings/match.h"
#include "node/config/yaml_proto.h"
#include "tests/support/route_context.h"
#include "tests/support/status_matchers.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::CompileYamlRoutes;
using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::testing::HasSubstr;

TEST(RouteTest, DependenciesBecomeEdges) {
  auto routes = CompileYamlRoutes(R"(
routes:
  - path: /chain/{m}
    calls:
      - {name: first, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: path.m}}
      - {name: second, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: parts.first.message}}
      - {name: alone, backend: lab, method: fanout.lab.v1.Lab/Echo}
)");
  ASSERT_THAT(routes, IsOk());
  const auto& calls = (*routes)[0].calls;
  EXPECT_TRUE(calls[0].needs.empty());
  EXPECT_EQ(calls[1].needs, std::vector<int>{0});
  EXPECT_TRUE(calls[2].needs.empty());
}

struct BadCase {
  const char* yaml;
  const char* message;
};

class RouteErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(RouteErrorTest, NamesRouteAndKey) {
  auto routes = CompileYamlRoutes(GetParam().yaml);
  ASSERT_THAT(routes, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(routes.status().message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Config, RouteErrorTest,
    ::testing::Values(
        BadCase{
            R"(routes: [{name: r, path: /x, calls: [{name: a, backend: nope, method: fanout.lab.v1.Lab/Echo}]}])",
            R"(route "r": call "a": backend "nope" is not configured)"},
        BadCase{R"(routes: [{name: r, path: /x, calls: [{name: a, backend: lab, method: Echo}]}])",
                R"(route "r": call "a": method must be "package.Service/Method", got "Echo")"},
        BadCase{
            R"(routes: [{name: r, path: /x, calls: [{name: a, backend: lab, method: fanout.lab.v1.Lab/Nope}]}])",
            R"(method "fanout.lab.v1.Lab/Nope" is unknown)"},
        BadCase{
            R"(routes: [{name: r, path: /x, calls: [{name: a, backend: lab, method: fanout.lab.v1.Lab/Stream}]}])",
            "is streaming"},
        BadCase{
            R"(routes: [{name: r, path: /x, calls: [{name: a, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {mesage: "=x"}}]}])",
            R"(request field "mesage": fanout.lab.v1.EchoRequest has no field "mesage")"},
        BadCase{
            R"(routes: [{name: r, path: /x, calls: [{name: a, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: path.id}}]}])",
            R"(source "path.id" names no parameter of the path)"},
        BadCase{
            R"(routes: [{name: r, path: /x, calls: [{name: a, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: cookie.x}}]}])",
            R"(must start with path., query., header., body, parts. or =)"},
        BadCase{
            R"(routes: [{name: r, path: /x, calls: [{name: a, backend: lab, method: fanout.lab.v1.Lab/Echo, timeout_ms: -5}]}])",
            R"(route "r": call "a": timeout_ms must be >= 0, got -5)"},
        BadCase{
            R"(routes: [{name: r, path: /x, calls: [{name: a, backend: lab, method: fanout.lab.v1.Lab/Echo, retry: {retryable_codes: [SOMETIMES]}}]}])",
            R"(retry.retryable_codes: "SOMETIMES" is not a gRPC code name)"},
        BadCase{R"(routes: [{name: r, path: /x, calls: [
                    {name: a, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: parts.b.message}},
                    {name: b, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: parts.a.message}}]}])",
                "depend on each other in a cycle: a, b"},
        BadCase{
            R"(routes: [{name: r, path: /x, calls: [{name: a, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: parts.zz.message}}]}])",
            R"(source "parts.zz.message" names no other call)"},
        BadCase{
            R"(routes: [{name: r, path: x, calls: [{name: a, backend: lab, method: fanout.lab.v1.Lab/Echo}]}])",
            R"(path "x" must start with /)"},
        BadCase{
            R"(routes: [{name: r, path: "/a/{id", calls: [{name: a, backend: lab, method: fanout.lab.v1.Lab/Echo}]}])",
            "a parameter must be a whole segment"},
        BadCase{
            R"(routes: [{name: r, http_method: FETCH, path: /x, calls: [{name: a, backend: lab, method: fanout.lab.v1.Lab/Echo}]}])",
            R"(http_method must be GET, POST, PUT, PATCH or DELETE, got "FETCH")"},
        BadCase{R"(routes: [{name: r, path: /x}])", R"(route "r": has no calls)"},
        BadCase{
            R"(routes: [{name: r, path: /x, respond_with: zz, calls: [{name: a, backend: lab, method: fanout.lab.v1.Lab/Echo}]}])",
            R"(respond_with "zz" names no call)"},
        BadCase{
            R"(routes: [{name: r, path: /x, grpc_method: fanout.gateway.v1.Gateway/StreamDashboard, calls: [{name: a, backend: lab, method: fanout.lab.v1.Lab/Echo}]}])",
            "must be unary to match stream: false"},
        BadCase{
            R"(routes: [{name: r, path: /x, calls: [{name: a, backend: lab, method: fanout.lab.v1.Lab/Echo}]},
                            {name: s, path: /x, calls: [{name: a, backend: lab, method: fanout.lab.v1.Lab/Echo}]}])",
            R"(gateway.routes[1] route "s": another route has the same method and path)"},
        BadCase{
            R"(routes: [{name: r, path: /x, calls: [{name: a, backend: lab, method: fanout.lab.v1.Lab/Echo, select: nope}]}])",
            R"(select "nope": fanout.lab.v1.EchoResponse has no field "nope")"}));

TEST(RouteCompileTest, WhatTheConfigLeavesOutGetsItsDefault) {
  RouteContext context = testing::TestRouteContext();
  context.default_timeout = absl::Seconds(3);
  config::v1::GatewayConfig config;
  ASSERT_THAT(YamlTextToMessage(R"(
routes:
  - path: /x/{id}
    calls:
      - {name: shown, backend: lab, method: fanout.lab.v1.Lab/Echo}
      - {name: hidden, backend: lab, method: /fanout.lab.v1.Lab/Echo, output: "-"}
)",
                                "test", &config),
              IsOk());
  auto routes = CompileRoutes(config, context);
  ASSERT_THAT(routes, IsOk());
  const CompiledRoute& route = (*routes)[0];
  EXPECT_EQ(route.name, "GET /x/{id}");
  EXPECT_EQ(route.http_method, "GET");
  EXPECT_EQ(route.timeout, absl::Seconds(3));
  EXPECT_EQ(route.success_status, 200);
  EXPECT_EQ(route.respond_with, -1);
  EXPECT_EQ(route.calls[0].output, "shown");
  EXPECT_EQ(route.calls[1].output, "");
  EXPECT_EQ(route.calls[1].method, "/fanout.lab.v1.Lab/Echo");  // Either form, one path.
  EXPECT_EQ(route.calls[0].retry.max_attempts, 1);
  EXPECT_NE(route.calls[0].descriptor, nullptr);
}

// The waits between attempts, jitter (20%) and all: 100 ms, then four
// times that, then the 500 ms cap (the defaults: 25, 50, 100 ms; cap 1 s).
// proves: gateway.routes.*.calls.*.retry.initial_backoff_ms
// proves: gateway.routes.*.calls.*.retry.backoff_multiplier
// proves: gateway.routes.*.calls.*.retry.max_backoff_ms
TEST(RouteCompileTest, RetryWaitsComeFromTheConfig) {
  config::v1::GatewayConfig config;
  ASSERT_THAT(YamlTextToMessage(R"(
routes:
  - path: /x
    calls:
      - {name: a, backend: lab, method: fanout.lab.v1.Lab/Echo,
         retry: {max_attempts: 4, initial_backoff_ms: 100, backoff_multiplier: 4, max_backoff_ms: 500}}
)",
                                "test", &config),
              IsOk());
  auto routes = CompileRoutes(config, testing::TestRouteContext());
  ASSERT_THAT(routes, IsOk());
  const RetryPolicy& retry = (*routes)[0].calls[0].retry;
  std::mt19937 random(17);
  for (int i = 0; i < 20; ++i) {
    absl::Duration first = retry.Backoff(1, random);
    EXPECT_GE(first, absl::Milliseconds(80));
    EXPECT_LE(first, absl::Milliseconds(120));
    absl::Duration second = retry.Backoff(2, random);
    EXPECT_GE(second, absl::Milliseconds(320));
    EXPECT_LE(second, absl::Milliseconds(480));
    absl::Duration third = retry.Backoff(3, random);
    EXPECT_GE(third, absl::Milliseconds(400));
    EXPECT_LE(third, absl::Milliseconds(500));
  }
}

TEST(RouteCompileTest, ADirectCallSendsTheWholeBodyAndAnswersWithTheCall) {
  CompiledRoute route =
      DirectCallRoute("lab", "fanout.lab.v1.Lab", "Echo", nullptr, absl::Milliseconds(250));
  EXPECT_EQ(route.name, "POST /v1/fanout.lab.v1.Lab/Echo");
  EXPECT_EQ(route.http_method, "POST");
  EXPECT_EQ(route.timeout, absl::Milliseconds(250));
  ASSERT_EQ(route.calls.size(), 1u);
  EXPECT_EQ(route.respond_with, 0);
  const CompiledCall& call = route.calls[0];
  EXPECT_EQ(call.backend, "lab");
  EXPECT_EQ(call.method, "/fanout.lab.v1.Lab/Echo");
  ASSERT_EQ(call.request.size(), 1u);
  EXPECT_EQ(call.request[0].field, "");  // The whole request...
  EXPECT_EQ(call.request[0].source.kind, Source::Kind::kBody);
  EXPECT_EQ(call.request[0].source.path, "");  // ...is the whole body.
}

}  // namespace
}  // namespace fanout::gateway
