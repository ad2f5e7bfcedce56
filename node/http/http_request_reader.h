// Reading one HTTP/1.1 request: the parser's limits, what a read error
// means for the client (close quietly, or 400/413/431 naming the limit),
// and the request handed to handlers. Connection reads from its socket with
// these; ReadRequestFrom runs the same steps over bytes in memory, for tests
// and the fuzzer (tests/fuzz/http_request_fuzzer.cc).
//
//   std::string_view bytes = "GET /v1/users/7 HTTP/1.1\r\nHost: a\r\n\r\n";
//   HttpRequest request;
//   RequestRead read = ReadRequestFrom(&bytes, options, &request);
//   // read.outcome == kRequest; `bytes` now holds what followed the request.
//
// Not for use outside node/http/. Thread-safe (no shared state).
#pragma once

#include <utility>
// ^ before Boost: Asio 1.74 needs std::exchange from it under g++ 12.
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <string>
#include <string_view>

#include "node/http/http_server.h"

namespace fanout::http_internal {

namespace beast = boost::beast;

using RequestParser = beast::http::request_parser<beast::http::string_body>;

// What reading a request came to.
struct RequestRead {
  enum class Outcome { kRequest, kClose, kReject } outcome = Outcome::kRequest;
  int status = 0;  // for kReject: 400, 413 or 431
  std::string message;
};

// The server's header and body limits on a fresh parser.
void LimitParser(const HttpServer::Options& options, RequestParser* parser);

// After the header (`header_bytes` of it, start line to blank line), and
// again after the body: 431 when it has more fields or bytes than the
// server takes. Beast's header_limit bounds the start line and the fields
// each, not together, and a chunked body's trailer fields join the header's.
RequestRead CheckHeader(const RequestParser& parser, size_t header_bytes,
                        const HttpServer::Options& options);

// A read that failed: kClose when there is nobody to tell (closed, reset,
// timed out, stopped mid-request); else a rejection naming the limit or the
// malformation.
RequestRead ClassifyReadError(const beast::error_code& error, const HttpServer::Options& options);

// The parsed request as handlers see it (header names lower-cased).
HttpRequest ToHttpRequest(beast::http::request<beast::http::string_body>&& request);

// One request from the front of `bytes`, as Connection reads it from a socket
// whose peer sent `bytes` and then closed; `bytes` is left holding what
// follows the request (the next pipelined one). Fills `request` on kRequest.
RequestRead ReadRequestFrom(std::string_view* bytes, const HttpServer::Options& options,
                            HttpRequest* request);

}  // namespace fanout::http_internal
