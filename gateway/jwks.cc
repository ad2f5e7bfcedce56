#include "gateway/jwks.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gateway/json_parse.h"
#include "gateway/json_value.h"

namespace fanout::gateway {
namespace {

using google::protobuf::Value;

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using Bignum = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ParamBuilder = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using KeyContext = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

std::string StringAt(const Value& key, const std::string& field) {
  auto it = key.struct_value().fields().find(field);
  if (it == key.struct_value().fields().end()) return "";
  return it->second.kind_case() == Value::kStringValue ? it->second.string_value() : "";
}

// A base64url member (RFC 7518 §2: no padding) as bytes; "" when absent or broken.
std::string BytesAt(const Value& key, const std::string& field) {
  std::string out;
  if (!absl::WebSafeBase64Unescape(StringAt(key, field), &out)) return "";
  return out;
}

absl::StatusOr<Key> FromData(const char* type, OSSL_PARAM_BLD* builder) {
  Params params(OSSL_PARAM_BLD_to_param(builder));
  KeyContext context(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !context || EVP_PKEY_fromdata_init(context.get()) <= 0 ||
      EVP_PKEY_fromdata(context.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    return absl::InvalidArgumentError("OpenSSL refused the key parameters");
  }
  return Key(key);
}

absl::StatusOr<Key> RsaKey(const Value& jwk) {
  std::string n = BytesAt(jwk, "n"), e = BytesAt(jwk, "e");
  if (n.empty() || e.empty()) {
    return absl::InvalidArgumentError("an RSA key needs \"n\" and \"e\" (base64url)");
  }
  if (n.size() * 8 < 2048) {
    return absl::InvalidArgumentError(
        absl::StrCat("RSA key of ", n.size() * 8, " bits; at least 2048 are required"));
  }
  auto to_bn = [](const std::string& bytes) {
    return Bignum(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                            static_cast<int>(bytes.size()), nullptr));
  };
  Bignum bn_n = to_bn(n), bn_e = to_bn(e);
  ParamBuilder builder(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !builder ||
      !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
    return absl::InternalError("out of memory building an RSA key");
  }
  return FromData("RSA", builder.get());
}

absl::StatusOr<Key> P256Key(const Value& jwk) {
  if (StringAt(jwk, "crv") != "P-256") {
    return absl::InvalidArgumentError(
        absl::StrCat("EC curve \"", StringAt(jwk, "crv"), "\"; only P-256 (ES256) is accepted"));
  }
  std::string x = BytesAt(jwk, "x"), y = BytesAt(jwk, "y");
  if (x.size() != 32 || y.size() != 32) {
    return absl::InvalidArgumentError("a P-256 key needs \"x\" and \"y\" of 32 bytes each");
  }
  // The uncompressed point: 0x04 || x || y (SEC 1 §2.3.3).
  std::string point = absl::StrCat("\x04", x, y);
  ParamBuilder builder(OSSL_PARAM_BLD_new());
  if (!builder ||
      !OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1",
                                       0) ||
      !OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size())) {
    return absl::InternalError("out of memory building an EC key");
  }
  return FromData("EC", builder.get());
}

absl::StatusOr<std::string> Pem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) {
    return absl::InternalError("OpenSSL could not write the key as PEM");
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

absl::StatusOr<JwksKey> ParseKey(const Value& jwk) {
  if (jwk.kind_case() != Value::kStructValue) return absl::InvalidArgumentError("not an object");
  JwksKey out;
  out.kid = StringAt(jwk, "kid");
  if (out.kid.empty()) return absl::InvalidArgumentError("no \"kid\"");
  std::string kty = StringAt(jwk, "kty"), use = StringAt(jwk, "use");
  if (!use.empty() && use != "sig") {
    return absl::InvalidArgumentError(absl::StrCat("\"use\": \"", use, "\"; only sig keys verify"));
  }
  absl::StatusOr<Key> key;
  if (kty == "RSA") {
    out.alg = "RS256";
    key = RsaKey(jwk);
  } else if (kty == "EC") {
    out.alg = "ES256";
    key = P256Key(jwk);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("kty \"", kty, "\"; only RSA (RS256) and EC (ES256) keys are accepted"));
  }
  std::string alg = StringAt(jwk, "alg");
  if (!alg.empty() && alg != out.alg) {
    return absl::InvalidArgumentError(absl::StrCat("alg \"", alg, "\" with kty ", kty,
                                                   "; the gateway verifies ", kty, " keys with ",
                                                   out.alg, " only"));
  }
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> pem = Pem(key->get());
  if (!pem.ok()) return pem.status();
  out.pem = *std::move(pem);
  out.key = std::shared_ptr<EVP_PKEY>(key->release(), EVP_PKEY_free);
  return out;
}

}  // namespace

bool VerifyJws(const JwksKey& key, absl::string_view signing_input, absl::string_view signature) {
  std::string sig;
  if (key.key == nullptr || !absl::WebSafeBase64Unescape(signature, &sig)) return false;
  if (key.alg == "ES256") {
    // JWS carries R||S, 32 bytes each; OpenSSL verifies a DER ECDSA-Sig-Value.
    if (sig.size() != 64) return false;
    auto* bytes = reinterpret_cast<const unsigned char*>(sig.data());
    std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>> ecdsa(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(bytes, 32, nullptr);
    BIGNUM* s = BN_bin2bn(bytes + 32, 32, nullptr);
    if (!ecdsa || !r || !s || ECDSA_SIG_set0(ecdsa.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return false;
    }
    unsigned char* der = nullptr;
    int size = i2d_ECDSA_SIG(ecdsa.get(), &der);
    if (size <= 0) return false;
    sig.assign(reinterpret_cast<char*>(der), static_cast<size_t>(size));
    OPENSSL_free(der);
  } else if (key.alg != "RS256") {
    return false;
  }
  std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>> context(EVP_MD_CTX_new());
  return context &&
         EVP_DigestVerifyInit(context.get(), nullptr, EVP_sha256(), nullptr, key.key.get()) == 1 &&
         EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                          sig.size(), reinterpret_cast<const unsigned char*>(signing_input.data()),
                          signing_input.size()) == 1;
}

absl::StatusOr<JwksKeys> ParseJwks(absl::string_view json) {
  absl::StatusOr<Value> set = ParseJson(json);
  if (!set.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("not JSON: ", set.status().message()));
  }
  const Value* keys = FindPath(*set, "keys");
  if (keys == nullptr || keys->kind_case() != Value::kListValue) {
    return absl::InvalidArgumentError("no \"keys\" array (a JWKS is {\"keys\": [...]})");
  }
  JwksKeys out;
  for (int i = 0; i < keys->list_value().values_size(); ++i) {
    const Value& jwk = keys->list_value().values(i);
    absl::StatusOr<JwksKey> key = ParseKey(jwk);
    std::string kid = jwk.kind_case() == Value::kStructValue ? StringAt(jwk, "kid") : "";
    if (!key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("keys[", i, "] (kid \"", kid, "\"): ", key.status().message()));
    }
    if (out.contains(key->kid)) {
      return absl::InvalidArgumentError(
          absl::StrCat("keys[", i, "]: kid \"", kid, "\" appears twice"));
    }
    // The kid first: an argument moved from in the same call may be read
    // after the move (argument order is unspecified).
    std::string key_id = key->kid;
    out.emplace(std::move(key_id), *std::move(key));
  }
  return out;
}

}  // namespace fanout::gateway
