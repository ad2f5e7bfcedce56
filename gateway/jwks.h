// ParseJwks: a JSON Web Key Set (RFC 7517) as PEM public keys, each with
// the one algorithm it may verify.
//
//   FANOUT_ASSIGN_OR_RETURN(JwksKeys keys, ParseJwks(file_text));
//   const JwksKey& key = keys.at(kid);   // key.alg "RS256" or "ES256"
//   if (!VerifyJws(key, "header.payload", signature)) -> refuse
//
// Why build keys from n/e and x/y here (OpenSSL 3, EVP_PKEY_fromdata)
// rather than accept only keys that carry x5c certificates: identity
// providers publish the bare JWK parameters, and x5c is optional in
// RFC 7517. The PEM form is kept for tools that want one.
//
// Only what the gateway verifies is accepted: RSA keys (kty RSA, at least
// 2048 bits) for RS256 and P-256 keys (kty EC, crv P-256) for ES256. A key's
// `alg` may be left out (it follows from the key type) but, when present,
// must match; symmetric keys (kty oct) and "use": "enc" keys are refused,
// so no HS* verification can ever be configured.
//
// Thread-safe (a pure function).
#pragma once

#include <openssl/evp.h>

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fanout::gateway {

struct JwksKey {
  std::string kid;
  std::string alg;  // "RS256" or "ES256": the only algorithm this key verifies.
  std::string pem;  // SubjectPublicKeyInfo, "-----BEGIN PUBLIC KEY-----".
  // The same key, parsed once: OpenSSL 3 takes ~0.3 ms to decode a PEM.
  std::shared_ptr<EVP_PKEY> key;
};
using JwksKeys = std::map<std::string, JwksKey>;  // By kid.

// INVALID_ARGUMENT naming the key (by index and kid) and what was wrong.
absl::StatusOr<JwksKeys> ParseJwks(absl::string_view json);

// Whether `signature` (the JWS's third part, base64url) signs
// `signing_input` ("header.payload" as sent) under `key`, by the key's own
// algorithm: RSASSA-PKCS1-v1_5 with SHA-256 (RS256), or ECDSA P-256 with
// SHA-256 over a 64-byte R||S (ES256, RFC 7518 §3.4).
//
// Why not libjwt's jwt_decode: libjwt 1.10 takes the key as PEM and
// decodes it on every call, which under OpenSSL 3 is ~0.3 ms of CPU, most
// of a verification (bench/README.md, auth_bench). Here the key is parsed
// once, when the JWKS is read, and OpenSSL's EVP_DigestVerify does the rest.
bool VerifyJws(const JwksKey& key, absl::string_view signing_input, absl::string_view signature);

}  // namespace fanout::gateway
