#include "node/base/tls_files.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace fanout {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

absl::Status Bad(absl::string_view field, const std::string& file, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, " \"", file, "\": ", why));
}

absl::StatusOr<BioPtr> Open(absl::string_view field, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Bad(field, file, "cannot be read (missing, or no permission)");
  BioPtr bio(BIO_new_file(file.c_str(), "r"));
  if (bio == nullptr) return Bad(field, file, "cannot be read");
  return bio;
}

// Every certificate in a PEM file; none is an error.
absl::StatusOr<std::vector<X509Ptr>> ReadCertificates(absl::string_view field,
                                                      const std::string& file) {
  absl::StatusOr<BioPtr> bio = Open(field, file);
  if (!bio.ok()) return bio.status();
  std::vector<X509Ptr> certs;
  while (X509* cert = PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(cert);
  }
  ERR_clear_error();  // the end of the file reads as an error
  if (certs.empty()) return Bad(field, file, "holds no PEM certificate");
  return certs;
}

absl::StatusOr<KeyPtr> ReadKey(const std::string& file) {
  absl::StatusOr<BioPtr> bio = Open("key_file", file);
  if (!bio.ok()) return bio.status();
  KeyPtr key(PEM_read_bio_PrivateKey(bio->get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (key == nullptr) {
    return Bad("key_file", file, "holds no PEM private key (an encrypted key is not supported)");
  }
  return key;
}

absl::Status CheckPair(const TlsOptions& tls) {
  absl::StatusOr<std::vector<X509Ptr>> certs = ReadCertificates("cert_file", tls.cert_file);
  if (!certs.ok()) return certs.status();
  absl::StatusOr<KeyPtr> key = ReadKey(tls.key_file);
  if (!key.ok()) return key.status();
  if (X509_check_private_key(certs->front().get(), key->get()) != 1) {
    ERR_clear_error();
    return Bad("key_file", tls.key_file,
               absl::StrCat("does not match the certificate in cert_file \"", tls.cert_file, "\""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckTlsFiles(const TlsOptions& tls, TlsSide side) {
  auto invalid = [](absl::string_view why) { return absl::InvalidArgumentError(std::string(why)); };
  if (side == TlsSide::kServer) {
    if (tls.cert_file.empty() || tls.key_file.empty()) {
      return invalid("a TLS door needs both cert_file and key_file");
    }
    if (tls.require_client_cert && tls.ca_file.empty()) {
      return invalid(
          "require_client_cert needs ca_file (the CAs client certificates are checked "
          "against)");
    }
    if (!tls.server_name_override.empty()) {
      return invalid("server_name_override is for clients; a door does not use it");
    }
  } else {
    if (tls.cert_file.empty() != tls.key_file.empty()) {
      return invalid("a client certificate needs both cert_file and key_file");
    }
    if (tls.require_client_cert) return invalid("require_client_cert is for doors, not clients");
    if (tls.ca_file.empty()) {
      return invalid(
          "a TLS client needs ca_file, the CAs of the server's certificate (the "
          "system's: /etc/ssl/certs/ca-certificates.crt)");
    }
  }
  if (tls.reload_interval <= absl::ZeroDuration()) {
    return invalid(absl::StrCat("reload_interval must be > 0, got ",
                                absl::FormatDuration(tls.reload_interval)));
  }
  if (!tls.cert_file.empty()) {
    absl::Status pair = CheckPair(tls);
    if (!pair.ok()) return pair;
  }
  if (!tls.ca_file.empty()) {
    absl::StatusOr<std::vector<X509Ptr>> cas = ReadCertificates("ca_file", tls.ca_file);
    if (!cas.ok()) return cas.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CertificateName(const std::string& cert_file) {
  absl::StatusOr<std::vector<X509Ptr>> certs = ReadCertificates("cert_file", cert_file);
  if (!certs.ok()) return certs.status();
  X509* cert = certs->front().get();
  std::string name;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans) && name.empty(); ++i) {
    const GENERAL_NAME* san = sk_GENERAL_NAME_value(sans, i);
    if (san->type != GEN_DNS) continue;
    name.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(san->d.dNSName)),
                ASN1_STRING_length(san->d.dNSName));
  }
  GENERAL_NAMES_free(sans);
  if (!name.empty()) return name;
  char cn[256] = {};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) > 0) {
    return std::string(cn);
  }
  return Bad("cert_file", cert_file, "names no host (no DNS subjectAltName, no common name)");
}

std::vector<std::string> TlsFiles(const TlsOptions& tls) {
  std::vector<std::string> files;
  for (const std::string* file : {&tls.cert_file, &tls.key_file, &tls.ca_file}) {
    if (!file->empty()) files.push_back(*file);
  }
  return files;
}

}  // namespace fanout
