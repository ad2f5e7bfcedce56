#include "node/config/tls_config.h"

#include "absl/strings/str_cat.h"

namespace fanout {

TlsOptions TlsOptionsFromConfig(const config::v1::Tls& tls) {
  TlsOptions options{.cert_file = tls.cert_file(),
                     .key_file = tls.key_file(),
                     .ca_file = tls.ca_file(),
                     .require_client_cert = tls.require_client_cert(),
                     .server_name_override = tls.server_name_override()};
  if (tls.reload_interval_ms() > 0) {
    options.reload_interval = absl::Milliseconds(tls.reload_interval_ms());
  }
  return options;
}

absl::Status CheckTlsConfig(absl::string_view key, const config::v1::Tls& tls, TlsSide side) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": ", why));
  };
  if (tls.reload_interval_ms() < 0) {
    return bad(
        absl::StrCat("reload_interval_ms must be >= 0 (0: 10000), got ", tls.reload_interval_ms()));
  }
  TlsOptions options = TlsOptionsFromConfig(tls);
  if (!options.enabled()) {
    if (!tls.key_file().empty() || tls.require_client_cert() ||
        !tls.server_name_override().empty()) {
      return bad(side == TlsSide::kServer
                     ? "TLS settings without cert_file: set cert_file and key_file to turn TLS on"
                     : "TLS settings without ca_file: set ca_file to turn TLS on");
    }
    return absl::OkStatus();
  }
  if (absl::Status checked = CheckTlsFiles(options, side); !checked.ok()) {
    return bad(checked.message());
  }
  return absl::OkStatus();
}

}  // namespace fanout
