// auth_bench: what the gateway's credential check costs a request — the
// whole Authenticator::Check a REST or gRPC call makes before admission.
//
//   auth_bench                                   # everything, a few seconds
//   auth_bench --benchmark_filter=Jwt            # token checks only
//
// Good tokens (RS256 2048-bit, ES256 P-256), an API key, a route with
// auth NONE (the cost every existing route still pays), and refusals: a
// forged signature (the full verify, then no) and `alg: none` (refused
// from the header alone).
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gateway/auth.h"
#include "tests/support/jwt_keys.h"

namespace fanout::gateway {
namespace {

using testing::SigningKey;

struct Fixture {
  Fixture()
      : rsa(SigningKey::Rsa("rsa")), ec(SigningKey::P256("ec")), forger(SigningKey::Rsa("rsa")) {
    std::filesystem::path dir =
        std::filesystem::temp_directory_path() / absl::StrCat("auth_bench_", ::getpid());
    std::filesystem::create_directories(dir);
    std::string jwks = (dir / "jwks.json").string(), keys = (dir / "keys").string();
    testing::ReplaceFile(jwks, testing::JwksJson({rsa.Jwk(), ec.Jwk()}));
    testing::ReplaceFile(keys, absl::StrCat("svc ", testing::Sha256Hex("sesame"), " a b\n"));
    config::v1::Auth config;
    config.mutable_jwt()->set_issuer("https://issuer.test");
    config.mutable_jwt()->add_audiences("fanout");
    config.mutable_jwt()->set_jwks_file(jwks);
    config.mutable_api_keys()->set_file(keys);
    auth = *Authenticator::Create(config, &Clock::Real());
    std::filesystem::remove_all(dir);  // Read once; the refresh finds it gone and keeps the keys.
    payload = absl::StrFormat(
        R"({"iss":"https://issuer.test","aud":"fanout","sub":"alice","exp":%d,"scope":"orders.read"})",
        absl::ToUnixSeconds(absl::Now()) + 3600);
  }
  SigningKey rsa, ec, forger;
  std::unique_ptr<Authenticator> auth;
  std::string payload;
};

Fixture& F() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

const RouteAuthPolicy kRequired{
    .mode = config::v1::RouteAuth::REQUIRED, .scopes = {"orders.read"}, .route = "bench"};

void Run(benchmark::State& state, const std::string& authorization, const std::string& api_key,
         const RouteAuthPolicy& policy, bool want_ok) {
  Authenticator& auth = *F().auth;
  for (auto _ : state) {
    auto who = auth.Check(policy, authorization, api_key);
    if (who.ok() != want_ok) state.SkipWithError(std::string(who.status().message()).c_str());
    benchmark::DoNotOptimize(who);
  }
}

void BM_JwtRs256(benchmark::State& state) {
  Run(state, "Bearer " + F().rsa.Sign(F().payload), "", kRequired, true);
}
BENCHMARK(BM_JwtRs256)->Threads(1)->Threads(2);

void BM_JwtEs256(benchmark::State& state) {
  Run(state, "Bearer " + F().ec.Sign(F().payload), "", kRequired, true);
}
BENCHMARK(BM_JwtEs256)->Threads(1)->Threads(2);

void BM_ApiKey(benchmark::State& state) {
  Run(state, "", "sesame", {.mode = config::v1::RouteAuth::REQUIRED}, true);
}
BENCHMARK(BM_ApiKey);

void BM_RouteWithoutAuth(benchmark::State& state) {
  Run(state, "Bearer whatever", "", {.mode = config::v1::RouteAuth::NONE}, true);
}
BENCHMARK(BM_RouteWithoutAuth);

void BM_JwtForgedSignature(benchmark::State& state) {
  Run(state, "Bearer " + F().forger.Sign(F().payload), "", kRequired, false);
}
BENCHMARK(BM_JwtForgedSignature);

void BM_JwtAlgNone(benchmark::State& state) {
  Run(state, "Bearer " + testing::UnsignedToken(R"({"alg":"none","kid":"rsa"})", F().payload), "",
      kRequired, false);
}
BENCHMARK(BM_JwtAlgNone);

}  // namespace
}  // namespace fanout::gateway

BENCHMARK_MAIN();
