// A small blocking HTTP/1.1 client on a plain POSIX socket, for tests that
// need to see the wire: exact bytes, chunks one at a time, pipelining,
// half-written requests and hanging up mid-exchange.
//
//   TestHttpClient client(server.port());
//   ASSERT_TRUE(client.Send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n"));
//   std::optional<TestHttpResponse> response = client.ReadResponse();
//   EXPECT_EQ(response->status, 200);
//
// Reads block; a receive timeout (30 s) only keeps a broken test from hanging.
// Not thread-safe: one thread per client.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fanout::testing {

struct TestHttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  // The first header with this (lower-case) name, or "" when absent.
  std::string Header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (key == name) return value;
    }
    return "";
  }
};

class TestHttpClient {
 public:
  explicit TestHttpClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{.tv_sec = 30, .tv_usec = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~TestHttpClient() { Close(); }
  TestHttpClient(const TestHttpClient&) = delete;
  TestHttpClient& operator=(const TestHttpClient&) = delete;

  bool connected() const { return connected_; }

  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // One whole response: Content-Length, chunked, or (with neither) to EOF.
  // `head_request`: a response to HEAD, which has no body whatever it says.
  std::optional<TestHttpResponse> ReadResponse(bool head_request = false) {
    std::optional<TestHttpResponse> response = ReadHead();
    if (!response) return std::nullopt;
    if (head_request || response->status == 204 || response->status == 304) return response;
    if (response->Header("transfer-encoding") == "chunked") {
      for (;;) {
        std::optional<std::string> chunk = ReadChunk();
        if (!chunk) return std::nullopt;
        if (chunk->empty()) return response;
        response->body += *chunk;
      }
    }
    std::string length = response->Header("content-length");
    if (!length.empty()) {
      if (!Fill(std::strtoul(length.c_str(), nullptr, 10))) return std::nullopt;
      response->body = Take(std::strtoul(length.c_str(), nullptr, 10));
      return response;
    }
    response->body = ReadToEof();
    return response;
  }

  // Status line and headers only (skipping any 100 Continue).
  std::optional<TestHttpResponse> ReadHead() {
    for (;;) {
      std::optional<std::string> head = ReadUntil("\r\n\r\n");
      if (!head) return std::nullopt;
      TestHttpResponse response;
      size_t line_end = head->find("\r\n");
      std::string status_line = head->substr(0, line_end);
      if (status_line.size() < 12) return std::nullopt;
      response.status = std::atoi(status_line.c_str() + 9);
      size_t pos = line_end + 2;
      while (pos < head->size()) {
        size_t end = std::min(head->find("\r\n", pos), head->size());
        std::string line = head->substr(pos, end - pos);
        pos = end + 2;
        size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        size_t value_start = line.find_first_not_of(' ', colon + 1);
        response.headers.emplace_back(
            name, value_start == std::string::npos ? "" : line.substr(value_start));
      }
      if (response.status != 100) return response;
    }
  }

  // One chunk of a chunked body; "" for the last (zero-size) chunk.
  std::optional<std::string> ReadChunk() {
    std::optional<std::string> size_line = ReadUntil("\r\n");
    if (!size_line) return std::nullopt;
    size_t size = std::strtoul(size_line->c_str(), nullptr, 16);
    if (!Fill(size + 2)) return std::nullopt;
    std::string chunk = Take(size);
    Take(2);
    return chunk;
  }

  // Everything until the server closes (or resets) the connection.
  std::string ReadToEof() {
    while (Receive()) {
    }
    return Take(buffer_.size());
  }

  // True when the server has closed: the next read sees EOF or a reset
  // rather than data (or the guard timeout).
  bool ServerClosed() { return !Receive() && !timed_out_; }

  // Raw bytes up to `delimiter` (which is consumed, not returned).
  std::optional<std::string> ReadUntil(std::string_view delimiter) {
    size_t found;
    while ((found = buffer_.find(delimiter)) == std::string::npos) {
      if (!Receive()) return std::nullopt;
    }
    std::string out = Take(found);
    Take(delimiter.size());
    return out;
  }

  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  // Appends what arrives; false at EOF, error or timeout.
  bool Receive() {
    char data[16384];
    ssize_t n = ::recv(fd_, data, sizeof(data), 0);
    timed_out_ = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    if (n <= 0) return false;
    buffer_.append(data, static_cast<size_t>(n));
    return true;
  }
  bool Fill(size_t size) {
    while (buffer_.size() < size) {
      if (!Receive()) return false;
    }
    return true;
  }
  std::string Take(size_t size) {
    std::string out = buffer_.substr(0, size);
    buffer_.erase(0, size);
    return out;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool timed_out_ = false;
  std::string buffer_;
};

}  // namespace fanout::testing
