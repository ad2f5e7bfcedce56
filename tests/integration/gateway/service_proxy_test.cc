// ServiceProxy alone, over a GatewayState, a real lab backend and a front
// server on 127.0.0.1:0: unary calls go through (the backend's metadata
// comes back), a service the node serves itself or no backend serves is
// UNIMPLEMENTED, streams have their own pool, and a unary call without a
// deadline gets the gateway's default.
#include "gateway/service_proxy.h"

#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include "fanout/lab/v1/lab.grpc.pb.h"
#include "tests/support/eventually.h"
#include "tests/support/gateway_state_fixture.h"
#include "tests/support/generic_unary.h"
#include "tests/support/status_matchers.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::Eventually;
using ::fanout::testing::GenericUnaryStatus;
using ::testing::HasSubstr;

class ServiceProxyTest : public testing::GatewayStateTest {
 protected:
  void StartProxy(ServiceProxy::Options options, const std::string& yaml = "") {
    MakeState(yaml);
    proxy_ = std::make_unique<ServiceProxy>(*state_, std::move(options));
    front_.RegisterGenericService(&generic_);
    ASSERT_THAT(front_.Start(), testing::IsOk());
    front_.ServeGeneric(&generic_,
                        [this](GenericCall& call) { return proxy_->Serve(call, std::nullopt); });
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", front_.port()),
                                   grpc::InsecureChannelCredentials());
  }
  grpc::Status Echo(const lab::v1::EchoRequest& request, grpc::ClientContext* context,
                    lab::v1::EchoResponse* reply) {
    return lab::v1::Lab::NewStub(channel_)->Echo(context, request, reply);
  }

  grpc::AsyncGenericService generic_;
  std::unique_ptr<ServiceProxy> proxy_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ServiceProxyTest, AUnaryCallGoesThroughAndTheBackendsMetadataComesBack) {
  StartProxy({});
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  lab::v1::EchoRequest request;
  request.set_message("through");
  lab::v1::EchoResponse reply;
  grpc::Status status = Echo(request, &context, &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reply.message(), "through");
  EXPECT_EQ(context.GetServerInitialMetadata().find("x-lab-served-by")->second, "lab");
  EXPECT_EQ(context.GetServerTrailingMetadata().find("x-lab-code")->second, "0");
  EXPECT_EQ(state_->admission().in_flight(), 0);
}

TEST_F(ServiceProxyTest, ServicesServedHereOrByNoBackendAreUnimplemented) {
  StartProxy({.local_services = {"fanout.lab.v1.Lab"}});
  grpc::Status local = GenericUnaryStatus(channel_, "/fanout.lab.v1.Lab/Nope");
  EXPECT_EQ(local.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(local.error_message(), HasSubstr("this node serves fanout.lab.v1.Lab"));
  grpc::Status unserved = GenericUnaryStatus(channel_, "/nope.v1.Nothing/Here");
  EXPECT_EQ(unserved.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(unserved.error_message(), HasSubstr("no backend serves nope.v1.Nothing"));
  EXPECT_EQ(lab_.calls(), 0);
}

TEST_F(ServiceProxyTest, StreamsHaveAPoolOfTheirOwn) {
  StartProxy({.max_streams = 1});
  auto stub = lab::v1::Lab::NewStub(channel_);
  grpc::ClientContext open;
  lab::v1::StreamRequest slow;
  slow.set_count(2);
  slow.set_interval_ms(60000);
  auto reader = stub->Stream(&open, slow);
  lab::v1::EchoResponse first;
  ASSERT_TRUE(reader->Read(&first));  // The stream holds the only stream slot.

  grpc::ClientContext second;
  auto refused = stub->Stream(&second, slow);
  lab::v1::EchoResponse none;
  EXPECT_FALSE(refused->Read(&none));
  grpc::Status status = refused->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("gateway.max_streams"));

  grpc::ClientContext unary;  // Unary calls are admitted apart.
  lab::v1::EchoRequest request;
  lab::v1::EchoResponse reply;
  EXPECT_TRUE(Echo(request, &unary, &reply).ok());
  open.TryCancel();
  (void)reader->Finish();
}

TEST_F(ServiceProxyTest, AUnaryCallWithoutADeadlineGetsTheDefault) {
  StartProxy({}, "default_timeout_ms: 200");
  grpc::ClientContext context;  // No deadline.
  lab::v1::EchoRequest request;
  request.set_delay_ms(30000);
  lab::v1::EchoResponse reply;
  EXPECT_EQ(Echo(request, &context, &reply).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() == 1; }));
}

}  // namespace
}  // namespace fanout::gateway
