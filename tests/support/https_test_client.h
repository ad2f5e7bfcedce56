// HttpsTestClient: one kept-alive HTTPS connection (Boost.Beast over
// OpenSSL, blocking), for tests that must hold a TLS connection open across
// a certificate reload and see which certificate the server presented.
//
//   HttpsTestClient client;
//   ASSERT_THAT(client.Connect(port, certs.ClientTls()), IsOk());
//   EXPECT_THAT(client.Get("/x"), IsOkAndHolds("hello"));
//   EXPECT_EQ(client.peer_common_name(), "localhost");
//
// Not thread-safe: one thread per client. A 30 s socket timeout only keeps
// a broken test from hanging.
#pragma once

#include <utility>
// ^ before Boost: Asio 1.74 needs std::exchange from it under g++ 12.
#include <openssl/x509.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "node/base/tls_files.h"

namespace fanout::testing {

class HttpsTestClient {
 public:
  // Handshakes with 127.0.0.1:port, checking the server's certificate
  // against tls.ca_file and the name "localhost"; presents tls.cert_file
  // when set.
  absl::Status Connect(int port, const TlsOptions& tls) {
    namespace ssl = boost::asio::ssl;
    boost::system::error_code error;
    context_.set_verify_mode(ssl::verify_peer, error);
    if (!tls.ca_file.empty()) context_.load_verify_file(tls.ca_file, error);
    if (!error && !tls.cert_file.empty()) {
      context_.use_certificate_chain_file(tls.cert_file, error);
      if (!error) context_.use_private_key_file(tls.key_file, ssl::context::pem, error);
    }
    if (error) return absl::InternalError(absl::StrCat("client context: ", error.message()));
    stream_.emplace(io_, context_);
    stream_->set_verify_callback(ssl::host_name_verification("localhost"));
    SSL_set_tlsext_host_name(stream_->native_handle(), "localhost");
    boost::asio::ip::tcp::endpoint endpoint(boost::asio::ip::make_address("127.0.0.1"), port);
    stream_->next_layer().connect(endpoint, error);
    if (!error) {
      timeval timeout{.tv_sec = 30, .tv_usec = 0};
      ::setsockopt(stream_->next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout,
                   sizeof(timeout));
      stream_->handshake(ssl::stream_base::client, error);
    }
    if (error) return absl::UnavailableError(absl::StrCat("TLS connect: ", error.message()));
    return absl::OkStatus();
  }

  // GET `path` on the open connection (keep-alive); the body of a 200.
  absl::StatusOr<std::string> Get(const std::string& path) {
    namespace http = boost::beast::http;
    http::request<http::empty_body> request(http::verb::get, path, 11);
    request.set(http::field::host, "localhost");
    boost::system::error_code error;
    http::write(*stream_, request, error);
    http::response<http::string_body> response;
    if (!error) http::read(*stream_, buffer_, response, error);
    if (error) return absl::UnavailableError(absl::StrCat("GET ", path, ": ", error.message()));
    if (response.result_int() != 200) {
      return absl::UnknownError(absl::StrCat("GET ", path, ": HTTP ", response.result_int()));
    }
    return response.body();
  }

  // The CN of the certificate the server presented.
  std::string peer_common_name() {
    X509* cert = SSL_get1_peer_certificate(stream_->native_handle());
    if (cert == nullptr) return "";
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
    X509_free(cert);
    return cn;
  }

 private:
  boost::asio::io_context io_;
  boost::asio::ssl::context context_{boost::asio::ssl::context::tls_client};
  std::optional<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> stream_;
  boost::beast::flat_buffer buffer_;
};

// Runs a shell command; its exit code and stdout (stderr merged).
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
inline CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char chunk[4096];
  while (size_t n = std::fread(chunk, 1, sizeof(chunk), pipe)) result.output.append(chunk, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace fanout::testing
