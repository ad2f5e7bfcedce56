// Authenticator on its own: real keys (OpenSSL), real tokens (libjwt), a
// JWKS file in a temporary directory, and the gateway's clock by hand.
// Every forged, stale or misdirected token is refused with a reason a
// developer can act on; good ones yield the identity backends are told of.
#include "gateway/auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gateway/jwks.h"
#include "node/config/yaml_proto.h"
#include "tests/support/jwt_keys.h"
#include "tests/support/status_matchers.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::SigningKey;
using ::testing::HasSubstr;

constexpr char kIssuer[] = "https://issuer.test";

// Keys are slow to make (RSA): once for the whole file.
const SigningKey& Rsa() {
  static const SigningKey* key = new SigningKey(SigningKey::Rsa("rsa-1"));
  return *key;
}
const SigningKey& Ec() {
  static const SigningKey* key = new SigningKey(SigningKey::P256("ec-1"));
  return *key;
}
const SigningKey& Stranger() {  // Not in the key set.
  static const SigningKey* key = new SigningKey(SigningKey::Rsa("stranger"));
  return *key;
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  AuthenticatorTest() {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("auth_test_", ::getpid(), "_", reinterpret_cast<uintptr_t>(this));
    std::filesystem::create_directories(dir_);
    jwks_ = (dir_ / "jwks.json").string();
    testing::ReplaceFile(jwks_, testing::JwksJson({Rsa().Jwk(), Ec().Jwk()}));
    keys_ = (dir_ / "api_keys").string();
  }
  ~AuthenticatorTest() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Authenticator> Make(std::string extra = "") {
    config::v1::Auth config;
    std::string yaml =
        absl::StrCat("jwt: {issuer: \"", kIssuer,
                     "\", audiences: [fanout, other], "
                     "jwks_file: \"",
                     jwks_, "\", leeway_s: ", leeway_s_, ", refresh_interval_s: 5}\n", extra);
    EXPECT_THAT(YamlTextToMessage(yaml, "test", &config), IsOk());
    auto auth = Authenticator::Create(config, &clock_);
    EXPECT_THAT(auth, IsOk());
    return auth.ok() ? *std::move(auth) : nullptr;
  }

  int64_t Now() const { return absl::ToUnixSeconds(clock_.Now()); }
  // A payload valid now, with `more` (",\"k\":v" pieces) added.
  std::string Payload(const std::string& more = "") const {
    return absl::StrFormat(R"({"iss":"%s","aud":"fanout","sub":"alice","iat":%d,"exp":%d,)"
                           R"("scope":"orders.read orders.write"%s})",
                           kIssuer, Now(), Now() + 300, more);
  }

  int leeway_s_ = 30;
  ManualClock clock_;
  std::filesystem::path dir_;
  std::string jwks_, keys_;
};

TEST_F(AuthenticatorTest, AGoodTokenOfEitherAlgorithmIsTheCaller) {
  auto auth = Make();
  for (const SigningKey* key : {&Rsa(), &Ec()}) {
    auto who = auth->Authenticate(absl::StrCat("Bearer ", key->Sign(Payload())), "");
    ASSERT_THAT(who, IsOk()) << key->kid();
    ASSERT_TRUE(who->has_value());
    EXPECT_EQ((*who)->subject, "alice");
    EXPECT_EQ((*who)->via, "jwt");
    EXPECT_EQ((*who)->scopes, (std::vector<std::string>{"orders.read", "orders.write"}));
  }
}

