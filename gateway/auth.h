// Authenticator: who is calling, from the credentials a request carries —
// a JWT bearer token (Authorization: Bearer <jwt>) or an API key (x-api-key)
// — and whether a route lets them in. Both doors ask it before admission; a
// request it refuses never reaches a backend.
//
//   FANOUT_ASSIGN_OR_RETURN(auto auth, Authenticator::Create(config.auth(), clock));
//   absl::StatusOr<std::optional<Identity>> who =
//       auth->Check(route.auth, request.Header("authorization"), request.Header("x-api-key"));
//   if (!who.ok())  -> 401 / UNAUTHENTICATED or 403 / PERMISSION_DENIED,
//                      with WWW-Authenticate: Challenge(who.status())
//   else if (*who)  -> backends get IdentityMetadata(**who): x-fanout-subject, x-fanout-scopes
//
// JWTs: RS256 and ES256 only. The key is the JWKS key named by the token's
// `kid`, and the algorithm is that key's: a token whose header names any
// other (`none`, HS256 signed with the public key as its secret, RS256
// against an EC key) is refused before a signature is looked at. `iss`,
// `aud` and `exp` are required; `exp` and `nbf` are checked with
// `leeway_s` of skew, on the gateway's clock. Scopes come from `scope`
// (space-separated, RFC 8693) or `scp` (an array).
//
// The JWKS file and the API keys file are re-read when they change
// (node/base/file_watch.h: a Secret updated in place), looked at no more
// often than every jwt.refresh_interval_s, 10 s by default (by whichever
// request comes first after that; they are small local files). A changed
// file that does not parse leaves what was read before in force, and says
// so in the log. The API keys file holds SHA-256 hashes only.
//
// Thread-safe: the REST I/O threads and the loops share one.
#pragma once

#include <google/protobuf/struct.pb.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fanout/config/v1/gateway_config.pb.h"
#include "gateway/jwks.h"
#include "node/base/clock.h"
#include "node/base/file_watch.h"
#include "node/base/sync.h"

namespace fanout::gateway {

// A caller the gateway has verified.
struct Identity {
  std::string subject;  // The token's `sub`, or the API key's name.
  std::vector<std::string> scopes;
  std::string via;                  // "jwt" or "api-key".
  google::protobuf::Struct claims;  // The token's payload; empty for API keys.
};

// What a route demands (Route.auth, compiled).
struct RouteAuthPolicy {
  config::v1::RouteAuth::Mode mode = config::v1::RouteAuth::MODE_UNSPECIFIED;
  std::vector<std::string> scopes;
  std::vector<std::pair<std::string, std::string>> claims;
  std::string route;  // For messages; "" for the proxy and direct calls.
};
RouteAuthPolicy RouteAuthFromConfig(const config::v1::RouteAuth& config, std::string route);

class Authenticator {
 public:
  // Reads the JWKS and API key files: INVALID_ARGUMENT naming the key under
  // gateway.auth (and the file) when something is wrong.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(const config::v1::Auth& config,
                                                               Clock* clock);

  // The route's mode with the default applied.
  config::v1::RouteAuth::Mode ModeOf(const RouteAuthPolicy& policy) const;
  // INVALID_ARGUMENT naming the route when its policy cannot be met by this
  // configuration (a mode that needs credentials none are configured for;
  // scopes or claims without REQUIRED).
  absl::Status CheckPolicy(const RouteAuthPolicy& policy) const;

  // The caller, by `policy`: nullopt for an anonymous caller the route lets
  // in (and for every caller of a NONE route: credentials are not read);
  // UNAUTHENTICATED for missing or bad credentials, PERMISSION_DENIED for
  // an identity without the scopes or claims. `authorization` and `api_key`
  // are the header values ("" when absent).
  absl::StatusOr<std::optional<Identity>> Check(const RouteAuthPolicy& policy,
                                                absl::string_view authorization,
                                                absl::string_view api_key);

  // Who the credentials name, whatever the route: nullopt when none came.
  absl::StatusOr<std::optional<Identity>> Authenticate(absl::string_view authorization,
                                                       absl::string_view api_key);

  // Whether any credentials are configured (then callers cannot set
  // identity headers of their own, x-user-id included).
  bool configured() const { return jwt_ || !api_keys_file_.empty(); }
  // Lower case; "x-api-key" unless configured.
  const std::string& api_key_header() const { return api_key_header_; }

 private:
  struct Jwt {
    config::v1::JwtAuth config;
    absl::Duration leeway;
  };
  struct ApiKey {
    std::string name;
    std::vector<std::string> scopes;
  };
  using ApiKeyMap = absl::flat_hash_map<std::string, ApiKey>;  // By lower-case SHA-256 hex.
  // What the files held when last read.
  struct Credentials {
    std::shared_ptr<const JwksKeys> jwks;
    std::shared_ptr<const ApiKeyMap> api_keys;
  };

  explicit Authenticator(Clock* clock) : clock_(clock) {}
  absl::StatusOr<Identity> VerifyJwt(absl::string_view token);
  absl::StatusOr<Identity> VerifyApiKey(absl::string_view key);
  absl::Status CheckClaims(const google::protobuf::Struct& claims) const;
  // The credentials, the files re-read first when they changed and the
  // refresh interval passed.
  Credentials Current();
  absl::Status LoadJwks() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status LoadApiKeys() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string MakeChallenge(absl::string_view error, absl::string_view detail) const;
  absl::Status Unauthenticated(absl::string_view why) const;

  Clock* const clock_;
  config::v1::RouteAuth::Mode default_mode_ = config::v1::RouteAuth::NONE;
  std::optional<Jwt> jwt_;
  std::string api_keys_file_;  // "": no API keys.
  std::string api_key_header_ = "x-api-key";
  absl::Duration refresh_interval_ = absl::Seconds(10);

  Mutex mu_;
  Credentials current_ ABSL_GUARDED_BY(mu_);
  std::optional<FileWatch> jwks_watch_ ABSL_GUARDED_BY(mu_);
  std::optional<FileWatch> api_keys_watch_ ABSL_GUARDED_BY(mu_);
  absl::Time next_check_ ABSL_GUARDED_BY(mu_);
};

// The WWW-Authenticate value of a 401 or 403 from Check ("" for others).
std::string Challenge(const absl::Status& status);

// What backends are told of the caller: x-fanout-subject, x-fanout-scopes
// (space-separated) and x-fanout-auth (jwt or api-key).
std::vector<std::pair<std::string, std::string>> IdentityMetadata(const Identity& identity);

// Keys only the gateway sets (x-fanout-*): never forwarded from a caller.
bool IsGatewayOwnedKey(absl::string_view key);

}  // namespace fanout::gateway
