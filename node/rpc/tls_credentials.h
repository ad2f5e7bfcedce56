// gRPC credentials from TlsOptions: the gRPC door's server credentials and
// the channel credentials a client (a backend channel, the OTLP exporter)
// dials with. Both use gRPC's own TLS stack with a file-watching
// certificate provider, so a rotated certificate (or CA bundle) is picked up
// within reload_interval (whole seconds, at least 1) with no restart: new
// handshakes use the new files; established connections are untouched.
//
//   FANOUT_ASSIGN_OR_RETURN(auto creds, ServerCredentialsFor(tls));   // insecure if !tls.enabled()
//   builder.AddListeningPort(address, creds, &port);
//
//   FANOUT_ASSIGN_OR_RETURN(ChannelSecurity security, ChannelSecurityFor(tls));
//   grpc::ChannelArguments args;
//   security.Apply(&args);                     // server_name_override
//   auto channel = grpc::CreateCustomChannel(target, security.credentials, args);
//
// gRPC 1.51 marks TlsServerCredentials / TlsCredentials and
// FileWatcherCertificateProvider experimental (grpc::experimental); they are
// the only credentials of 1.51 that reload from files (SslServerCredentials
// and SslCredentials read PEM once).
//
// Thread-safe.
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "node/base/tls_files.h"

namespace fanout {

// TLS (mTLS with ca_file and require_client_cert) when tls.enabled(), else
// insecure. INVALID_ARGUMENT naming the field and file (CheckTlsFiles).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const TlsOptions& tls);

struct ChannelSecurity {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  std::string server_name_override;  // "" : the target's host
  bool tls = false;                  // false: plaintext

  // Sets the name the server's certificate is checked against.
  void Apply(grpc::ChannelArguments* args) const;
};

// TLS to a server whose certificate chains to tls.ca_file (a client needs
// one: the system's bundle is /etc/ssl/certs/ca-certificates.crt), presenting
// cert_file/key_file when set (mTLS); insecure when !tls.enabled().
absl::StatusOr<ChannelSecurity> ChannelSecurityFor(const TlsOptions& tls);

}  // namespace fanout
