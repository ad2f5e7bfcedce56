#include "node/http/tls_context.h"

#include <openssl/ssl.h>

#include "absl/strings/str_cat.h"
#include "node/base/log.h"

namespace fanout {
namespace {

namespace ssl = boost::asio::ssl;

absl::StatusOr<std::shared_ptr<ssl::context>> Build(const TlsOptions& tls) {
  if (absl::Status checked = CheckTlsFiles(tls, TlsSide::kServer); !checked.ok()) return checked;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
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
  context->use_certificate_chain_file(tls.cert_file, error);
  if (error) return failed("cert_file", tls.cert_file);
  context->use_private_key_file(tls.key_file, ssl::context::pem, error);
  if (error) return failed("key_file", tls.key_file);
  if (!tls.ca_file.empty()) {
    context->load_verify_file(tls.ca_file, error);
    if (error) return failed("ca_file", tls.ca_file);
    // Tell clients which CAs their certificate should come from.
    SSL_CTX_set_client_CA_list(context->native_handle(),
                               SSL_load_client_CA_file(tls.ca_file.c_str()));
    ssl::verify_mode mode = ssl::verify_peer;
    if (tls.require_client_cert) mode |= ssl::verify_fail_if_no_peer_cert;
    context->set_verify_mode(mode, error);
    // Session resumption with client certificates needs a session id context.
    static constexpr unsigned char kSessionContext[] = "fanout-https";
    SSL_CTX_set_session_id_context(context->native_handle(), kSessionContext,
                                   sizeof(kSessionContext) - 1);
  }
  return context;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsServerContext>> TlsServerContext::Create(TlsOptions options) {
  absl::StatusOr<std::shared_ptr<ssl::context>> context = Build(options);
  if (!context.ok()) return context.status();
  return std::unique_ptr<TlsServerContext>(
      new TlsServerContext(std::move(options), *std::move(context)));
}

TlsServerContext::TlsServerContext(TlsOptions options, std::shared_ptr<ssl::context> context)
    : options_(std::move(options)), watch_(TlsFiles(options_)), current_(std::move(context)) {}

std::shared_ptr<ssl::context> TlsServerContext::Current() const {
  MutexLock lock(&mu_);
  return current_;
}

bool TlsServerContext::ReloadIfChanged() {
  if (!watch_.Changed()) return false;
  absl::StatusOr<std::shared_ptr<ssl::context>> context = Build(options_);
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
  FANOUT_LOG(INFO) << "TLS certificate reloaded from " << options_.cert_file
                   << " for new connections";
  return true;
}

}  // namespace fanout
