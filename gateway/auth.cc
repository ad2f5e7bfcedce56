#include "gateway/auth.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gateway/json_parse.h"
#include "node/base/log.h"
#include "node/base/status_macros.h"

namespace fanout::gateway {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using Mode = config::v1::RouteAuth::Mode;

// Where Check puts the WWW-Authenticate value on the statuses it returns.
constexpr char kChallengeUrl[] = "type.fanout.dev/www-authenticate";
// A token is a bearer credential in a header: bounded like one.
constexpr size_t kMaxTokenBytes = 8 * 1024;
const JsonLimits kTokenJsonLimits{.max_depth = 8, .max_elements = 1000, .max_string_bytes = 4096};

absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

const Value* Field(const Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? nullptr : &it->second;
}

std::string StringField(const Struct& s, const std::string& name) {
  const Value* v = Field(s, name);
  return v && v->kind_case() == Value::kStringValue ? v->string_value() : "";
}

// A claim holds `want`: the string itself, or an array containing it.
bool ClaimHas(const Value* claim, absl::string_view want) {
  if (claim == nullptr) return false;
  if (claim->kind_case() == Value::kStringValue) return claim->string_value() == want;
  if (claim->kind_case() != Value::kListValue) return false;
  return absl::c_any_of(claim->list_value().values(), [&](const Value& v) {
    return v.kind_case() == Value::kStringValue && v.string_value() == want;
  });
}

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), size));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read \"", path, "\": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Quotes and backslashes cannot appear in an auth-param's quoted string
// without escaping; the description is for people, so they become '.
std::string Quotable(absl::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '\'';
  }
  return out;
}

}  // namespace

RouteAuthPolicy RouteAuthFromConfig(const config::v1::RouteAuth& config, std::string route) {
  RouteAuthPolicy policy{.mode = config.mode(), .route = std::move(route)};
  policy.scopes.assign(config.scopes().begin(), config.scopes().end());
  for (const auto& [name, value] : config.claims()) policy.claims.emplace_back(name, value);
  absl::c_sort(policy.claims);  // Messages name the first missing claim the same way each time.
  return policy;
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(const config::v1::Auth& config,
                                                                     Clock* clock) {
  std::unique_ptr<Authenticator> auth(new Authenticator(clock));
  if (config.default_mode() != config::v1::RouteAuth::MODE_UNSPECIFIED) {
    auth->default_mode_ = config.default_mode();
  }
  if (config.has_jwt()) {
    const config::v1::JwtAuth& jwt = config.jwt();
    auto bad = [](absl::string_view key, absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("gateway.auth.jwt.", key, ": ", why));
    };
    if (jwt.issuer().empty()) return bad("issuer", "required (the iss every token must carry)");
    if (jwt.audiences().empty()) return bad("audiences", "required (at least one)");
    if (jwt.jwks_file().empty()) return bad("jwks_file", "required");
    if (jwt.leeway_s() < 0 || jwt.leeway_s() > 300) {
      return bad("leeway_s", absl::StrCat("must be 0 (30 s) to 300, got ", jwt.leeway_s()));
    }
    if (jwt.refresh_interval_s() < 0) {
      return bad("refresh_interval_s",
                 absl::StrCat("must be >= 0, got ", jwt.refresh_interval_s()));
    }
    auth->jwt_ =
        Jwt{.config = jwt, .leeway = absl::Seconds(jwt.leeway_s() > 0 ? jwt.leeway_s() : 30)};
    if (jwt.refresh_interval_s() > 0)
      auth->refresh_interval_ = absl::Seconds(jwt.refresh_interval_s());
    MutexLock lock(&auth->mu_);
    auth->jwks_watch_.emplace(std::vector<std::string>{jwt.jwks_file()});
    absl::Status loaded = auth->LoadJwks();
    if (!loaded.ok()) return bad("jwks_file", loaded.message());
  }
  if (!config.api_keys().header().empty()) {
    auth->api_key_header_ = absl::AsciiStrToLower(config.api_keys().header());
  }
  if (!config.api_keys().file().empty()) {
    auth->api_keys_file_ = config.api_keys().file();
    MutexLock lock(&auth->mu_);
    auth->api_keys_watch_.emplace(std::vector<std::string>{auth->api_keys_file_});
    absl::Status loaded = auth->LoadApiKeys();
    if (!loaded.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("gateway.auth.api_keys.file: ", loaded.message()));
    }
  }
  MutexLock lock(&auth->mu_);
  auth->next_check_ = clock->Now() + auth->refresh_interval_;
  return auth;
}

