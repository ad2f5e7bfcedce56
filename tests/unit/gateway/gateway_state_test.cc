// What the doors share: which backend serves a service, the slots a request
// takes (the gateway's and its route's), and the metadata a backend is sent.
#include "gateway/gateway_state.h"

#include <gtest/gtest.h>

#include "fanout/lab/v1/lab.pb.h"
#include "gateway/route_compile.h"
#include "node/config/yaml_proto.h"
#include "tests/support/status_matchers.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

absl::StatusOr<std::unique_ptr<GatewayState>> StateOf(const std::string& yaml) {
  (void)lab::v1::EchoRequest::descriptor();  // Links the type the routes call.
  config::v1::GatewayConfig config;
  absl::Status parsed = YamlTextToMessage(yaml, "test", &config);
  if (!parsed.ok()) return parsed;
  config::v1::Backend lab;
  lab.add_services("fanout.lab.v1.Lab");
  return GatewayState::Create({.config = config, .backends = {{"lab", lab}, {"users", {}}}});
}

constexpr char kRoute[] = R"(
max_in_flight: 2
routes:
  - {name: r, path: /r, max_in_flight: 1, calls: [{name: c, backend: lab, method: fanout.lab.v1.Lab/Echo}]}
)";

// proves: gateway.services, backends.*.services
TEST(GatewayStateTest, ServicesAreFoundByTheBackendThatServesThem) {
  auto state = StateOf(absl::StrCat(kRoute, "services: {fanout.users.v1.Users: users}"));
  ASSERT_THAT(state, IsOk());
  EXPECT_EQ((*state)->BackendFor("fanout.lab.v1.Lab"), "lab");        // backends.lab.services
  EXPECT_EQ((*state)->BackendFor("fanout.users.v1.Users"), "users");  // gateway.services
  EXPECT_EQ((*state)->BackendFor("nope.v1.Nothing"), "");

  EXPECT_THAT(StateOf(absl::StrCat(kRoute, "services: {x.v1.X: gone}")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(R"(gateway.services.x.v1.X: backend "gone" is not configured)")));
}

TEST(GatewayStateTest, ARequestTakesTheGatewaysSlotAndItsRoutesOrNone) {
  auto state = StateOf(kRoute);
  ASSERT_THAT(state, IsOk());
  GatewayState& shared = **state;
  const CompiledRoute& route = shared.routes()[0];
  ASSERT_EQ(shared.RouteIndex(route), 0);
  auto first = shared.Admit(route);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->size(), 2u);
  EXPECT_EQ(shared.route_limit(0).in_flight(), 1);
  // The route is full: nothing is held, not even the gateway's slot.
  EXPECT_FALSE(shared.Admit(route).has_value());
  EXPECT_EQ(shared.admission().in_flight(), 1);
  // A direct call has no route of its own: only the gateway's slot.
  CompiledRoute direct =
      DirectCallRoute("lab", "fanout.lab.v1.Lab", "Echo", nullptr, shared.default_timeout());
  EXPECT_EQ(shared.RouteIndex(direct), -1);
  auto other = shared.Admit(direct);
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->size(), 1u);
  EXPECT_FALSE(shared.Admit(direct).has_value());  // The gateway's two are taken.
  first.reset();
  other.reset();
  EXPECT_EQ(shared.admission().in_flight(), 0);
}

TEST(GatewayStateTest, BackendsAreSentTheAllowlistTheHopAndTheVerifiedCaller) {
  auto state = StateOf(kRoute);
  ASSERT_THAT(state, IsOk());
  Identity ana{.subject = "ana", .scopes = {"orders.read"}, .via = "jwt"};
  MetadataList sent = (*state)->Forwarded(
      {{"authorization", "Bearer t"}, {"x-fanout-subject", "mallory"}, {"cookie", "c"}},
      /*hops=*/2, ana);
  EXPECT_THAT(sent, Contains(Pair("authorization", "Bearer t")));
  EXPECT_THAT(sent, Contains(Pair("x-fanout-hops", "3")));
  EXPECT_THAT(sent, Contains(Pair("x-fanout-subject", "ana")));
  EXPECT_THAT(sent, Not(Contains(Pair("x-fanout-subject", "mallory"))));
  EXPECT_THAT(sent, Not(Contains(Pair("cookie", ::testing::_))));
}

// proves: gateway.metadata_allowlist
TEST(GatewayStateTest, AnAllowlistReplacesTheBuiltInOne) {
  auto state = StateOf(absl::StrCat(kRoute, "metadata_allowlist: [x-tenant]"));
  ASSERT_THAT(state, IsOk());
  MetadataList sent = (*state)->Forwarded(
      {{"authorization", "Bearer t"}, {"x-tenant", "acme"}, {"x-request-id", "r1"}},
      /*hops=*/0, std::nullopt);
  EXPECT_THAT(sent, Contains(Pair("x-tenant", "acme")));
  // Built-in keys are not forwarded unless listed.
  EXPECT_THAT(sent, Not(Contains(Pair("authorization", ::testing::_))));
  EXPECT_THAT(sent, Not(Contains(Pair("x-request-id", ::testing::_))));
}

}  // namespace
}  // namespace fanout::gateway
