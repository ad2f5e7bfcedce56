// TlsOptions: TLS for one door (server) or one client, as files on disk, and
// the checks every user of them shares: the files exist, parse as PEM, and
// the key matches the certificate. The HTTP door (OpenSSL through Asio) and
// gRPC (its own TLS credentials) each build their contexts from these.
//
//   TlsOptions tls{.cert_file = "/tls/tls.crt", .key_file = "/tls/tls.key",
//                  .ca_file = "/tls/ca.crt", .require_client_cert = true};
//   FANOUT_RETURN_IF_ERROR(CheckTlsFiles(tls, TlsSide::kServer));
//   // errors name the field and the file: "key_file \"/tls/tls.key\": does not
//   // match cert_file \"/tls/tls.crt\""
//
//   FileWatch watch(TlsFiles(tls));   // later, every reload_interval:
//   if (watch.Changed()) ...rebuild the context for new connections...
//
// Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fanout {

struct TlsOptions {
  std::string cert_file;  // PEM chain: the door's certificate, or a client's (mTLS)
  std::string key_file;   // PEM private key of cert_file
  // Door: the CAs of client certificates (asked for when set). Client
  // (required): the CAs of the server's certificate.
  std::string ca_file;
  bool require_client_cert = false;  // door only: mTLS, no certificate no connection
  std::string server_name_override;  // client only: the name the server's certificate carries
  absl::Duration reload_interval = absl::Seconds(10);  // how often the files are checked

  // Any TLS at all: a door needs a certificate, a client at least a CA.
  bool enabled() const { return !cert_file.empty() || !ca_file.empty(); }
};

enum class TlsSide { kServer, kClient };

// INVALID_ARGUMENT naming the field (and the file) that is missing, unreadable,
// not PEM, or inconsistent: a door without cert_file/key_file, a key that does
// not match its certificate, require_client_cert without ca_file, a door
// given server_name_override, a client with a certificate but no key or
// without ca_file.
absl::Status CheckTlsFiles(const TlsOptions& tls, TlsSide side);

// The first DNS subjectAltName of the PEM certificate in `cert_file`, else
// its subject's common name: the name a client can check it by.
absl::StatusOr<std::string> CertificateName(const std::string& cert_file);

// The files `tls` names (cert, key, CA; those set), for a FileWatch.
std::vector<std::string> TlsFiles(const TlsOptions& tls);

}  // namespace fanout