Mode Authenticator::ModeOf(const RouteAuthPolicy& policy) const {
  return policy.mode == config::v1::RouteAuth::MODE_UNSPECIFIED ? default_mode_ : policy.mode;
}

absl::Status Authenticator::CheckPolicy(const RouteAuthPolicy& policy) const {
  Mode mode = ModeOf(policy);
  std::string where = policy.route.empty() ? "gateway.auth.default_mode"
                                           : absl::StrCat("route \"", policy.route, "\": auth");
  if (mode != config::v1::RouteAuth::NONE && !configured()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": mode ", config::v1::RouteAuth::Mode_Name(mode),
        " needs credentials to check: configure gateway.auth.jwt or gateway.auth.api_keys"));
  }
  if ((!policy.scopes.empty() || !policy.claims.empty()) &&
      mode != config::v1::RouteAuth::REQUIRED) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": scopes and claims need mode REQUIRED (an anonymous caller has none)"));
  }
  for (const std::string& scope : policy.scopes) {
    if (scope.empty() || absl::StrContains(scope, ' ')) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".scopes: \"", scope, "\" is not a scope (non-empty, no spaces)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Identity>> Authenticator::Check(const RouteAuthPolicy& policy,
                                                             absl::string_view authorization,
                                                             absl::string_view api_key) {
  Mode mode = ModeOf(policy);
  if (mode == config::v1::RouteAuth::NONE) return std::nullopt;
  absl::StatusOr<std::optional<Identity>> who = Authenticate(authorization, api_key);
  if (!who.ok() || mode == config::v1::RouteAuth::OPTIONAL) return who;
  std::string what =
      policy.route.empty() ? "this call" : absl::StrCat("route \"", policy.route, "\"");
  if (!*who) {
    absl::Status missing = absl::UnauthenticatedError(
        absl::StrCat(what, " needs credentials: ", jwt_ ? "Authorization: Bearer <JWT>" : "",
                     jwt_ && !api_keys_file_.empty() ? " or " : "",
                     api_keys_file_.empty() ? "" : absl::StrCat(api_key_header_, ": <API key>")));
    missing.SetPayload(kChallengeUrl, absl::Cord(MakeChallenge("", "")));
    return missing;
  }
  const Identity& identity = **who;
  for (const std::string& scope : policy.scopes) {
    if (absl::c_linear_search(identity.scopes, scope)) continue;
    absl::Status denied = absl::PermissionDeniedError(absl::StrCat(
        what, " needs scope \"", scope, "\"; ", identity.subject,
        " has: ", identity.scopes.empty() ? "none" : absl::StrJoin(identity.scopes, " ")));
    denied.SetPayload(kChallengeUrl, absl::Cord(absl::StrCat(
                                         MakeChallenge("insufficient_scope", denied.message()),
                                         ", scope=\"", absl::StrJoin(policy.scopes, " "), "\"")));
    return denied;
  }
  for (const auto& [name, want] : policy.claims) {
    if (ClaimHas(Field(identity.claims, name), want)) continue;
    absl::Status denied = absl::PermissionDeniedError(absl::StrCat(
        what, " needs claim \"", name, "\" = \"", want, "\"; ", identity.subject,
        identity.via == "jwt" ? "'s token does not carry it" : " is an API key (no claims)"));
    denied.SetPayload(kChallengeUrl,
                      absl::Cord(MakeChallenge("insufficient_scope", denied.message())));
    return denied;
  }
  return who;
}

absl::StatusOr<std::optional<Identity>> Authenticator::Authenticate(absl::string_view authorization,
                                                                    absl::string_view api_key) {
  if (!authorization.empty() && jwt_) {
    absl::string_view token = absl::StripAsciiWhitespace(authorization);
    if (token.size() < 7 || !absl::EqualsIgnoreCase(token.substr(0, 7), "bearer ")) {
      return Unauthenticated("Authorization: expected the Bearer scheme (\"Bearer <JWT>\")");
    }
    token = absl::StripLeadingAsciiWhitespace(token.substr(7));
    absl::StatusOr<Identity> identity = VerifyJwt(token);
    if (!identity.ok()) return identity.status();
    return *std::move(identity);
  }
  if (!api_key.empty() && !api_keys_file_.empty()) {
    absl::StatusOr<Identity> identity = VerifyApiKey(api_key);
    if (!identity.ok()) return identity.status();
    return *std::move(identity);
  }
  return std::nullopt;
}

