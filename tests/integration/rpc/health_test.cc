// grpc.health.v1 served by HealthService on a real server (127.0.0.1:0),
// called with gRPC's own blocking client, as a probe or load balancer would.
#include "node/rpc/health.h"

#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include "tests/support/eventually.h"
#include "tests/support/status_matchers.h"

namespace fanout {
namespace {

using ::fanout::testing::Eventually;
using ::fanout::testing::IsOk;
using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

HealthCheckRequest For(std::string service) {
  HealthCheckRequest request;
  request.set_service(std::move(service));
  return request;
}

class HealthTest : public ::testing::Test {
 protected:
  explicit HealthTest(HealthService::Options options = {})
      : server_({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 2}), health_(options) {
    health_.Register(server_);
    EXPECT_THAT(server_.Start(), IsOk());
    health_.Serve(server_);
    stub_ = Health::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_.port()),
                                                grpc::InsecureChannelCredentials()));
  }
  ~HealthTest() override { server_.Shutdown(absl::Seconds(1)); }

  grpc::Status Check(const std::string& service, HealthCheckResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return stub_->Check(&context, For(service), response);
  }

  struct Watch {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader;
    // The next status sent; UNKNOWN once the stream has ended.
    HealthCheckResponse::ServingStatus Next() {
      HealthCheckResponse response;
      return reader->Read(&response) ? response.status() : HealthCheckResponse::UNKNOWN;
    }
  };
  std::unique_ptr<Watch> StartWatch(const std::string& service) {
    auto watch = std::make_unique<Watch>();
    watch->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    watch->reader = stub_->Watch(&watch->context, For(service));
    return watch;
  }

  Server server_;
  HealthService health_;
  std::unique_ptr<Health::Stub> stub_;
};

TEST_F(HealthTest, CheckAnswersTheStatusSet) {
  health_.Set("", true);
  health_.Set("fanout.users.v1.Users", false);
  HealthCheckResponse response;
  ASSERT_TRUE(Check("", &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  ASSERT_TRUE(Check("fanout.users.v1.Users", &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  health_.Set("fanout.users.v1.Users", true);
  ASSERT_TRUE(Check("fanout.users.v1.Users", &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
}

TEST_F(HealthTest, CheckOfAnUnknownServiceIsNotFoundNamingIt) {
  health_.Set("", true);
  HealthCheckResponse response;
  grpc::Status status = Check("no.such.Service", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(status.error_message().find("no.such.Service"), std::string::npos);
}

TEST_F(HealthTest, WatchSendsTheStatusNowThenEachChange) {
  health_.Set("", false);
  auto watch = StartWatch("");
  EXPECT_EQ(watch->Next(), HealthCheckResponse::NOT_SERVING);
  health_.Set("", true);
  EXPECT_EQ(watch->Next(), HealthCheckResponse::SERVING);
  health_.Set("", true);  // Not a change: nothing is sent for it.
  health_.Set("", false);
  EXPECT_EQ(watch->Next(), HealthCheckResponse::NOT_SERVING);
  watch->context.TryCancel();
  EXPECT_EQ(watch->Next(), HealthCheckResponse::UNKNOWN);
  EXPECT_EQ(watch->reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The server forgets a watch whose caller left.
  Eventually([&] { return health_.watchers() == 0; });
  EXPECT_EQ(health_.watchers(), 0u);
}

TEST_F(HealthTest, WatchOfAnUnknownServiceSaysSoAndSeesItAppear) {
  auto watch = StartWatch("fanout.orders.v1.Orders");
  EXPECT_EQ(watch->Next(), HealthCheckResponse::SERVICE_UNKNOWN);
  health_.Set("fanout.orders.v1.Orders", true);
  EXPECT_EQ(watch->Next(), HealthCheckResponse::SERVING);
  watch->context.TryCancel();
}

TEST_F(HealthTest, ShutdownSendsNotServingAndEndsEveryWatch) {
  health_.Set("", true);
  health_.Set("fanout.lab.v1.Lab", true);
  auto overall = StartWatch("");
  auto lab = StartWatch("fanout.lab.v1.Lab");
  ASSERT_EQ(overall->Next(), HealthCheckResponse::SERVING);
  ASSERT_EQ(lab->Next(), HealthCheckResponse::SERVING);

  health_.Shutdown();
  for (auto* watch : {overall.get(), lab.get()}) {
    EXPECT_EQ(watch->Next(), HealthCheckResponse::NOT_SERVING);
    EXPECT_EQ(watch->Next(), HealthCheckResponse::UNKNOWN);  // The stream ended...
    EXPECT_TRUE(watch->reader->Finish().ok());               // ...cleanly.
  }
  // Later changes are ignored, and Check tells the truth.
  health_.Set("", true);
  HealthCheckResponse response;
  ASSERT_TRUE(Check("", &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  // A watch opened after shutdown gets the status and its end at once.
  auto late = StartWatch("");
  EXPECT_EQ(late->Next(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(late->Next(), HealthCheckResponse::UNKNOWN);
  EXPECT_TRUE(late->reader->Finish().ok());
}

class BoundedHealthTest : public HealthTest {
 protected:
  BoundedHealthTest() : HealthTest({.max_watchers = 2}) {}
};

TEST_F(BoundedHealthTest, WatchesBeyondTheLimitAreRefused) {
  health_.Set("", true);
  auto first = StartWatch("");
  auto second = StartWatch("");
  ASSERT_EQ(first->Next(), HealthCheckResponse::SERVING);
  ASSERT_EQ(second->Next(), HealthCheckResponse::SERVING);
  auto third = StartWatch("");
  EXPECT_EQ(third->Next(), HealthCheckResponse::UNKNOWN);
  grpc::Status refused = third->reader->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("max_watchers 2"), std::string::npos);
  first->context.TryCancel();
  second->context.TryCancel();
}

}  // namespace
}  // namespace fanout
