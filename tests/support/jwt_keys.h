// Signing keys and tokens for tests and benchmarks of the gateway's
// authentication: a fresh RSA (RS256) or P-256 (ES256) key pair made with
// OpenSSL, its JWK for a JWKS file, and JWTs signed with it by libjwt — the
// same library the gateway verifies with, so nothing here is hand-rolled
// crypto.
//
//   SigningKey rsa = SigningKey::Rsa("k1");
//   WriteFile(jwks_path, JwksJson({rsa.Jwk()}));
//   std::string token = rsa.Sign(R"({"iss":"https://issuer.test","aud":"fanout",...})");
//   std::string forged = rsa.SignHs256WithPublicKey(payload);   // alg confusion
//   std::string none = UnsignedToken(R"({"alg":"none","kid":"k1"})", payload);
//
// Thread-safe: each SigningKey is immutable once made.
#pragma once

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace fanout::testing {

class SigningKey {
 public:
  static SigningKey Rsa(std::string kid) {
    return SigningKey(std::move(kid), JWT_ALG_RS256, EVP_RSA_gen(2048));
  }
  static SigningKey P256(std::string kid) {
    return SigningKey(std::move(kid), JWT_ALG_ES256, EVP_EC_gen("P-256"));
  }

  const std::string& kid() const { return kid_; }
  const std::string& public_pem() const { return public_pem_; }

  // The public key as a JWK (RFC 7517/7518): kty, kid, alg, n/e or crv/x/y.
  std::string Jwk() const {
    if (alg_ == JWT_ALG_RS256) {
      return absl::StrCat(R"({"kty":"RSA","kid":")", kid_, R"(","alg":"RS256","use":"sig","n":")",
                          Param(OSSL_PKEY_PARAM_RSA_N, 0), R"(","e":")",
                          Param(OSSL_PKEY_PARAM_RSA_E, 0), R"("})");
    }
    return absl::StrCat(R"({"kty":"EC","kid":")", kid_, R"(","alg":"ES256","crv":"P-256","x":")",
                        Param(OSSL_PKEY_PARAM_EC_PUB_X, 32), R"(","y":")",
                        Param(OSSL_PKEY_PARAM_EC_PUB_Y, 32), R"("})");
  }

  // A token with `payload` (a JSON object) signed by this key, its kid in
  // the header (`kid` overrides it: a key pretending to be another).
  std::string Sign(const std::string& payload, const std::string& kid = "") const {
    return Encode(payload, alg_, private_pem_, kid.empty() ? kid_ : kid);
  }
  // The classic alg-confusion forgery: HS256 with the public key's PEM as
  // the HMAC secret, under this key's kid.
  std::string SignHs256WithPublicKey(const std::string& payload) const {
    return Encode(payload, JWT_ALG_HS256, public_pem_, kid_);
  }

 private:
  struct FreeKey {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
  };

  SigningKey(std::string kid, jwt_alg_t alg, EVP_PKEY* key)
      : kid_(std::move(kid)), alg_(alg), key_(key, FreeKey()) {
    if (key == nullptr) throw std::runtime_error("OpenSSL could not make a key");
    private_pem_ = ToPem([&](BIO* bio) {
      return PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    });
    public_pem_ = ToPem([&](BIO* bio) { return PEM_write_bio_PUBKEY(bio, key); });
  }

  template <typename Write>
  static std::string ToPem(Write write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(size));
    BIO_free(bio);
    return out;
  }

  // A key parameter as base64url, left-padded to `width` bytes when > 0.
  std::string Param(const char* name, int width) const {
    BIGNUM* bn = nullptr;
    EVP_PKEY_get_bn_param(key_.get(), name, &bn);
    std::string bytes(width > 0 ? width : BN_num_bytes(bn), '\0');
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(bytes.data()),
                 static_cast<int>(bytes.size()));
    BN_free(bn);
    std::string out;
    absl::WebSafeBase64Escape(bytes, &out);
    return out;
  }

  static std::string Encode(const std::string& payload, jwt_alg_t alg, const std::string& key,
                            const std::string& kid) {
    jwt_t* jwt = nullptr;
    jwt_new(&jwt);
    jwt_add_grants_json(jwt, payload.c_str());
    jwt_add_header(jwt, "kid", kid.c_str());
    jwt_set_alg(jwt, alg, reinterpret_cast<const unsigned char*>(key.data()),
                static_cast<int>(key.size()));
    char* encoded = jwt_encode_str(jwt);
    std::string out = encoded ? encoded : "";
    std::free(encoded);
    jwt_free(jwt);
    if (out.empty()) throw std::runtime_error("libjwt could not sign the token");
    return out;
  }

  std::string kid_;
  jwt_alg_t alg_;
  std::shared_ptr<EVP_PKEY> key_;
  std::string private_pem_, public_pem_;
};

// {"keys": [...]} of these JWKs.
inline std::string JwksJson(const std::vector<std::string>& jwks) {
  return absl::StrCat(R"({"keys":[)", absl::StrJoin(jwks, ","), "]}");
}

// header.payload. with no signature ("alg": "none" style), base64url.
inline std::string UnsignedToken(const std::string& header, const std::string& payload) {
  std::string h, p;
  absl::WebSafeBase64Escape(header, &h);
  absl::WebSafeBase64Escape(payload, &p);
  return absl::StrCat(h, ".", p, ".");
}

// What `printf KEY | sha256sum` prints: an API key as the keys file holds it.
inline std::string Sha256Hex(absl::string_view key) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(key.data(), key.size(), digest, &size, EVP_sha256(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), size));
}

// Replaces `path` whole (write then rename, as a secret volume updates).
inline void ReplaceFile(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  std::ofstream(tmp, std::ios::binary | std::ios::trunc) << text;
  std::rename(tmp.c_str(), path.c_str());
}

}  // namespace fanout::testing
