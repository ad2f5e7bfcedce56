#include "node/http/http_wire.h"  // first: its <utility> must precede Boost (g++ 12)

#include <boost/beast/http/status.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "node/base/json_string.h"
#include "node/base/log.h"

namespace fanout::http_internal {
namespace {

namespace http = boost::beast::http;

// RFC 9110 token characters: what a header name may contain.
bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsValidName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// A value that cannot end the header line early or smuggle another one.
bool IsSafeValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// The server writes these itself; a handler's copy would contradict it.
bool IsFramingHeader(absl::string_view name) {
  return absl::EqualsIgnoreCase(name, "content-length") ||
         absl::EqualsIgnoreCase(name, "transfer-encoding") ||
         absl::EqualsIgnoreCase(name, "connection");
}

int CheckedStatus(int status) {
  if (status >= 100 && status <= 599) return status;
  FANOUT_LOG(WARNING) << "HTTP handler answered status " << status << "; sending 500";
  return 500;
}

bool StatusHasNoBody(int status) { return status < 200 || status == 204 || status == 304; }

// Status line, Content-Type and the handler's headers; framing comes after.
void AppendHeadStart(const HttpResponse& response, int status, std::string* out) {
  auto reason = http::obsolete_reason(static_cast<http::status>(status));
  absl::StrAppend(out, "HTTP/1.1 ", status, " ", absl::string_view(reason.data(), reason.size()),
                  "\r\n");
  if (!response.content_type.empty() && IsSafeValue(response.content_type)) {
    absl::StrAppend(out, "Content-Type: ", response.content_type, "\r\n");
  }
  for (const auto& [name, value] : response.headers) {
    if (!IsValidName(name) || !IsSafeValue(value) || IsFramingHeader(name)) continue;
    absl::StrAppend(out, name, ": ", value, "\r\n");
  }
}

void AppendConnection(bool keep_alive, const HttpFraming& framing, std::string* out) {
  if (!keep_alive) {
    absl::StrAppend(out, "Connection: close\r\n");
  } else if (framing.http10) {
    absl::StrAppend(out, "Connection: keep-alive\r\n");
  }
}

std::string SerializeStreamHead(const HttpResponse& head, const HttpFraming& framing) {
  std::string out;
  AppendHeadStart(head, CheckedStatus(head.status), &out);
  if (framing.chunked) absl::StrAppend(&out, "Transfer-Encoding: chunked\r\n");
  AppendConnection(framing.keep_alive && framing.chunked, framing, &out);
  absl::StrAppend(&out, "\r\n");
  return out;
}

std::string SerializeChunk(absl::string_view chunk, const HttpFraming& framing) {
  if (framing.head) return "";
  if (!framing.chunked) return std::string(chunk);
  return absl::StrCat(absl::Hex(chunk.size()), "\r\n", chunk, "\r\n");
}

}  // namespace

HttpFraming FramingFor(const HttpRequest& request) {
  return {.head = request.method == "HEAD",
          .keep_alive = request.keep_alive,
          .chunked = request.version >= 11,
          .http10 = request.version < 11};
}

std::string SerializeResponse(const HttpResponse& response, const HttpFraming& framing) {
  int status = CheckedStatus(response.status);
  bool no_body = StatusHasNoBody(status);
  std::string out;
  out.reserve(128 + response.body.size());
  AppendHeadStart(response, status, &out);
  if (!no_body) absl::StrAppend(&out, "Content-Length: ", response.body.size(), "\r\n");
  AppendConnection(framing.keep_alive, framing, &out);
  absl::StrAppend(&out, "\r\n");
  if (!no_body && !framing.head) out += response.body;
  return out;
}

ResponsePiece SerializeEvent(HttpResponseEvent event, const HttpFraming& framing) {
  using Kind = HttpResponseEvent::Kind;
  switch (event.kind) {
    case Kind::kReply:
      return {SerializeResponse(event.response, framing), true, !framing.keep_alive};
    case Kind::kStreamStart:
      return {SerializeStreamHead(event.response, framing), false, false};
    case Kind::kChunk:
      return {SerializeChunk(event.chunk, framing), false, false};
    case Kind::kStreamEnd:
      return {framing.chunked && !framing.head ? "0\r\n\r\n" : "", true,
              !framing.keep_alive || !framing.chunked};
    case Kind::kAbort:
      break;
  }
  return {"", true, true};
}

std::string JsonErrorBody(int code, absl::string_view message) {
  std::string quoted;
  AppendJsonString(message, &quoted);
  return absl::StrCat("{\"code\": ", code, ", \"message\": ", quoted, "}\n");
}

HttpResponse JsonError(int code, absl::string_view message) {
  return {.status = code, .body = JsonErrorBody(code, message)};
}

absl::StatusOr<std::pair<std::string, int>> SplitHostPort(absl::string_view address) {
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP address \"", address, "\" ", why, "; expected host:port or [v6]:port"));
  };
  size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) return invalid("has no port");
  absl::string_view host = address.substr(0, colon);
  int port = -1;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return invalid("has no valid port (0-65535)");
  }
  if (absl::StartsWith(host, "[")) {
    if (!absl::EndsWith(host, "]")) return invalid("has an unclosed '['");
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != absl::string_view::npos) {
    return invalid("has an IPv6 host without brackets");
  }
  if (host.empty()) return invalid("has no host");
  return std::make_pair(std::string(host), port);
}

}  // namespace fanout::http_internal
