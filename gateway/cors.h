// CorsPolicy: which browser origins may call the gateway's REST door, and
// the answers that say so (the Fetch standard's CORS protocol).
//
//   FANOUT_ASSIGN_OR_RETURN(std::optional<CorsPolicy> cors,
//                           CorsPolicy::FromConfig(config.cors(), "gateway.cors"));
//   // A preflight: OPTIONS with Origin and Access-Control-Request-Method.
//   absl::StatusOr<CorsPolicy::Headers> ok = cors->Preflight(origin, method, asked, {"GET"});
//   // Any other request from an Origin: headers for its answer (none when
//   // the origin is not allowed: the browser then withholds the answer).
//   exchange->AddResponseHeaders(cors->ForResponse(origin));
//
// CORS is the browser's protection, not the gateway's: a request from an
// origin that is not allowed is still served (a script just cannot read
// the answer); authentication and rate limits are what refuse callers.
//
// Thread-safe once built (read-only).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fanout/config/v1/gateway_config.pb.h"

namespace fanout::gateway {

class CorsPolicy {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // nullopt when `config` allows no origin (CORS off); INVALID_ARGUMENT
  // naming `where` and the value for a malformed one.
  static absl::StatusOr<std::optional<CorsPolicy>> FromConfig(const config::v1::Cors& config,
                                                              absl::string_view where);

  // The 204's headers when `origin` may send `method` with the
  // comma-separated `request_headers`; PERMISSION_DENIED saying which is
  // not allowed. `route_methods`: the methods the path has, used when the
  // policy lists none.
  absl::StatusOr<Headers> Preflight(std::string_view origin, std::string_view method,
                                    std::string_view request_headers,
                                    const std::vector<std::string>& route_methods) const;
  // Headers for the answer to a request from `origin`; empty when it is
  // not allowed.
  Headers ForResponse(std::string_view origin) const;

 private:
  bool Allows(std::string_view origin) const;
  // Access-Control-Allow-Origin (and Vary) for an allowed origin.
  void AddOrigin(std::string_view origin, Headers* out) const;

  bool any_origin_ = false;
  std::set<std::string, std::less<>> origins_;
  std::vector<std::string> methods_;
  std::set<std::string, std::less<>> headers_;  // Lower case.
  std::string exposed_;
  int max_age_s_ = 600;
  bool credentials_ = false;
};

}  // namespace fanout::gateway