// The table: each a 401 with the reason.
TEST_F(AuthenticatorTest, BadTokensAreRefusedEachForItsReason) {
  auto auth = Make();
  std::string payload = Payload();
  struct Case {
    const char* name;
    std::string token;
    const char* why;
  };
  std::string good = Rsa().Sign(payload);
  std::vector<Case> cases = {
      {"expired",
       Rsa().Sign(absl::StrFormat(R"({"iss":"%s","aud":"fanout","sub":"a","exp":%d})", kIssuer,
                                  Now() - 31)),
       "JWT: expired 31s ago"},
      {"not yet valid",
       Rsa().Sign(absl::StrFormat(R"({"iss":"%s","aud":"fanout","sub":"a","exp":%d,"nbf":%d})",
                                  kIssuer, Now() + 600, Now() + 60)),
       "JWT: not valid for another 1m"},
      {"wrong issuer",
       Rsa().Sign(absl::StrFormat(
           R"({"iss":"https://evil.test","aud":"fanout","sub":"a","exp":%d})", Now() + 60)),
       "issuer \"https://evil.test\" is not \"https://issuer.test\""},
      {"wrong audience",
       Rsa().Sign(absl::StrFormat(R"({"iss":"%s","aud":["billing"],"sub":"a","exp":%d})", kIssuer,
                                  Now() + 60)),
       "audience is not one of: fanout, other"},
      {"no expiry",
       Rsa().Sign(absl::StrFormat(R"({"iss":"%s","aud":"fanout","sub":"a"})", kIssuer)),
       "no \"exp\""},
      {"wrong key", Stranger().Sign(payload, "rsa-1"),
       "the signature does not verify with key \"rsa-1\""},
      {"unknown kid", Stranger().Sign(payload), "no key with kid \"stranger\""},
      {"alg none", testing::UnsignedToken(R"({"alg":"none","kid":"rsa-1"})", payload),
       "alg \"none\" is refused"},
      {"HS256 with the public key as secret", Rsa().SignHs256WithPublicKey(payload),
       "alg \"HS256\" is refused"},
      {"an ES256 token under an RSA key's kid", Ec().Sign(payload, "rsa-1"),
       "alg ES256 but key \"rsa-1\" is an RS256 key"},
      {"an RS256 token under an EC key's kid", Rsa().Sign(payload, "ec-1"),
       "alg RS256 but key \"ec-1\" is an ES256 key"},
      {"truncated", good.substr(0, good.size() - 12), "the signature does not verify"},
      {"garbage", "not-a-jwt", "malformed"},
      {"three dots of nothing", "..", "the header is not a JSON object"},
  };
  for (const Case& c : cases) {
    auto who = auth->Authenticate(absl::StrCat("Bearer ", c.token), "");
    ASSERT_FALSE(who.ok()) << c.name;
    EXPECT_EQ(who.status().code(), absl::StatusCode::kUnauthenticated) << c.name;
    EXPECT_THAT(who.status().message(), HasSubstr(c.why)) << c.name;
    EXPECT_THAT(Challenge(who.status()),
                HasSubstr("Bearer realm=\"fanout\", error=\"invalid_token\""))
        << c.name;
  }
  auto basic = auth->Authenticate("Basic YWxpY2U6c2VjcmV0", "");
  EXPECT_THAT(basic.status().message(), HasSubstr("expected the Bearer scheme"));
}

TEST_F(AuthenticatorTest, LeewayForgivesSmallSkewOnly) {
  auto auth = Make();
  std::string token = Rsa().Sign(absl::StrFormat(
      R"({"iss":"%s","aud":"other","sub":"a","exp":%d,"nbf":%d})", kIssuer, Now(), Now() + 20));
  EXPECT_THAT(auth->Authenticate("Bearer " + token, ""), IsOk());  // nbf 20 s ahead: within 30.
  clock_.Advance(absl::Seconds(30));
  EXPECT_THAT(auth->Authenticate("Bearer " + token, ""), IsOk());  // exp 30 s ago: within 30.
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(auth->Authenticate("Bearer " + token, "").status().code(),
            absl::StatusCode::kUnauthenticated);
}

// proves: gateway.auth.jwt.leeway_s
TEST_F(AuthenticatorTest, LeewayIsTheConfiguredSkew) {
  leeway_s_ = 5;
  auto auth = Make();
  std::string token = Rsa().Sign(
      absl::StrFormat(R"({"iss":"%s","aud":"other","sub":"a","exp":%d})", kIssuer, Now()));
  clock_.Advance(absl::Seconds(5));
  EXPECT_THAT(auth->Authenticate("Bearer " + token, ""), IsOk());  // exp 5 s ago: within 5.
  clock_.Advance(absl::Seconds(1));  // 6 s: past 5, within the default 30.
  EXPECT_EQ(auth->Authenticate("Bearer " + token, "").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, RoutesDemandModesScopesAndClaims) {
  auto auth = Make();
  RouteAuthPolicy required{.mode = config::v1::RouteAuth::REQUIRED,
                           .scopes = {"orders.read"},
                           .claims = {{"tenant", "acme"}},
                           .route = "orders"};
  std::string acme = "Bearer " + Ec().Sign(Payload(R"(,"tenant":"acme")"));
  auto ok = auth->Check(required, acme, "");
  ASSERT_THAT(ok, IsOk());
  EXPECT_EQ((*ok)->subject, "alice");

  auto anonymous = auth->Check(required, "", "");
  EXPECT_EQ(anonymous.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(anonymous.status().message(),
              HasSubstr("route \"orders\" needs credentials: Authorization: Bearer <JWT>"));
  EXPECT_EQ(Challenge(anonymous.status()), "Bearer realm=\"fanout\"");  // RFC 6750: no error code.

  auto other_tenant =
      auth->Check(required, "Bearer " + Ec().Sign(Payload(R"(,"tenant":"initech")")), "");
  EXPECT_EQ(other_tenant.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(other_tenant.status().message(), HasSubstr("needs claim \"tenant\" = \"acme\""));

  required.scopes = {"orders.admin"};
  auto scope = auth->Check(required, acme, "");
  EXPECT_EQ(scope.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(scope.status().message(),
              HasSubstr("needs scope \"orders.admin\"; alice has: orders.read orders.write"));
  EXPECT_THAT(Challenge(scope.status()), HasSubstr("error=\"insufficient_scope\""));
  EXPECT_THAT(Challenge(scope.status()), HasSubstr("scope=\"orders.admin\""));

  RouteAuthPolicy optional{.mode = config::v1::RouteAuth::OPTIONAL};
  auto passes = auth->Check(optional, "", "");
  ASSERT_THAT(passes, IsOk());
  EXPECT_FALSE(passes->has_value());
  EXPECT_EQ(auth->Check(optional, "Bearer junk", "").status().code(),
            absl::StatusCode::kUnauthenticated);  // Bad credentials are never anonymous.
  // NONE reads nothing, not even a bad token.
  EXPECT_THAT(auth->Check({.mode = config::v1::RouteAuth::NONE}, "Bearer junk", ""), IsOk());
  // Unspecified: the default mode, NONE unless set.
  EXPECT_THAT(auth->Check({}, "Bearer junk", ""), IsOk());
}

// proves: gateway.auth.api_keys.header
TEST_F(AuthenticatorTest, ApiKeysAreMatchedByHash) {
  // The file holds the hash of "sesame".
  std::string hash = testing::Sha256Hex("sesame");
  testing::ReplaceFile(keys_, absl::StrCat("# name sha256 scopes\nreporting ", hash,
                                           " reports.read reports.export\n"));
  EXPECT_EQ(Make(absl::StrCat("api_keys: {file: \"", keys_, "\"}\n"))->api_key_header(),
            "x-api-key");
  // The header the doors read the key from (rest_door.cc, grpc_door.cc).
  auto auth = Make(absl::StrCat("api_keys: {file: \"", keys_, "\", header: X-Key}\n"));
  EXPECT_EQ(auth->api_key_header(), "x-key");
  auto who = auth->Authenticate("", "sesame");
  ASSERT_THAT(who, IsOk());
  EXPECT_EQ((*who)->subject, "reporting");
  EXPECT_EQ((*who)->via, "api-key");
  EXPECT_EQ((*who)->scopes, (std::vector<std::string>{"reports.read", "reports.export"}));
  auto wrong = auth->Authenticate("", "sesamE");
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(wrong.status().message(), HasSubstr("x-key: unknown API key"));
}

TEST_F(AuthenticatorTest, AReplacedKeySetIsReadWithoutARestart) {
  auto auth = Make();
  SigningKey rotated = SigningKey::P256("ec-2");
  std::string token = "Bearer " + rotated.Sign(Payload());
  EXPECT_EQ(auth->Authenticate(token, "").status().code(), absl::StatusCode::kUnauthenticated);
  testing::ReplaceFile(jwks_, testing::JwksJson({Ec().Jwk(), rotated.Jwk()}));
  clock_.Advance(absl::Seconds(4));  // Not looked at again before refresh_interval_s.
  EXPECT_EQ(auth->Authenticate(token, "").status().code(), absl::StatusCode::kUnauthenticated);
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(auth->Authenticate(token, ""), IsOk());
  // The RSA key left the set: its tokens are refused now.
  EXPECT_THAT(auth->Authenticate("Bearer " + Rsa().Sign(Payload()), "").status().message(),
              HasSubstr("no key with kid \"rsa-1\""));
  // A broken file keeps the keys there were.
  testing::ReplaceFile(jwks_, "{\"keys\": [");
  clock_.Advance(absl::Seconds(5));
  EXPECT_THAT(auth->Authenticate(token, ""), IsOk());
}

TEST_F(AuthenticatorTest, ReplacedApiKeysAreReadWithoutARestart) {
  testing::ReplaceFile(keys_, absl::StrCat("reporting ", testing::Sha256Hex("sesame"), "\n"));
  auto auth = Make(absl::StrCat("api_keys: {file: \"", keys_, "\"}\n"));
  ASSERT_THAT(auth->Authenticate("", "sesame"), IsOk());
  // Rotated: sesame is revoked, opensesame issued.
  testing::ReplaceFile(keys_, absl::StrCat("reporting ", testing::Sha256Hex("opensesame"), "\n"));
  clock_.Advance(absl::Seconds(4));  // Not looked at again before refresh_interval_s.
  EXPECT_THAT(auth->Authenticate("", "sesame"), IsOk());
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(auth->Authenticate("", "sesame").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(auth->Authenticate("", "opensesame"), IsOk());
  // A broken file keeps the keys there were.
  testing::ReplaceFile(keys_, "reporting not-a-hash\n");
  clock_.Advance(absl::Seconds(5));
  EXPECT_THAT(auth->Authenticate("", "opensesame"), IsOk());
  // A deleted one too, until it comes back.
  std::filesystem::remove(keys_);
  clock_.Advance(absl::Seconds(5));
  EXPECT_THAT(auth->Authenticate("", "opensesame"), IsOk());
  testing::ReplaceFile(keys_, absl::StrCat("batch ", testing::Sha256Hex("sesame"), "\n"));
  clock_.Advance(absl::Seconds(5));
  auto who = auth->Authenticate("", "sesame");
  ASSERT_THAT(who, IsOk());
  EXPECT_EQ((*who)->subject, "batch");
}

TEST_F(AuthenticatorTest, ConfigMistakesAreNamed) {
  auto create = [&](const std::string& yaml) {
    config::v1::Auth config;
    EXPECT_THAT(YamlTextToMessage(yaml, "test", &config), IsOk());
    return Authenticator::Create(config, &clock_).status();
  };
  EXPECT_THAT(create("jwt: {audiences: [a], jwks_file: x}").message(),
              HasSubstr("gateway.auth.jwt.issuer: required"));
  EXPECT_THAT(create("jwt: {issuer: i, jwks_file: x}").message(),
              HasSubstr("gateway.auth.jwt.audiences: required"));
  EXPECT_THAT(
      create("jwt: {issuer: i, audiences: [a], jwks_file: /nonexistent/jwks.json}").message(),
      HasSubstr("gateway.auth.jwt.jwks_file: cannot read \"/nonexistent/jwks.json\""));
  EXPECT_THAT(create(absl::StrCat("jwt: {issuer: i, audiences: [a], jwks_file: \"", jwks_,
                                  "\", leeway_s: 301}"))
                  .message(),
              HasSubstr("leeway_s: must be 0 (30 s) to 300, got 301"));
  testing::ReplaceFile(keys_, "svc not-a-hash\n");
  EXPECT_THAT(create(absl::StrCat("api_keys: {file: \"", keys_, "\"}")).message(),
              HasSubstr("line 1: expected `name sha256-hex scope...`"));

  auto none = Authenticator::Create({}, &clock_);
  ASSERT_THAT(none, IsOk());
  EXPECT_THAT(
      (*none)->CheckPolicy({.mode = config::v1::RouteAuth::REQUIRED, .route = "r"}).message(),
      HasSubstr("route \"r\": auth: mode REQUIRED needs credentials to check"));
  auto auth = Make();
  EXPECT_THAT(
      auth->CheckPolicy({.mode = config::v1::RouteAuth::OPTIONAL, .scopes = {"a"}, .route = "r"})
          .message(),
      HasSubstr("scopes and claims need mode REQUIRED"));
}

TEST(JwksTest, OnlySignatureKeysTheGatewayVerifiesAreAccepted) {
  EXPECT_THAT(ParseJwks(testing::JwksJson({Rsa().Jwk(), Ec().Jwk()})), IsOk());
  EXPECT_THAT(ParseJwks(R"({"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]})").status().message(),
              HasSubstr("keys[0] (kid \"h\"): kty \"oct\"; only RSA (RS256) and EC (ES256)"));
  EXPECT_THAT(ParseJwks(R"({"keys":[{"kty":"RSA","kid":"r","alg":"HS256","n":"AQAB","e":"AQAB"}]})")
                  .status()
                  .message(),
              HasSubstr("alg \"HS256\" with kty RSA"));
  EXPECT_THAT(
      ParseJwks(R"({"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]})").status().message(),
      HasSubstr("RSA key of 24 bits; at least 2048"));
  EXPECT_THAT(ParseJwks(R"({"keys":[{"kty":"EC","kid":"e","crv":"P-384","x":"","y":""}]})")
                  .status()
                  .message(),
              HasSubstr("only P-256"));
  EXPECT_THAT(ParseJwks("[]").status().message(), HasSubstr("no \"keys\" array"));
}

}  // namespace
}  // namespace fanout::gateway
