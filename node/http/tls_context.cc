#include "node/http/tls_context.h"

#include <openssl/ssl.h>

#include "absl/strings/str_cat.h"
#include "node/base/log.h"

namespace fanout {
namespace {

namespace ssl = boost::asio::ssl;

// The server's choice of application protocol: `alpn` (its length-prefixed
// wire form) when the client offers it, else the handshake fails.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* out_length,
               const unsigned char* offered, unsigned int offered_length, void* alpn) {
  const auto* wire = static_cast<const std::string*>(alpn);
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length,
                            reinterpret_cast<const unsigned char*>(wire->data()),
                            static_cast<unsigned int>(wire->size()), offered,
                            offered_length) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

absl::StatusOr<std::shared_ptr<ssl::context>> Build(const TlsOptions& tls, TlsSide side,
                                                    const std::string& alpn_wire) {
  if (absl::Status checked = CheckTlsFiles(tls, side); !checked.ok()) return checked;
  const bool server = side == TlsSide::kServer;
  // The context with the ALPN wire string its callback reads: one lifetime.
  struct Holder {
    Holder(ssl::context::method method, std::string alpn)
        : context(method), alpn(std::move(alpn)) {}
    ssl::context context;
    const std::string alpn;
  };
  auto holder = std::make_shared<Holder>(
      server ? ssl::context::tls_server : ssl::context::tls_client, alpn_wire);
  std::shared_ptr<ssl::context> context(holder, &holder->context);
  boost::system::error_code error;
  auto failed = [&](absl::string_view what, const std::string& file) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", file, "\": OpenSSL: ", error.message()));
  };
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                       error);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  if (!tls.cert_file.empty()) {
    context->use_certificate_chain_file(tls.cert_file, error);
    if (error) return failed("cert_file", tls.cert_file);
    context->use_private_key_file(tls.key_file, ssl::context::pem, error);
    if (error) return failed("key_file", tls.key_file);
  }
  if (!tls.ca_file.empty()) {
    context->load_verify_file(tls.ca_file, error);
    if (error) return failed("ca_file", tls.ca_file);
    ssl::verify_mode mode = ssl::verify_peer;
    if (server) {
      // Tell clients which CAs their certificate should come from.
      SSL_CTX_set_client_CA_list(context->native_handle(),
                                 SSL_load_client_CA_file(tls.ca_file.c_str()));
      if (tls.require_client_cert) mode |= ssl::verify_fail_if_no_peer_cert;
      // Session resumption with client certificates needs a session id context.
      static constexpr unsigned char kSessionContext[] = "fanout-https";
      SSL_CTX_set_session_id_context(context->native_handle(), kSessionContext,
                                     sizeof(kSessionContext) - 1);
    }
    context->set_verify_mode(mode, error);
  }
  if (!alpn_wire.empty()) {
    if (server) {
      SSL_CTX_set_alpn_select_cb(context->native_handle(), SelectAlpn,
                                 const_cast<std::string*>(&holder->alpn));
    } else {
      SSL_CTX_set_alpn_protos(context->native_handle(),
                              reinterpret_cast<const unsigned char*>(alpn_wire.data()),
                              static_cast<unsigned int>(alpn_wire.size()));
    }
  }
  return context;
}

// "h2" as ALPN sends it: each protocol after its length.
std::string AlpnWire(const std::string& alpn) {
  if (alpn.empty()) return "";
  return std::string(1, static_cast<char>(alpn.size())) + alpn;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsContext>> TlsContext::Create(TlsOptions options, TlsSide side,
                                                               std::string alpn) {
  absl::StatusOr<std::shared_ptr<ssl::context>> context = Build(options, side, AlpnWire(alpn));
  if (!context.ok()) return context.status();
  return std::unique_ptr<TlsContext>(
      new TlsContext(std::move(options), side, std::move(alpn), *std::move(context)));
}

TlsContext::TlsContext(TlsOptions options, TlsSide side, std::string alpn,
                       std::shared_ptr<ssl::context> context)
    : options_(std::move(options)),
      side_(side),
      alpn_(std::move(alpn)),
      watch_(TlsFiles(options_)),
      current_(std::move(context)) {}

std::shared_ptr<ssl::context> TlsContext::Current() const {
  MutexLock lock(&mu_);
  return current_;
}

bool TlsContext::ReloadIfChanged() {
  if (!watch_.Changed()) return false;
  absl::StatusOr<std::shared_ptr<ssl::context>> context = Build(options_, side_, AlpnWire(alpn_));
  if (!context.ok()) {
    FANOUT_LOG(WARNING) << "TLS files changed but do not load; still serving the previous "
                           "certificate: "
                        << context.status().message();
    return false;
  }
  {
    MutexLock lock(&mu_);
    current_ = *std::move(context);
  }
  FANOUT_LOG(INFO) << "TLS files reloaded ("
                   << (options_.cert_file.empty() ? options_.ca_file : options_.cert_file)
                   << ") for new connections";
  return true;
}

}  // namespace fanout
