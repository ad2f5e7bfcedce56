// The bytes HttpServer writes: response heads, bodies and chunks, and the JSON
// error bodies it answers with. Pure functions, no I/O: the exchange's sink
// serialises on the answering thread, the I/O thread only writes.
//
//   HttpFraming framing = FramingFor(request);
//   ResponsePiece piece = SerializeEvent(std::move(event), framing);
//   // piece.bytes go on the wire; piece.last ends the response;
//   // piece.close closes the connection after it.
//
// Thread-safe (no shared state).
#pragma once

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node/http/http_server.h"

namespace fanout::http_internal {

// How responses to one request are framed.
struct HttpFraming {
  bool head = false;       // a HEAD request: heads only, no body bytes
  bool keep_alive = true;  // the client wants the connection kept
  bool chunked = true;     // streams are chunked (HTTP/1.1); else they run to close
  bool http10 = false;     // the client spoke HTTP/1.0
};
HttpFraming FramingFor(const HttpRequest& request);

// Bytes for the wire, in order.
struct ResponsePiece {
  std::string bytes;
  bool last = false;   // the response is complete after these bytes
  bool close = false;  // close the connection after the response
};
ResponsePiece SerializeEvent(HttpResponseEvent event, const HttpFraming& framing);

// A whole response with Content-Length (no body bytes for HEAD, 1xx, 204, 304).
std::string SerializeResponse(const HttpResponse& response, const HttpFraming& framing);

// {"code": 413, "message": "..."} with the message JSON-escaped.
std::string JsonErrorBody(int code, absl::string_view message);
HttpResponse JsonError(int code, absl::string_view message);

// "host:port" or "[v6]:port" → {host, port}. INVALID_ARGUMENT naming `address`.
absl::StatusOr<std::pair<std::string, int>> SplitHostPort(absl::string_view address);

}  // namespace fanout::http_internal
