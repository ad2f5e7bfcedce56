// libFuzzer target: the HTTP/1.1 request reader (node/http/http_request_reader.h)
// on arbitrary bytes from a client that then closes, read request after
// request as a keep-alive connection reads them.
//
// Properties: every read ends in a request, a quiet close (the bytes ran out
// mid-request) or a rejection of 400, 413 or 431 with a message; a request
// keeps to the limits (fields, body bytes, header section bytes), consumes
// bytes it was given and no more, has a method, a target whose path is its
// prefix, version 1.0 or 1.1, and lower-case header names.
//
// Fuzz for real:  bash tests/fuzz/fuzz.sh http_request build 600
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "node/http/http_request_reader.h"
#include "tests/fuzz/fuzz_target.h"

namespace fanout::fuzz {
namespace {

using http_internal::RequestRead;

[[noreturn]] void Broken(const char* what, const std::string& detail) {
  fuzz::Broken("http_request", what, detail);
}

void CheckRequest(const HttpRequest& request, std::string_view consumed,
                  const HttpServer::Options& options) {
  if (consumed.empty()) Broken("a request consumed no bytes", request.target);
  if (request.headers.size() > static_cast<size_t>(options.max_headers)) {
    Broken("more header fields than max_headers", absl::StrCat(request.headers.size()));
  }
  if (request.body.size() > options.max_body_bytes) {
    Broken("a body past max_body_bytes", absl::StrCat(request.body.size()));
  }
  if (request.method.empty() || request.target.empty()) Broken("no method or target", "");
  if (!absl::StartsWith(request.target, request.path))
    Broken("path is not in target", request.path);
  if (request.version != 10 && request.version != 11) {
    Broken("a version other than 1.0 or 1.1", absl::StrCat(request.version));
  }
  for (const auto& [name, value] : request.headers) {
    if (name != absl::AsciiStrToLower(name)) Broken("a header name is not lower-case", name);
  }
  // The header section ends at the first blank line; it is within the limit.
  size_t head = consumed.find("\r\n\r\n");
  if (head == std::string_view::npos) Broken("a request without a blank line", request.target);
  if (head + 4 > options.max_header_bytes) {
    Broken("a header section past max_header_bytes", absl::StrCat(head + 4));
  }
}

}  // namespace

int FuzzHttpRequest(const uint8_t* data, size_t size) {
  // Tight limits, so the fuzzer reaches them.
  HttpServer::Options options;
  options.max_header_bytes = 1024;
  options.max_headers = 12;
  options.max_body_bytes = 2048;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (int i = 0; i < 16 && !bytes.empty(); ++i) {
    std::string_view before = bytes;
    HttpRequest request;
    RequestRead read = http_internal::ReadRequestFrom(&bytes, options, &request);
    if (bytes.size() > before.size() ||
        bytes.data() + bytes.size() != before.data() + before.size()) {
      Broken("the rest is not a suffix of the input", "");
    }
    std::string_view consumed = before.substr(0, before.size() - bytes.size());
    switch (read.outcome) {
      case RequestRead::Outcome::kRequest:
        CheckRequest(request, consumed, options);
        if (!request.keep_alive) return 0;  // the server answers and closes
        break;
      case RequestRead::Outcome::kClose:
        return 0;
      case RequestRead::Outcome::kReject:
        if ((read.status != 400 && read.status != 413 && read.status != 431) ||
            read.message.empty()) {
          Broken("a rejection that is not 400, 413 or 431 with a message",
                 absl::StrCat(read.status, " ", read.message));
        }
        return 0;
    }
  }
  return 0;
}

}  // namespace fanout::fuzz

FANOUT_FUZZ_ENTRY(fanout::fuzz::FuzzHttpRequest)