absl::StatusOr<Identity> Authenticator::VerifyApiKey(absl::string_view key) {
  // Looked up by hash: what varies with the secret's bytes is a hash's, so
  // timing tells a guesser nothing about the stored keys.
  std::shared_ptr<const ApiKeyMap> keys = Current().api_keys;
  auto it = keys->find(Sha256Hex(absl::StripAsciiWhitespace(key)));
  if (it == keys->end()) return Unauthenticated(absl::StrCat(api_key_header_, ": unknown API key"));
  return Identity{.subject = it->second.name, .scopes = it->second.scopes, .via = "api-key"};
}

absl::StatusOr<Identity> Authenticator::VerifyJwt(absl::string_view token) {
  if (token.size() > kMaxTokenBytes) {
    return Unauthenticated(
        absl::StrCat("JWT: ", token.size(), " bytes, more than ", kMaxTokenBytes));
  }
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  std::string header_json;
  if (parts.size() != 3 || !absl::WebSafeBase64Unescape(parts[0], &header_json)) {
    return Unauthenticated("JWT: malformed (expected base64url header.payload.signature)");
  }
  absl::StatusOr<Value> header = ParseJson(header_json, kTokenJsonLimits);
  if (!header.ok() || header->kind_case() != Value::kStructValue) {
    return Unauthenticated("JWT: the header is not a JSON object");
  }
  std::string alg = StringField(header->struct_value(), "alg");
  std::string kid = StringField(header->struct_value(), "kid");
  // The algorithm is the key's; the header's is only checked against it.
  if (alg != "RS256" && alg != "ES256") {
    return Unauthenticated(
        absl::StrCat("JWT: alg \"", alg, "\" is refused (RS256 and ES256 only)"));
  }
  std::shared_ptr<const JwksKeys> keys = Current().jwks;
  auto key = keys->find(kid);
  if (key == keys->end()) {
    return Unauthenticated(absl::StrCat("JWT: no key with kid \"", kid, "\" in the key set"));
  }
  if (key->second.alg != alg) {
    return Unauthenticated(
        absl::StrCat("JWT: alg ", alg, " but key \"", kid, "\" is an ", key->second.alg, " key"));
  }
  // What the signature covers is the first two parts exactly as sent.
  absl::string_view signing_input = token.substr(0, parts[0].size() + 1 + parts[1].size());
  if (!VerifyJws(key->second, signing_input, parts[2])) {
    return Unauthenticated(
        absl::StrCat("JWT: the signature does not verify with key \"", kid, "\""));
  }
  std::string payload_json;
  absl::StatusOr<Value> payload = absl::WebSafeBase64Unescape(parts[1], &payload_json)
                                      ? ParseJson(payload_json, kTokenJsonLimits)
                                      : absl::InvalidArgumentError("not base64url");
  if (!payload.ok() || payload->kind_case() != Value::kStructValue) {
    return Unauthenticated("JWT: the payload is not a JSON object");
  }
  Identity identity{.via = "jwt", .claims = payload->struct_value()};
  FANOUT_RETURN_IF_ERROR(CheckClaims(identity.claims));
  identity.subject = StringField(identity.claims, "sub");
  if (identity.subject.empty()) return Unauthenticated("JWT: no \"sub\" (subject)");
  for (absl::string_view scope :
       absl::StrSplit(StringField(identity.claims, "scope"), ' ', absl::SkipEmpty())) {
    identity.scopes.emplace_back(scope);
  }
  if (const Value* scp = Field(identity.claims, "scp");
      scp && scp->kind_case() == Value::kListValue) {
    for (const Value& v : scp->list_value().values()) {
      if (v.kind_case() == Value::kStringValue) identity.scopes.push_back(v.string_value());
    }
  }
  return identity;
}

absl::Status Authenticator::CheckClaims(const Struct& claims) const {
  const config::v1::JwtAuth& config = jwt_->config;
  std::string iss = StringField(claims, "iss");
  if (iss != config.issuer()) {
    return Unauthenticated(
        absl::StrCat("JWT: issuer \"", iss, "\" is not \"", config.issuer(), "\""));
  }
  const Value* aud = Field(claims, "aud");
  if (!absl::c_any_of(config.audiences(), [&](const std::string& a) { return ClaimHas(aud, a); })) {
    return Unauthenticated(
        absl::StrCat("JWT: audience is not one of: ", absl::StrJoin(config.audiences(), ", ")));
  }
  absl::Time now = clock_->Now();
  auto time_claim = [&](const std::string& name) -> std::optional<absl::Time> {
    const Value* v = Field(claims, name);
    if (v == nullptr || v->kind_case() != Value::kNumberValue ||
        !std::isfinite(v->number_value())) {
      return std::nullopt;
    }
    return absl::FromUnixSeconds(static_cast<int64_t>(v->number_value()));
  };
  std::optional<absl::Time> exp = time_claim("exp");
  if (!exp) return Unauthenticated("JWT: no \"exp\" (expiry, NumericDate)");
  if (now > *exp + jwt_->leeway) {
    return Unauthenticated(absl::StrCat("JWT: expired ", absl::FormatDuration(now - *exp), " ago"));
  }
  if (std::optional<absl::Time> nbf = time_claim("nbf"); nbf && now + jwt_->leeway < *nbf) {
    return Unauthenticated(
        absl::StrCat("JWT: not valid for another ", absl::FormatDuration(*nbf - now), " (nbf)"));
  }
  return absl::OkStatus();
}

