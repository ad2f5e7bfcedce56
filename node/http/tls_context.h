// TlsContext: the OpenSSL context a door hands each new connection, or a
// client each connection it makes, rebuilt when its certificate files
// change, so a rotated certificate (Kubernetes updates a Secret's files in
// place) is used without a restart. Connections already open keep the
// context they were made with; only new ones get the new certificate.
//
//   FANOUT_ASSIGN_OR_RETURN(auto tls, TlsContext::Create(options.tls, TlsSide::kServer));
//   ... on accept:  TlsStream stream(std::move(socket), *tls->Current());
//   ... every options.tls.reload_interval, on one thread:  tls->ReloadIfChanged();
//
// TLS 1.2 and 1.3 only. A door: with ca_file, client certificates are
// asked for and checked against it; with require_client_cert, a client
// without one is refused during the handshake (mTLS). A client: the
// server's certificate is checked against ca_file (its name by the
// connection, e.g. boost::asio::ssl::host_name_verification), and
// cert_file is its own (mTLS). With `alpn` ("h2"), a door accepts only
// clients that offer that protocol, and a client offers it.
//
// Thread-safe: Current from any thread; ReloadIfChanged from one thread.
#pragma once

#include <utility>
// ^ before Boost: Asio 1.74 needs std::exchange from it under g++ 12.
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "node/base/file_watch.h"
#include "node/base/sync.h"
#include "node/base/tls_files.h"

namespace fanout {

class TlsContext {
 public:
  // INVALID_ARGUMENT naming the field and file that is wrong (CheckTlsFiles).
  static absl::StatusOr<std::unique_ptr<TlsContext>> Create(TlsOptions options, TlsSide side,
                                                            std::string alpn = "");

  const TlsOptions& options() const { return options_; }
  // The context for a connection made now.
  std::shared_ptr<boost::asio::ssl::context> Current() const;
  // When a file changed since the last look, builds a new context for new
  // connections and returns true. A new set that does not load (a key that
  // no longer matches, a half-written file) is logged and the old context
  // stays, so a bad rotation never takes the door down; it is tried again
  // at the next change.
  bool ReloadIfChanged();

 private:
  TlsContext(TlsOptions options, TlsSide side, std::string alpn,
             std::shared_ptr<boost::asio::ssl::context> context);

  const TlsOptions options_;
  const TlsSide side_;
  const std::string alpn_;
  FileWatch watch_;
  mutable Mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fanout
