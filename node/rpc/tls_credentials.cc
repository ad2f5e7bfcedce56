#include "node/rpc/tls_credentials.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <algorithm>

namespace fanout {
namespace {

using grpc::experimental::FileWatcherCertificateProvider;

unsigned RefreshSeconds(const TlsOptions& tls) {
  int64_t seconds = absl::ToInt64Seconds(absl::Ceil(tls.reload_interval, absl::Seconds(1)));
  return static_cast<unsigned>(std::clamp<int64_t>(seconds, 1, 24 * 3600));
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const TlsOptions& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  if (absl::Status checked = CheckTlsFiles(tls, TlsSide::kServer); !checked.ok()) return checked;
  auto provider = std::make_shared<FileWatcherCertificateProvider>(
      tls.key_file, tls.cert_file, tls.ca_file, RefreshSeconds(tls));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (tls.ca_file.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(tls.require_client_cert
                                      ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                      : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

void ChannelSecurity::Apply(grpc::ChannelArguments* args) const {
  if (!server_name_override.empty()) args->SetSslTargetNameOverride(server_name_override);
}

absl::StatusOr<ChannelSecurity> ChannelSecurityFor(const TlsOptions& tls) {
  if (!tls.enabled()) return ChannelSecurity{.credentials = grpc::InsecureChannelCredentials()};
  if (absl::Status checked = CheckTlsFiles(tls, TlsSide::kClient); !checked.ok()) return checked;
  auto provider = std::make_shared<FileWatcherCertificateProvider>(
      tls.key_file, tls.cert_file, tls.ca_file, RefreshSeconds(tls));
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_root_certs();
  if (!tls.cert_file.empty()) options.watch_identity_key_cert_pairs();
  // The server's certificate must chain to ca_file and name the target's
  // host (or server_name_override).
  options.set_verify_server_certs(true);
  options.set_certificate_verifier(
      std::make_shared<grpc::experimental::HostNameCertificateVerifier>());
  return ChannelSecurity{.credentials = grpc::experimental::TlsCredentials(options),
                         .server_name_override = tls.server_name_override,
                         .tls = true};
}

}  // namespace fanout
