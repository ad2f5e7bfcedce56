// Route compilation: the default routes compile, and every mistake a config
// can hold is rejected with a message naming the route and the key.
#include "gateway/route.h"

#include <google/protobuf/descriptor.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "fanout/gateway/v1/gateway.pb.h"
#include "fanout/lab/v1/lab.pb.h"
#include "gateway/gateway.h"
#include "node/config/yaml_proto.h"
#include "tests/support/status_matchers.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

RouteContext TestContext() {
  // Link the compiled-in types the routes name.
  (void)gateway::v1::Dashboard::descriptor();
  (void)lab::v1::EchoRequest::descriptor();
  RouteContext context;
  context.backends = {"users", "orders", "recommendations", "lab"};
  context.find_method = [](absl::string_view method) {
    std::string name = absl::StrReplaceAll(method, {{"/", "."}});
    if (!name.empty() && name[0] == '.') name.erase(0, 1);
    return google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(name);
  };
  return context;
}

absl::StatusOr<std::vector<CompiledRoute>> Compile(const std::string& yaml) {
  config::v1::GatewayConfig config;
  absl::Status parsed = YamlTextToMessage(yaml, "test", &config);
  if (!parsed.ok()) return parsed;
  return CompileRoutes(config, TestContext());
}

TEST(RouteTest, DefaultRoutesCompile) {
  config::v1::GatewayConfig config;
  ASSERT_THAT(AddDefaultRoutes(&config), IsOk());
  auto routes = CompileRoutes(config, TestContext());
  ASSERT_THAT(routes, IsOk());
  RouteMatch match = MatchRoute(*routes, "GET", "/v1/users/42/dashboard");
  ASSERT_NE(match.route, nullptr);
  EXPECT_EQ(match.route->name, "dashboard");
  EXPECT_EQ(match.params.at("id"), "42");
  EXPECT_EQ(match.route->calls.size(), 3u);
  EXPECT_TRUE(match.route->calls[1].optional);
  EXPECT_EQ(match.route->grpc_method, "/fanout.gateway.v1.Gateway/GetDashboard");
}

TEST(RouteTest, MatchingTellsWrongMethodFromUnknownPath) {
  config::v1::GatewayConfig config;
  ASSERT_THAT(AddDefaultRoutes(&config), IsOk());
  auto routes = CompileRoutes(config, TestContext());
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

TEST(RouteTest, AdminRoutesAreBuiltInOnlyWhenAskedFor) {
  config::v1::GatewayConfig config;
  ASSERT_THAT(AddDefaultRoutes(&config), IsOk());
  auto routes = CompileRoutes(config, TestContext());
  ASSERT_THAT(routes, IsOk());
  EXPECT_EQ(MatchRoute(*routes, "GET", "/v1/users").route, nullptr);
  EXPECT_EQ(MatchRoute(*routes, "DELETE", "/v1/users/7").route, nullptr);
  EXPECT_NE(MatchRoute(*routes, "POST", "/v1/users").route, nullptr);  // Creating stays.

  config::v1::GatewayConfig admin;
  admin.set_admin_routes(true);
  ASSERT_THAT(AddDefaultRoutes(&admin), IsOk());
  auto with_admin = CompileRoutes(admin, TestContext());
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

TEST(RouteTest, DependenciesBecomeEdges) {
  auto routes = Compile(R"(
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
  auto routes = Compile(GetParam().yaml);
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

TEST(GatewayConfigTest, AllowlistKeysMustBeSendableAsMetadata) {
  config::v1::GatewayConfig config;
  ASSERT_THAT(
      YamlTextToMessage(R"(metadata_allowlist: [X-Request-Id, "x request"])", "test", &config),
      IsOk());
  EXPECT_THAT(CheckGatewayConfig(config, {"lab"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(R"(gateway.metadata_allowlist[1]: metadata key "x request")")));
  config.mutable_metadata_allowlist()->RemoveLast();
  EXPECT_THAT(CheckGatewayConfig(config, {"lab"}), IsOk());  // Upper case is folded.
}

TEST(GatewayConfigTest, AllowlistRefusesKeysThatAreNotTheCallersToForward) {
  struct Case {
    std::string key;
    std::string why;
  };
  for (const Case& c : std::vector<Case>{
           {"x-fanout-subject", "x-fanout-* keys are set by the gateway itself"},
           {"X-Fanout-Hops", "x-fanout-* keys are set by the gateway itself"},
           {"grpc-timeout", "grpc-* keys are gRPC's own"},
           {":authority", "an HTTP/2 pseudo-header"},
           {"content-type", "gRPC sets it on every call itself"},
           {"te", "gRPC sets it on every call itself"},
           {"host", "describes the caller's HTTP connection or body"},
           {"connection", "describes the caller's HTTP connection or body"},
           {"keep-alive", "describes the caller's HTTP connection or body"},
           {"transfer-encoding", "describes the caller's HTTP connection or body"},
           {"upgrade", "describes the caller's HTTP connection or body"},
           {"proxy-authorization", "describes the caller's HTTP connection or body"},
           {"content-length", "describes the caller's HTTP connection or body"},
       }) {
    config::v1::GatewayConfig config;
    config.add_metadata_allowlist("x-request-id");
    config.add_metadata_allowlist(c.key);
    EXPECT_THAT(CheckGatewayConfig(config, {"lab"}),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr(absl::StrCat("gateway.metadata_allowlist[1]: \"",
                                                      absl::AsciiStrToLower(c.key),
                                                      "\" cannot be forwarded: ")),
                               HasSubstr(c.why))))
        << c.key;
  }
  // A bearer token may go on: backends may check it again. Without auth, a
  // caller's x-user-id may too (nothing is verified there anyway).
  config::v1::GatewayConfig open;
  for (const char* key : {"authorization", "x-user-id", "x-tenant-id", "cookie"}) {
    open.add_metadata_allowlist(key);
  }
  EXPECT_THAT(CheckGatewayConfig(open, {"lab"}), IsOk());
}

TEST(GatewayConfigTest, AllowlistRefusesXUserIdOnceCallersAreVerified) {
  std::string keys = std::filesystem::path(::testing::TempDir()) /
                     absl::StrCat("route_test_api_keys_", ::getpid());
  {
    std::ofstream out(keys);
    out << "ci " << std::string(64, 'a') << " orders.read\n";
  }
  config::v1::GatewayConfig config;
  ASSERT_THAT(
      YamlTextToMessage(absl::StrCat("auth: {api_keys: {file: \"", keys,
                                     "\"}}\nmetadata_allowlist: [authorization, X-User-Id]"),
                        "test", &config),
      IsOk());
  EXPECT_THAT(CheckGatewayConfig(config, {"lab"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("gateway.metadata_allowlist[1]: \"x-user-id\""),
                             HasSubstr("backends read the verified x-fanout-subject"))));
  config.mutable_metadata_allowlist()->RemoveLast();
  EXPECT_THAT(CheckGatewayConfig(config, {"lab"}), IsOk());
  std::filesystem::remove(keys);
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
