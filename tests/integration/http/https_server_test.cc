// HttpServer over TLS, with certificates made by the openssl CLI: curl
// trusting the test CA gets answers, plaintext and certificate-less clients
// (to an mTLS door) are refused, and a rotated certificate is served to new
// connections without a restart while an open one carries on.
#include <gtest/gtest.h>

#include <memory>

#include "node/http/http_server.h"
#include "tests/support/eventually.h"
#include "tests/support/https_test_client.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_certificates.h"

namespace fanout {
namespace {

using ::fanout::testing::Eventually;
using ::fanout::testing::HttpsTestClient;
using ::fanout::testing::IsOk;
using ::fanout::testing::IsOkAndHolds;
using ::fanout::testing::RunCommand;
using ::fanout::testing::StatusIs;
using ::fanout::testing::TestCertificates;
using ::testing::HasSubstr;

void Hello(std::shared_ptr<HttpExchange> exchange) {
  exchange->Reply({.content_type = "text/plain", .body = "hello " + exchange->request().path});
}

class HttpsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestCertificates> certs = TestCertificates::Create();
    ASSERT_THAT(certs.status(), IsOk());
    certs_.emplace(*std::move(certs));
  }

  std::unique_ptr<HttpServer> Start(bool mtls) {
    auto server = std::make_unique<HttpServer>(
        HttpServer::Options{.address = "127.0.0.1:0", .tls = certs_->ServerTls(mtls)}, Hello);
    EXPECT_THAT(server->Start(), IsOk());
    return server;
  }

  // curl to https://localhost:port (resolved to 127.0.0.1) trusting the test CA.
  std::string Curl(int port, const std::string& extra = "") {
    return absl::StrCat("curl -sS --max-time 20 --cacert ", certs_->ca,
                        " --resolve localhost:", port, ":127.0.0.1 ", extra,
                        " https://localhost:", port, "/x");
  }

  std::optional<TestCertificates> certs_;
};

TEST_F(HttpsServerTest, CurlTrustingTheCaIsAnswered) {
  auto server = Start(/*mtls=*/false);
  auto result = RunCommand(Curl(server->port()));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "hello /x");
}

TEST_F(HttpsServerTest, HandlersSeeThePeerAddress) {
  auto server = std::make_unique<HttpServer>(
      HttpServer::Options{.address = "127.0.0.1:0", .tls = certs_->ServerTls()},
      [](std::shared_ptr<HttpExchange> exchange) {
        exchange->Reply({.content_type = "text/plain", .body = exchange->request().peer});
      });
  ASSERT_THAT(server->Start(), IsOk());
  EXPECT_EQ(RunCommand(Curl(server->port())).output, "127.0.0.1");
}

TEST_F(HttpsServerTest, TlsVersionsBelow12AreRefused) {
  auto server = Start(/*mtls=*/false);
  auto result = RunCommand(Curl(server->port(), "--tlsv1.1 --tls-max 1.1"));
  EXPECT_NE(result.exit_code, 0) << result.output;
  result = RunCommand(Curl(server->port(), "--tlsv1.2 --tls-max 1.2"));
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

TEST_F(HttpsServerTest, PlaintextToTheTlsDoorFails) {
  auto server = Start(/*mtls=*/false);
  auto result =
      RunCommand(absl::StrCat("curl -sS --max-time 20 http://127.0.0.1:", server->port(), "/x"));
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, ::testing::Not(HasSubstr("hello")));
  // The door still serves TLS clients afterwards.
  EXPECT_EQ(RunCommand(Curl(server->port())).output, "hello /x");
}

TEST_F(HttpsServerTest, ACertificateNotFromTheCaIsRefused) {
  auto server = Start(/*mtls=*/false);
  // curl's default trust store knows nothing of the test CA.
  auto result =
      RunCommand(absl::StrCat("curl -sS --max-time 20 --resolve localhost:", server->port(),
                              ":127.0.0.1 https://localhost:", server->port(), "/x"));
  EXPECT_NE(result.exit_code, 0) << result.output;
}

TEST_F(HttpsServerTest, MtlsDoorRefusesAClientWithoutCertificate) {
  auto server = Start(/*mtls=*/true);
  auto refused = RunCommand(Curl(server->port()));
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  auto admitted = RunCommand(Curl(
      server->port(), absl::StrCat("--cert ", certs_->client_cert, " --key ", certs_->client_key)));
  EXPECT_EQ(admitted.exit_code, 0) << admitted.output;
  EXPECT_EQ(admitted.output, "hello /x");
}

TEST_F(HttpsServerTest, RotatedCertificateIsServedWithoutRestartAndOpenConnectionsStay) {
  auto server = Start(/*mtls=*/true);
  HttpsTestClient before;
  ASSERT_THAT(before.Connect(server->port(), certs_->ClientTls(/*mtls=*/true)), IsOk());
  EXPECT_THAT(before.Get("/a"), IsOkAndHolds(std::string("hello /a")));
  EXPECT_EQ(before.peer_common_name(), "localhost");

  ASSERT_THAT(certs_->RotateServer("rotated"), IsOk());
  std::string seen;
  EXPECT_TRUE(Eventually([&] {
    HttpsTestClient after;
    if (!after.Connect(server->port(), certs_->ClientTls(/*mtls=*/true)).ok()) return false;
    seen = after.peer_common_name();
    return seen == "rotated" && after.Get("/b").ok();
  })) << "last certificate seen: "
      << seen;
  // The connection made before the rotation was not dropped.
  EXPECT_THAT(before.Get("/c"), IsOkAndHolds(std::string("hello /c")));
}

TEST_F(HttpsServerTest, BadRotationKeepsServingThePreviousCertificate) {
  auto server = Start(/*mtls=*/false);
  // A key that does not match the certificate: the reload is refused.
  std::filesystem::copy_file(certs_->client_key, certs_->server_key,
                             std::filesystem::copy_options::overwrite_existing);
  absl::SleepFor(absl::Milliseconds(300));  // a few reload checks
  auto result = RunCommand(Curl(server->port()));
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

TEST_F(HttpsServerTest, StartNamesTheTlsFileThatDoesNotLoad) {
  TlsOptions tls = certs_->ServerTls();
  tls.key_file = certs_->client_key;
  HttpServer mismatched({.address = "127.0.0.1:0", .tls = tls}, Hello);
  EXPECT_THAT(mismatched.Start(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not match")));
  tls.key_file = certs_->dir + "/missing.key";
  HttpServer missing({.address = "127.0.0.1:0", .tls = tls}, Hello);
  EXPECT_THAT(missing.Start(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("missing.key")));
}

}  // namespace
}  // namespace fanout
