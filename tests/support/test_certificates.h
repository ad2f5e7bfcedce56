// TestCertificates: a throwaway PKI made with the `openssl` CLI in a temp
// dir, the way an operator would: a CA, a server certificate for localhost
// and 127.0.0.1, and a client certificate, all signed by the CA.
//
//   absl::StatusOr<TestCertificates> certs = TestCertificates::Create();
//   HttpServer server({.tls = certs->ServerTls()}, handler);
//   ...
//   ASSERT_THAT(certs->RotateServer("rotated"), IsOk());   // new serial, CN=rotated
//
// Rotation writes the new files aside and renames them into place, as
// Kubernetes swaps a Secret's files. Not thread-safe; one per test.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "node/base/tls_files.h"

namespace fanout::testing {

class TestCertificates {
 public:
  static absl::StatusOr<TestCertificates> Create() {
    TestCertificates certs;
    char pattern[] = "/tmp/fanout-tls-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) return absl::InternalError("mkdtemp failed");
    certs.dir = pattern;
    certs.ca = certs.dir + "/ca.crt";
    certs.server_cert = certs.dir + "/server.crt";
    certs.server_key = certs.dir + "/server.key";
    certs.client_cert = certs.dir + "/client.crt";
    certs.client_key = certs.dir + "/client.key";
    std::ofstream(certs.dir + "/server.ext") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    std::ofstream(certs.dir + "/client.ext") << "extendedKeyUsage=clientAuth\n";
    if (absl::Status s = certs.Run(absl::StrCat(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
            "-subj /CN=fanout-test-ca -keyout ca.key -out ca.crt"));
        !s.ok()) {
      return s;
    }
    if (absl::Status s = certs.Issue("server", "localhost", certs.server_cert, certs.server_key);
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            certs.Issue("client", "fanout-test-client", certs.client_cert, certs.client_key);
        !s.ok()) {
      return s;
    }
    return certs;
  }

  TestCertificates(TestCertificates&& other) noexcept { *this = std::move(other); }
  TestCertificates& operator=(TestCertificates&& other) noexcept {
    dir = std::exchange(other.dir, "");
    ca = other.ca;
    server_cert = other.server_cert;
    server_key = other.server_key;
    client_cert = other.client_cert;
    client_key = other.client_key;
    serial_ = other.serial_;
    return *this;
  }
  ~TestCertificates() {
    std::error_code ignored;
    if (!dir.empty()) std::filesystem::remove_all(dir, ignored);
  }

  // A door with the server certificate; mTLS (client certificates from the
  // CA required) when `require_client_cert`. Files are checked every 100 ms.
  TlsOptions ServerTls(bool require_client_cert = false) const {
    return {.cert_file = server_cert,
            .key_file = server_key,
            .ca_file = require_client_cert ? ca : "",
            .require_client_cert = require_client_cert,
            .reload_interval = absl::Milliseconds(100)};
  }
  // A client trusting the CA, presenting the client certificate when `mtls`.
  TlsOptions ClientTls(bool mtls = false) const {
    return {
        .cert_file = mtls ? client_cert : "", .key_file = mtls ? client_key : "", .ca_file = ca};
  }

  // A new server key and certificate (CN=`common_name`, a new serial, same
  // names) renamed over the old files.
  absl::Status RotateServer(const std::string& common_name) {
    std::string cert = dir + "/next.crt", key = dir + "/next.key";
    if (absl::Status s = Issue("server", common_name, cert, key); !s.ok()) return s;
    std::error_code error;
    std::filesystem::rename(key, server_key, error);
    if (!error) std::filesystem::rename(cert, server_cert, error);
    if (error) return absl::InternalError(absl::StrCat("rotating: ", error.message()));
    return absl::OkStatus();
  }

  std::string dir, ca, server_cert, server_key, client_cert, client_key;

 private:
  TestCertificates() = default;

  absl::Status Run(const std::string& command) const {
    std::string line = absl::StrCat("cd ", dir, " && ", command, " >", dir, "/openssl.log 2>&1");
    if (std::system(line.c_str()) != 0) {
      std::ifstream log(dir + "/openssl.log");
      std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
      return absl::InternalError(absl::StrCat("`", command, "` failed: ", text));
    }
    return absl::OkStatus();
  }

  // A key and a certificate for `common_name` signed by the CA, with the
  // extensions of `<kind>.ext`.
  absl::Status Issue(const std::string& kind, const std::string& common_name,
                     const std::string& cert, const std::string& key) {
    return Run(absl::StrCat(
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=",
        common_name, " -keyout ", key, " -out req.csr && openssl x509 -req -in req.csr -CA ca.crt ",
        "-CAkey ca.key -days 2 -set_serial ", ++serial_, " -extfile ", kind, ".ext -out ", cert));
  }

  int serial_ = 1;
};

}  // namespace fanout::testing
