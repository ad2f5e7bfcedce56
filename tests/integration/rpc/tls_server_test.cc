// The gRPC door over TLS (Server::Options::tls), with certificates made by
// the openssl CLI, called by gRPC's own clients: SslCredentials trusting the
// test CA, a plaintext client, a client without a certificate at an mTLS
// door, and the file-watching reload of a rotated certificate.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "node/rpc/health.h"
#include "node/rpc/server.h"
#include "node/rpc/tls_credentials.h"
#include "tests/support/eventually.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_certificates.h"

namespace fanout {
namespace {

using ::fanout::testing::Eventually;
using ::fanout::testing::IsOk;
using ::fanout::testing::TestCertificates;
using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class TlsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestCertificates> certs = TestCertificates::Create();
    ASSERT_THAT(certs.status(), IsOk());
    certs_.emplace(*std::move(certs));
  }
  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(1));
  }

  void Start(bool mtls) {
    server_ = std::make_unique<Server>(Server::Options{
        .listen_addresses = {"127.0.0.1:0"}, .num_loops = 1, .tls = certs_->ServerTls(mtls)});
    health_.Register(*server_);
    ASSERT_THAT(server_->Start(), IsOk());
    health_.Serve(*server_);
    health_.Set("", true);
  }

  // gRPC's SslCredentials trusting the test CA, checking the name "localhost".
  std::shared_ptr<grpc::Channel> SslChannel(bool with_client_cert) {
    grpc::SslCredentialsOptions ssl{.pem_root_certs = ReadFile(certs_->ca)};
    if (with_client_cert) {
      ssl.pem_private_key = ReadFile(certs_->client_key);
      ssl.pem_cert_chain = ReadFile(certs_->client_cert);
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    // A fresh connection per channel, so each one sees the current certificate.
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                     grpc::SslCredentials(ssl), args);
  }

  // One health check; `subject` gets the server certificate's subject.
  grpc::Status Check(const std::shared_ptr<grpc::Channel>& channel,
                     std::string* subject = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    HealthCheckResponse response;
    grpc::Status status =
        Health::NewStub(channel)->Check(&context, HealthCheckRequest(), &response);
    if (subject != nullptr && context.auth_context() != nullptr) {
      auto values = context.auth_context()->FindPropertyValues("x509_subject");
      if (!values.empty()) subject->assign(values.front().data(), values.front().size());
    }
    return status;
  }

  std::optional<TestCertificates> certs_;
  HealthService health_;
  std::unique_ptr<Server> server_;
};

TEST_F(TlsServerTest, SslClientTrustingTheCaIsServed) {
  Start(/*mtls=*/false);
  std::string subject;
  grpc::Status status = Check(SslChannel(/*with_client_cert=*/false), &subject);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(subject, ::testing::HasSubstr("CN=localhost"));
}

TEST_F(TlsServerTest, PlaintextClientFails) {
  Start(/*mtls=*/false);
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                     grpc::InsecureChannelCredentials());
  EXPECT_EQ(Check(channel).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsServerTest, MtlsDoorRefusesAClientWithoutCertificate) {
  Start(/*mtls=*/true);
  EXPECT_EQ(Check(SslChannel(/*with_client_cert=*/false)).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  grpc::Status admitted = Check(SslChannel(/*with_client_cert=*/true));
  EXPECT_TRUE(admitted.ok()) << admitted.error_message();
}

TEST_F(TlsServerTest, ChannelSecurityForMakesAnMtlsClient) {
  Start(/*mtls=*/true);
  absl::StatusOr<ChannelSecurity> security = ChannelSecurityFor(certs_->ClientTls(/*mtls=*/true));
  ASSERT_THAT(security.status(), IsOk());
  grpc::ChannelArguments args;
  security->Apply(&args);
  // 127.0.0.1 is among the certificate's names: no override needed.
  auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                           security->credentials, args);
  grpc::Status status = Check(channel);
  EXPECT_TRUE(status.ok()) << status.error_message();
  // A name the certificate does not carry is refused.
  TlsOptions wrong_name = certs_->ClientTls(/*mtls=*/true);
  wrong_name.server_name_override = "elsewhere.example";
  security = ChannelSecurityFor(wrong_name);
  ASSERT_THAT(security.status(), IsOk());
  grpc::ChannelArguments wrong_args;
  security->Apply(&wrong_args);
  EXPECT_FALSE(Check(grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                               security->credentials, wrong_args))
                   .ok());
}

TEST_F(TlsServerTest, RotatedCertificateIsServedWithoutRestart) {
  Start(/*mtls=*/false);
  auto before = SslChannel(/*with_client_cert=*/false);
  std::string subject;
  ASSERT_TRUE(Check(before, &subject).ok());
  ASSERT_THAT(subject, ::testing::HasSubstr("CN=localhost"));

  ASSERT_THAT(certs_->RotateServer("rotated"), IsOk());
  // gRPC's file watcher looks once a second (its smallest interval).
  EXPECT_TRUE(Eventually([&] {
    return Check(SslChannel(/*with_client_cert=*/false), &subject).ok() &&
           absl::StrContains(subject, "CN=rotated");
  })) << "last subject seen: "
      << subject;
  // The channel opened before the rotation still works.
  grpc::Status status = Check(before);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(TlsServerTest, StartNamesTheTlsFileThatDoesNotLoad) {
  TlsOptions tls = certs_->ServerTls();
  tls.cert_file = certs_->dir + "/nope.crt";
  Server server({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1, .tls = tls});
  absl::Status started = server.Start();
  EXPECT_EQ(started.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(started.message(), ::testing::HasSubstr("nope.crt"));
}

}  // namespace
}  // namespace fanout
