// RestDoor alone, over a GatewayState and a real lab backend: routes are
// answered, a wrong method is told from an unknown path, direct calls reach
// any unary method, the door takes its slots from the state it is given,
// and it drains.
#include "gateway/rest_door.h"

#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/match.h"
#include "tests/support/eventually.h"
#include "tests/support/gateway_state_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/status_matchers.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::Eventually;
using ::fanout::testing::HttpCall;
using ::fanout::testing::HttpResult;
using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kConfig[] = R"yaml(
rest_address: 127.0.0.1:0
routes:
  - name: echo
    path: /echo/{word}
    respond_with: echo
    calls:
      - {name: echo, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: path.word}}
  - name: sleep
    path: /sleep/{ms}
    max_in_flight: 1
    respond_with: echo
    calls:
      - {name: echo, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: path.ms}}
)yaml";

class RestDoorTest : public testing::GatewayStateTest {
 protected:
  void StartDoor(const std::string& yaml = kConfig) {
    MakeState(yaml);
    absl::StatusOr<RestDoor::Options> options = RestDoor::OptionsFromConfig(state_->config());
    ASSERT_THAT(options, IsOk());
    door_ = std::make_unique<RestDoor>(*state_, *std::move(options));
    ASSERT_THAT(door_->Start(front_.loops()), IsOk());
  }
  HttpResult Call(const std::string& method, const std::string& target,
                  const std::string& body = "") {
    return HttpCall(door_->port(), method, target, body);
  }

  std::unique_ptr<RestDoor> door_;
};

TEST_F(RestDoorTest, ARouteIsAnsweredAndAWrongMethodToldFromAnUnknownPath) {
  StartDoor();
  HttpResult echoed = Call("GET", "/echo/hello%20there");
  ASSERT_EQ(echoed.status, 200) << echoed.body;
  EXPECT_THAT(echoed.body, HasSubstr(R"("message":"hello there")"));
  EXPECT_EQ(echoed.headers["x-fanout-completed"], "true");

  HttpResult wrong = Call("DELETE", "/echo/x");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.headers["allow"], "GET, HEAD");
  HttpResult unknown = Call("GET", "/nothing/here");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_THAT(unknown.body, HasSubstr("no route for GET /nothing/here"));
}

TEST_F(RestDoorTest, DirectCallsReachAnyUnaryMethodOfAServedService) {
  StartDoor();
  HttpResult r = Call("POST", "/v1/fanout.lab.v1.Lab/Echo", R"({"message": "direct"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("message":"direct")"));
  HttpResult stream = Call("POST", "/v1/fanout.lab.v1.Lab/Stream", "{}");
  EXPECT_EQ(stream.status, 400);
  EXPECT_THAT(stream.body, HasSubstr("is a streaming method"));
  HttpResult unserved = Call("POST", "/v1/nope.v1.Nothing/Here", "{}");
  EXPECT_EQ(unserved.status, 404);
  EXPECT_THAT(unserved.body, HasSubstr(R"(no backend serves gRPC service \"nope.v1.Nothing\")"));
}

TEST_F(RestDoorTest, SlotsComeFromTheSharedStateAndGoBackWithTheAnswer) {
  StartDoor();
  std::thread slow([&] { EXPECT_EQ(Call("GET", "/sleep/1000").status, 200); });
  // Held in the state's limiters, where the other door and the metrics see it.
  ASSERT_TRUE(Eventually([&] { return state_->admission().in_flight() == 1; }));
  EXPECT_EQ(state_->route_limit(1).in_flight(), 1);
  HttpResult shed = Call("GET", "/sleep/0");
  EXPECT_EQ(shed.status, 503);
  EXPECT_EQ(shed.headers["retry-after"], "1");
  EXPECT_EQ(Call("GET", "/echo/other").status, 200);  // Only the route is full.
  slow.join();
  EXPECT_EQ(state_->admission().in_flight(), 0);
  EXPECT_EQ(Call("GET", "/sleep/0").status, 200);
}

TEST_F(RestDoorTest, DrainingWaitsForTheAnswersOfRequestsRead) {
  StartDoor();
  std::thread slow([&] {
    HttpResult r = Call("GET", "/sleep/500");
    EXPECT_EQ(r.status, 200);
  });
  ASSERT_TRUE(Eventually([&] { return state_->admission().in_flight() == 1; }));
  door_->BeginDrain();
  EXPECT_TRUE(door_->AwaitDrained(absl::Now() + absl::Seconds(10)));
  EXPECT_EQ(state_->admission().in_flight(), 0);
  slow.join();
}

TEST(RestDoorOptionsTest, TheDoorsLimitsAndPolicyComeFromTheConfig) {
  config::v1::GatewayConfig config;
  ASSERT_THAT(YamlTextToMessage(R"yaml(
rest_address: 127.0.0.1:0
max_body_bytes: 2048
max_headers: 7
json: {max_depth: 5, offload_bytes: 100}
cors: {allowed_origins: ["https://app.example.com"]}
)yaml",
                                "test", &config),
              IsOk());
  absl::StatusOr<RestDoor::Options> options = RestDoor::OptionsFromConfig(config);
  ASSERT_THAT(options, IsOk());
  EXPECT_EQ(options->http.address, "127.0.0.1:0");
  EXPECT_EQ(options->http.max_body_bytes, 2048);
  EXPECT_EQ(options->http.max_headers, 7);
  EXPECT_EQ(options->body_limits.max_depth, 5);
  EXPECT_EQ(options->offload_bytes, 100);
  EXPECT_TRUE(options->cors.has_value());

  config.mutable_cors()->add_allowed_origins("app.example");
  EXPECT_THAT(
      RestDoor::OptionsFromConfig(config),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("gateway.cors.allowed_origins: \"app.example\" is not an origin")));
}

}  // namespace
}  // namespace fanout::gateway
