// GrpcDoor alone, over a GatewayState, a real lab backend and a front
// server on 127.0.0.1:0: Aggregate runs a route by name, other methods go
// to the proxy, a proxy loop ends at the hop limit, and routed calls take
// their slots from the shared state.
#include "gateway/grpc_door.h"

#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <thread>

#include "fanout/gateway/v1/gateway.grpc.pb.h"
#include "fanout/lab/v1/lab.grpc.pb.h"
#include "tests/support/eventually.h"
#include "tests/support/gateway_state_fixture.h"
#include "tests/support/status_matchers.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::Eventually;
using ::testing::HasSubstr;

constexpr char kConfig[] = R"yaml(
routes:
  - name: pair
    path: /pair
    calls:
      - {name: a, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: "=a"}}
      - {name: b, backend: lab, method: fanout.lab.v1.Lab/Echo, optional: true,
         request: {error_code: query.code, error_message: "=b is down"}}
  - name: sleep
    path: /sleep
    max_in_flight: 1
    calls:
      - {name: echo, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: query.ms}}
)yaml";

class GrpcDoorTest : public testing::GatewayStateTest {
 protected:
  void SetUp() override {
    MakeState(kConfig);
    proxy_ = std::make_unique<ServiceProxy>(*state_, ServiceProxy::Options{});
    door_ = std::make_unique<GrpcDoor>(*state_, *proxy_);
    front_.RegisterGenericService(&generic_);
    ASSERT_THAT(front_.Start(), testing::IsOk());
    front_.ServeGeneric(&generic_, [this](GenericCall& call) { return door_->Serve(call); });
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", front_.port()),
                                   grpc::InsecureChannelCredentials());
  }
  grpc::Status Aggregate(const std::string& route, std::map<std::string, std::string> params,
                         gateway::v1::AggregateResponse* reply, grpc::ClientContext* context) {
    gateway::v1::AggregateRequest request;
    request.set_route(route);
    request.mutable_params()->insert(params.begin(), params.end());
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return gateway::v1::Gateway::NewStub(channel_)->Aggregate(context, request, reply);
  }

  grpc::AsyncGenericService generic_;
  std::unique_ptr<ServiceProxy> proxy_;
  std::unique_ptr<GrpcDoor> door_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(GrpcDoorTest, AggregateRunsARouteByNameAndSaysWhatFailed) {
  gateway::v1::AggregateResponse reply;
  grpc::ClientContext context;
  grpc::Status status = Aggregate("pair", {{"code", "14"}}, &reply, &context);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(reply.completed());
  EXPECT_EQ(reply.result().fields().at("a").struct_value().fields().at("message").string_value(),
            "a");
  ASSERT_EQ(reply.parts_size(), 2);
  for (const auto& part : reply.parts()) {
    EXPECT_EQ(part.code(), part.name() == "b" ? grpc::StatusCode::UNAVAILABLE : 0) << part.name();
  }
  EXPECT_EQ(context.GetServerTrailingMetadata().find("x-fanout-completed")->second, "false");

  grpc::ClientContext unknown;
  EXPECT_EQ(Aggregate("nope", {}, &reply, &unknown).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcDoorTest, OtherMethodsGoToTheProxy) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  lab::v1::EchoRequest request;
  request.set_message("through");
  lab::v1::EchoResponse reply;
  grpc::Status status = lab::v1::Lab::NewStub(channel_)->Echo(&context, request, &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reply.message(), "through");
  EXPECT_EQ(reply.served_by(), "lab");
}

TEST_F(GrpcDoorTest, AProxyLoopEndsAtTheHopLimit) {
  grpc::ClientContext context;
  context.AddMetadata("x-fanout-hops", "8");
  lab::v1::EchoRequest request;
  lab::v1::EchoResponse reply;
  grpc::Status status = lab::v1::Lab::NewStub(channel_)->Echo(&context, request, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(lab_.calls(), 0);
}

TEST_F(GrpcDoorTest, RoutedCallsTakeTheirSlotsFromTheSharedState) {
  std::thread slow([&] {
    gateway::v1::AggregateResponse reply;
    grpc::ClientContext context;
    EXPECT_TRUE(Aggregate("sleep", {{"ms", "1000"}}, &reply, &context).ok());
  });
  ASSERT_TRUE(Eventually([&] { return state_->route_limit(1).in_flight() == 1; }));
  EXPECT_EQ(state_->admission().in_flight(), 1);
  gateway::v1::AggregateResponse reply;
  grpc::ClientContext shed;
  grpc::Status status = Aggregate("sleep", {{"ms", "0"}}, &reply, &shed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr(R"(route "sleep" is at its limit)"));
  slow.join();
  EXPECT_EQ(state_->admission().in_flight(), 0);
}

}  // namespace
}  // namespace fanout::gateway