Authenticator::Credentials Authenticator::Current() {
  MutexLock lock(&mu_);
  absl::Time now = clock_->Now();
  if (now < next_check_) return current_;
  next_check_ = now + refresh_interval_;
  if (jwks_watch_ && jwks_watch_->Changed()) {
    if (absl::Status loaded = LoadJwks(); !loaded.ok()) {
      FANOUT_LOG(WARNING) << "gateway.auth.jwt.jwks_file: " << loaded
                          << "; keeping the keys read before";
    } else {
      FANOUT_LOG(INFO) << "gateway: " << current_.jwks->size() << " JWT keys re-read from "
                       << jwt_->config.jwks_file();
    }
  }
  if (api_keys_watch_ && api_keys_watch_->Changed()) {
    if (absl::Status loaded = LoadApiKeys(); !loaded.ok()) {
      FANOUT_LOG(WARNING) << "gateway.auth.api_keys.file: " << loaded
                          << "; keeping the keys read before";
    } else {
      FANOUT_LOG(INFO) << "gateway: " << current_.api_keys->size() << " API keys re-read from "
                       << api_keys_file_;
    }
  }
  return current_;
}

absl::Status Authenticator::LoadJwks() {
  const std::string& path = jwt_->config.jwks_file();
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<JwksKeys> keys = ParseJwks(*text);
  if (!keys.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", path, "\": ", keys.status().message()));
  }
  current_.jwks = std::make_shared<const JwksKeys>(*std::move(keys));
  return absl::OkStatus();
}

absl::Status Authenticator::LoadApiKeys() {
  const std::string& path = api_keys_file_;
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto keys = std::make_shared<ApiKeyMap>();
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    std::string hash = words.size() >= 2 ? absl::AsciiStrToLower(words[1]) : "";
    if (hash.size() != 64 || !absl::c_all_of(hash, absl::ascii_isxdigit)) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", path, "\" line ", line_number,
                       ": expected `name sha256-hex scope...` (64 hex digits: the key's SHA-256)"));
    }
    ApiKey key{.name = words[0], .scopes = {words.begin() + 2, words.end()}};
    if (!keys->emplace(hash, std::move(key)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", path, "\" line ", line_number, ": the same key hash appears twice"));
    }
  }
  current_.api_keys = std::move(keys);
  return absl::OkStatus();
}

std::string Authenticator::MakeChallenge(absl::string_view error, absl::string_view detail) const {
  // RFC 6750 §3: no error code when the request carried no credentials.
  std::string out = jwt_ ? "Bearer realm=\"fanout\"" : "ApiKey realm=\"fanout\"";
  if (!jwt_) absl::StrAppend(&out, ", header=\"", api_key_header_, "\"");
  if (!error.empty()) {
    absl::StrAppend(&out, ", error=\"", error, "\", error_description=\"", Quotable(detail), "\"");
  }
  return out;
}

absl::Status Authenticator::Unauthenticated(absl::string_view why) const {
  absl::Status status = absl::UnauthenticatedError(why);
  status.SetPayload(kChallengeUrl, absl::Cord(MakeChallenge("invalid_token", why)));
  return status;
}

std::string Challenge(const absl::Status& status) {
  absl::optional<absl::Cord> challenge = status.GetPayload(kChallengeUrl);
  return challenge ? std::string(*challenge) : "";
}

std::vector<std::pair<std::string, std::string>> IdentityMetadata(const Identity& identity) {
  return {{"x-fanout-subject", identity.subject},
          {"x-fanout-scopes", absl::StrJoin(identity.scopes, " ")},
          {"x-fanout-auth", identity.via}};
}

bool IsGatewayOwnedKey(absl::string_view key) { return absl::StartsWith(key, "x-fanout-"); }

}  // namespace fanout::gateway
