// AdminServer on HttpServer: probes answered, everything else refused clearly.
#include "node/http/admin_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/http_test_client.h"
#include "tests/support/status_matchers.h"

namespace fanout {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::fanout::testing::TestHttpClient;
using ::testing::HasSubstr;

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    admin_.Handle("/healthz", [] { return HttpReply{200, "ok\n"}; });
    admin_.Handle("/readyz", [] { return HttpReply{503, "draining\n"}; });
    admin_.Handle("/config", [] { return HttpReply{200, "{}", "application/json"}; });
    ASSERT_THAT(admin_.Start(), IsOk());
  }

  AdminServer admin_{{}};
};

TEST_F(AdminServerTest, AnswersHandlersOnOneKeptAliveConnection) {
  TestHttpClient client(admin_.port());
  ASSERT_TRUE(client.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto healthz = client.ReadResponse();
  ASSERT_TRUE(healthz.has_value());
  EXPECT_EQ(healthz->status, 200);
  EXPECT_EQ(healthz->body, "ok\n");
  EXPECT_EQ(healthz->Header("content-type"), "text/plain; charset=utf-8");
  ASSERT_TRUE(client.Send("GET /readyz?verbose=1 HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto readyz = client.ReadResponse();
  EXPECT_EQ(readyz->status, 503);
  EXPECT_EQ(readyz->body, "draining\n");
  ASSERT_TRUE(client.Send("GET /config HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(client.ReadResponse()->Header("content-type"), "application/json");
}

TEST_F(AdminServerTest, HeadHasNoBody) {
  TestHttpClient client(admin_.port());
  ASSERT_TRUE(client.Send("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto response = client.ReadResponse(/*head_request=*/true);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("content-length"), "3");
  ASSERT_TRUE(client.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(client.ReadResponse()->body, "ok\n");
}

TEST_F(AdminServerTest, UnknownPathIs404AndOtherMethods405WithAllow) {
  TestHttpClient client(admin_.port());
  ASSERT_TRUE(client.Send("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto missing = client.ReadResponse();
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body, "{\"code\": 404, \"message\": \"no such path: /nope\"}\n");
  ASSERT_TRUE(client.Send("POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
  auto refused = client.ReadResponse();
  EXPECT_EQ(refused->status, 405);
  EXPECT_EQ(refused->Header("allow"), "GET, HEAD");
  EXPECT_THAT(refused->body, HasSubstr("POST is not allowed on /healthz; use GET"));
}

TEST_F(AdminServerTest, OversizedBodyIs413) {
  TestHttpClient client(admin_.port());
  ASSERT_TRUE(client.Send("POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 413);
}

TEST(AdminServerStartTest, BadAddressesAreNamed) {
  AdminServer no_port({.address = "localhost"});
  absl::Status status = no_port.Start();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(status.message()), HasSubstr("\"localhost\""));
  AdminServer taken_a({.address = "127.0.0.1:0"});
  ASSERT_THAT(taken_a.Start(), IsOk());
  AdminServer taken_b({.address = "127.0.0.1:" + std::to_string(taken_a.port())});
  EXPECT_THAT(taken_b.Start(), StatusIs(absl::StatusCode::kUnavailable));
  taken_a.Stop();
  taken_a.Stop();
}

}  // namespace
}  // namespace fanout
