#include "gateway/cors.h"

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace fanout::gateway {
namespace {

// Debian's Abseil has its own string_view, which StrCat takes.
absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr const char* kDefaultHeaders[] = {"content-type", "authorization", "request-timeout",
                                           "x-request-id"};
constexpr const char* kDefaultExposed[] = {"x-fanout-completed", "retry-after", "ratelimit-limit",
                                           "ratelimit-remaining", "ratelimit-reset"};

// "https://app.example.com" or "http://localhost:3000": a scheme, a host,
// maybe a port; no path, no trailing slash.
bool IsOrigin(absl::string_view origin) {
  absl::string_view rest = origin;
  if (!absl::ConsumePrefix(&rest, "https://") && !absl::ConsumePrefix(&rest, "http://")) {
    return false;
  }
  return !rest.empty() && !absl::StrContains(rest, '/') && !absl::StrContains(rest, ' ');
}

bool IsToken(absl::string_view s) {
  return !s.empty() && absl::c_all_of(s, [](char c) {
    return absl::ascii_isalnum(c) || absl::StrContains("!#$%&'*+-.^_`|~", c);
  });
}

}  // namespace

absl::StatusOr<std::optional<CorsPolicy>> CorsPolicy::FromConfig(const config::v1::Cors& config,
                                                                 absl::string_view where) {
  if (config.allowed_origins().empty()) return std::nullopt;
  CorsPolicy policy;
  for (const std::string& origin : config.allowed_origins()) {
    if (origin == "*") {
      policy.any_origin_ = true;
    } else if (IsOrigin(origin)) {
      policy.origins_.insert(origin);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".allowed_origins: \"", origin,
                       "\" is not an origin (scheme://host[:port], no path) or \"*\""));
    }
  }
  if (policy.any_origin_ && config.allow_credentials()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where,
        ": allow_credentials cannot go with allowed_origins \"*\" (browsers refuse it); "
        "list the origins"));
  }
  for (const std::string& method : config.allowed_methods()) {
    if (!IsToken(method)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".allowed_methods: \"", method, "\" is not an HTTP method"));
    }
    policy.methods_.push_back(absl::AsciiStrToUpper(method));
  }
  for (const std::string& header : config.allowed_headers()) {
    if (!IsToken(header)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".allowed_headers: \"", header, "\" is not a header name"));
    }
    policy.headers_.insert(absl::AsciiStrToLower(header));
  }
  if (policy.headers_.empty()) {
    policy.headers_.insert(std::begin(kDefaultHeaders), std::end(kDefaultHeaders));
  }
  for (const std::string& header : config.exposed_headers()) {
    if (!IsToken(header)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".exposed_headers: \"", header, "\" is not a header name"));
    }
  }
  policy.exposed_ = config.exposed_headers().empty()
                        ? absl::StrJoin(kDefaultExposed, ", ")
                        : absl::StrJoin(config.exposed_headers(), ", ");
  if (config.max_age_s() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".max_age_s: must be >= 0, got ", config.max_age_s()));
  }
  if (config.max_age_s() > 0) policy.max_age_s_ = config.max_age_s();
  policy.credentials_ = config.allow_credentials();
  return policy;
}

bool CorsPolicy::Allows(std::string_view origin) const {
  return any_origin_ || origins_.contains(origin);
}

void CorsPolicy::AddOrigin(std::string_view origin, Headers* out) const {
  // A listed origin is echoed (and caches must keep answers per origin).
  out->emplace_back("Access-Control-Allow-Origin",
                    any_origin_ && !credentials_ ? "*" : std::string(origin));
  out->emplace_back("Vary", "Origin");
  if (credentials_) out->emplace_back("Access-Control-Allow-Credentials", "true");
}

absl::StatusOr<CorsPolicy::Headers> CorsPolicy::Preflight(
    std::string_view origin, std::string_view method, std::string_view request_headers,
    const std::vector<std::string>& route_methods) const {
  if (!Allows(origin)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "CORS: origin \"", A(origin), "\" is not allowed (gateway.cors.allowed_origins)"));
  }
  const std::vector<std::string>& methods = methods_.empty() ? route_methods : methods_;
  if (!absl::c_linear_search(methods, method)) {
    return absl::PermissionDeniedError(
        absl::StrCat("CORS: method ", A(method),
                     " is not allowed here; allowed: ", absl::StrJoin(methods, ", ")));
  }
  std::vector<std::string> asked;
  for (absl::string_view header : absl::StrSplit(A(request_headers), ',', absl::SkipWhitespace())) {
    std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(header));
    if (!headers_.contains(name)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "CORS: request header \"", name, "\" is not allowed (gateway.cors.allowed_headers)"));
    }
    asked.push_back(std::move(name));
  }
  Headers out;
  AddOrigin(origin, &out);
  out.emplace_back("Access-Control-Allow-Methods", absl::StrJoin(methods, ", "));
  if (!asked.empty()) out.emplace_back("Access-Control-Allow-Headers", absl::StrJoin(asked, ", "));
  out.emplace_back("Access-Control-Max-Age", absl::StrCat(max_age_s_));
  return out;
}

CorsPolicy::Headers CorsPolicy::ForResponse(std::string_view origin) const {
  Headers out;
  if (origin.empty() || !Allows(origin)) return out;
  AddOrigin(origin, &out);
  out.emplace_back("Access-Control-Expose-Headers", exposed_);
  return out;
}

}  // namespace fanout::gateway
