// A small blocking HTTP/1.1 client for tests: one request per connection
// (Connection: close), chunked bodies decoded, or a kept-open connection
// whose response is read line by line (streaming routes).
//
//   HttpResult r = HttpCall(port, "GET", "/v1/users/7");
//   EXPECT_EQ(r.status, 200);
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace fanout::testing {

struct HttpResult {
  int status = 0;                              // 0: no answer (connection failed or closed).
  std::map<std::string, std::string> headers;  // Lower-case names.
  std::string body;
};

// A connected socket, closed on destruction.
class TestConnection {
 public:
  explicit TestConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) Close();
  }
  ~TestConnection() { Close(); }
  bool ok() const { return fd_ >= 0; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool Send(const std::string& data) {
    size_t sent = 0;
    while (fd_ >= 0 && sent < data.size()) {
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += n;
    }
    return sent == data.size();
  }
  // Everything until the peer closes.
  std::string ReadAll() {
    std::string out;
    char buf[8192];
    ssize_t n;
    while (fd_ >= 0 && (n = ::recv(fd_, buf, sizeof(buf), 0)) > 0) out.append(buf, n);
    return out;
  }
  // Reads until `text` has arrived (or the peer closed); returns all read so far.
  std::string ReadUntil(const std::string& text) {
    char buf[4096];
    while (fd_ >= 0 && pending_.find(text) == std::string::npos) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      pending_.append(buf, n);
    }
    return pending_;
  }

 private:
  int fd_ = -1;
  std::string pending_;
};

inline std::string DecodeChunked(const std::string& body) {
  std::string out;
  size_t at = 0;
  while (at < body.size()) {
    size_t eol = body.find("\r\n", at);
    if (eol == std::string::npos) break;
    uint64_t size = 0;
    if (!absl::SimpleHexAtoi(body.substr(at, eol - at), &size) || size == 0) break;
    out += body.substr(eol + 2, size);
    at = eol + 2 + size + 2;
  }
  return out;
}

inline HttpResult ParseHttpResponse(const std::string& raw) {
  HttpResult result;
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return result;
  std::vector<std::string> lines = absl::StrSplit(raw.substr(0, head_end), "\r\n");
  std::vector<std::string> status_line = absl::StrSplit(lines[0], ' ');
  if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &result.status)) return result;
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    result.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  result.body = raw.substr(head_end + 4);
  if (absl::AsciiStrToLower(result.headers["transfer-encoding"]) == "chunked") {
    result.body = DecodeChunked(result.body);
  }
  return result;
}

inline std::string HttpRequestText(const std::string& method, const std::string& target,
                                   const std::string& body,
                                   const std::vector<std::pair<std::string, std::string>>& headers,
                                   bool close = true) {
  std::string text = absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  if (close) text += "Connection: close\r\n";
  for (const auto& [name, value] : headers) absl::StrAppend(&text, name, ": ", value, "\r\n");
  if (!body.empty() || method == "POST" || method == "PATCH" || method == "PUT") {
    absl::StrAppend(&text, "Content-Type: application/json\r\nContent-Length: ", body.size(),
                    "\r\n");
  }
  return absl::StrCat(text, "\r\n", body);
}

inline HttpResult HttpCall(int port, const std::string& method, const std::string& target,
                           const std::string& body = "",
                           const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  TestConnection connection(port);
  if (!connection.ok() || !connection.Send(HttpRequestText(method, target, body, headers))) {
    return {};
  }
  return ParseHttpResponse(connection.ReadAll());
}

}  // namespace fanout::testing
