// The config file's `Tls` message (fanout.config.v1.Tls, the same for every
// door and client) turned into TlsOptions, and checked with errors that name
// the config key:
//
//   FANOUT_RETURN_IF_ERROR(CheckTlsConfig("gateway.rest_tls", config.rest_tls(),
//   TlsSide::kServer));
//   // → "gateway.rest_tls: key_file \"/tls/tls.key\": does not match the certificate in ..."
//   http.tls = TlsOptionsFromConfig(config.rest_tls());
//
// Thread-safe.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "fanout/config/v1/tls_config.pb.h"
#include "node/base/tls_files.h"

namespace fanout {

// reload_interval_ms 0 becomes the default (10 s).
TlsOptions TlsOptionsFromConfig(const config::v1::Tls& tls);

// OK for an unset message (plaintext). Otherwise CheckTlsFiles, each error
// prefixed with `key`; fields set without cert_file or ca_file (which would
// silently mean plaintext) and a negative reload_interval_ms are errors too.
absl::Status CheckTlsConfig(absl::string_view key, const config::v1::Tls& tls, TlsSide side);

}  // namespace fanout
