// HttpServer: the node's HTTP/1.1 server (Boost.Beast on Asio), for the
// gateway's REST front door and the admin port.
//
// The handler is called on an I/O thread with an HttpExchange and must return
// quickly; it answers the exchange exactly once, then or later, from any
// thread: Reply() with a whole response, or StartStream/Write.../End for a
// chunked one. If the caller hangs up first, OnClientGone callbacks run, so the
// work done for it can be cancelled.
//
//   HttpServer server({.address = "0.0.0.0:8080", .threads = 2},
//                     [&](std::shared_ptr<HttpExchange> exchange) {
//                       exchange->OnClientGone([token] { token.Cancel(); });
//                       loops.Next().Post([exchange] {
//                         exchange->Reply({.status = 200, .body = R"({"ok": true})"});
//                       });
//                     });
//   FANOUT_RETURN_IF_ERROR(server.Start());
//   ... server.Stop();
//
// Connections: keep-alive, one request at a time (responses in order),
// spread round-robin over `threads` I/O threads, each with its own
// io_context; a connection never changes thread. The server itself answers
// what it cannot pass on, with a JSON body {"code": N, "message": "..."} and
// then closes: 400 malformed, 431 header section too large or too many
// headers, 413 body over the limit. A peer that closes, resets or stays
// silent past a timeout is just closed.
//
// HTTPS: the same server with Options::tls set; the TLS handshake (bounded by
// read_timeout) comes before the first request, and a client that speaks
// plaintext to it, or lacks a certificate an mTLS door requires, is closed.
//
// Memory is bounded by the Options: connections, header and body sizes, and
// the bytes a response may have queued for a slow reader (a whole Reply is
// always accepted; further stream chunks beyond max_pending_write_bytes drop
// the connection as if the client had gone).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "node/base/sync.h"
#include "node/base/tls_files.h"

namespace fanout {

struct HttpRequest {
  std::string method;  // "GET", as sent
  std::string target;  // raw request target, "/v1/users/7?x=1"
  std::string path;    // target before '?', not decoded
  std::string query;   // target after '?', "" if none
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::string body;
  bool keep_alive = true;
  int version = 11;  // 10 for HTTP/1.0, 11 for HTTP/1.1
  std::string peer;  // The client's address as the server saw it, "127.0.0.1" or "::1"

  // The first header with this name (case-insensitive), or "" when absent.
  std::string_view Header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";  // "" sends no Content-Type
  // Extra headers. The server owns the framing: Content-Length,
  // Transfer-Encoding and Connection given here are ignored, and so is any
  // header whose name or value could break the message (CR, LF, NUL).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// What an exchange hands to its connection, in the order the handler called.
// The server serialises and writes these; tests may record them instead.
struct HttpResponseEvent {
  enum class Kind {
    kReply,        // `response` is the whole response
    kStreamStart,  // `response` is the head; its body is ignored
    kChunk,        // `chunk` (never empty)
    kStreamEnd,    // the stream ended normally
    kAbort,        // the exchange was dropped mid-stream: close the connection
  };
  Kind kind = Kind::kReply;
  HttpResponse response;
  std::string chunk;
};
// Called under the exchange's lock, so events arrive in order; must not call
// back into the exchange.
using HttpResponseSink = std::function<void(HttpResponseEvent)>;

// One request/response exchange, always held by std::shared_ptr.
//
// Thread-safe. The handler answers exactly once: Reply(), or StartStream()
// then Write()s then End(). Calls that do not fit (a second Reply, Write
// before StartStream, anything after End) are ignored. Answering after the
// client has gone, or after the server has stopped, is a safe no-op.
//
// An exchange dropped unanswered makes the server answer 500 (a handler
// bug, logged); one dropped mid-stream closes the connection, so the client
// sees a truncated body rather than a complete one.
class HttpExchange {
 public:
  HttpExchange(HttpRequest request, HttpResponseSink sink);
  ~HttpExchange();
  HttpExchange(const HttpExchange&) = delete;
  HttpExchange& operator=(const HttpExchange&) = delete;

  const HttpRequest& request() const { return request_; }

  // Sends the whole response. HEAD requests get the head only.
  void Reply(HttpResponse response);

  // Streaming (Transfer-Encoding: chunked; for an HTTP/1.0 client the body
  // runs to connection close): the status line and headers (head.body is
  // ignored), then any number of Write(chunk), then End(). Empty chunks are
  // skipped. Each Write is queued until the client takes it; see the
  // header comment for the bound.
  void StartStream(HttpResponse head);
  void Write(std::string chunk);
  void End();

  // Headers every answer of this exchange carries, whoever sends it (Reply
  // or StartStream, an error or not): rate-limit and CORS headers decided
  // before the request runs. Call before answering.
  void AddResponseHeaders(const std::vector<std::pair<std::string, std::string>>& headers);

  // `fn` runs once, on the connection's I/O thread, if the client closes the
  // connection (or the server stops) before the response has been completely
  // written; at once, on the calling thread, if that already happened; never
  // once the response is written. Keep it short: it runs on an I/O thread.
  void OnClientGone(std::function<void()> fn);
  bool client_gone() const;

  // `fn(head)` runs once, when the response is complete, before it goes to
  // the client: after Reply, after End of a stream (with the stream's head),
  // or when a stream is abandoned or the exchange dropped unanswered (with
  // what was sent). Every registered `fn` runs, in order. For telemetry and
  // bookkeeping: it runs under the exchange's lock and must not call back
  // into it.
  void OnAnswered(std::function<void(const HttpResponse& head)> fn);

  // Server side (the connection's I/O thread calls these; tests may call them
  // to play the client): the client went away / the response is fully written.
  void MarkClientGone();
  void MarkResponseWritten();

 private:
  enum class Phase { kAwaiting, kStreaming, kAnswered };

  void Emit(HttpResponseEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Answered(const HttpResponse& head) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const HttpRequest request_;
  mutable Mutex mu_;
  HttpResponseSink sink_ ABSL_GUARDED_BY(mu_);
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kAwaiting;
  bool gone_ ABSL_GUARDED_BY(mu_) = false;
  bool written_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::function<void()>> on_gone_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(const HttpResponse&)>> on_answered_ ABSL_GUARDED_BY(mu_);
  HttpResponse stream_head_ ABSL_GUARDED_BY(mu_);  // Status and headers of a stream.
  std::vector<std::pair<std::string, std::string>> extra_headers_ ABSL_GUARDED_BY(mu_);
};

using HttpHandler = std::function<void(std::shared_ptr<HttpExchange>)>;

// Thread-safe: Start, Stop and port from one controlling thread (not an I/O
// thread); the handler runs on the I/O threads.
class HttpServer {
 public:
  struct Options {
    std::string address = "127.0.0.1:0";  // host:port, IPv4 or [IPv6]
    int threads = 1;  // I/O threads, each with its own io_context; connections round-robin
    size_t max_header_bytes = 8 * 1024;               // start line + headers; 431 beyond
    int max_headers = 100;                            // 431 beyond
    size_t max_body_bytes = 1 << 20;                  // 413 beyond
    absl::Duration read_timeout = absl::Seconds(10);  // to receive one whole request
    absl::Duration idle_timeout = absl::Seconds(60);  // keep-alive connection with no request
    int max_connections = 10000;                      // accepted beyond this are closed at once
    // Requests one connection may carry: the answer to the last carries
    // Connection: close, so keep-alive clients reconnect (and a load
    // balancer spreads them anew). 0: no limit.
    int max_requests_per_connection = 0;
    // A client that takes no bytes of a pending write for this long is dropped.
    absl::Duration write_timeout = absl::Seconds(30);
    // Response bytes queued for one connection beyond which further stream
    // chunks drop it (as if the client had gone). A whole Reply always fits.
    size_t max_pending_write_bytes = 4 << 20;
    // HTTPS when tls.cert_file is set (HTTP/1.1 over TLS 1.2/1.3, mTLS with
    // ca_file and require_client_cert); the files are checked every
    // tls.reload_interval and a changed certificate is served to new
    // connections. Default: plaintext.
    TlsOptions tls;
  };

  HttpServer(Options options, HttpHandler handler);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the I/O threads. INVALID_ARGUMENT for a bad
  // address or option (a TLS file that is missing or does not load names it), UNAVAILABLE when it
  // cannot listen; both name the address. FAILED_PRECONDITION when called twice.
  absl::Status Start();
  // The bound port (useful with port 0), after Start.
  int port() const;
  // The first step of a graceful stop: no new connections (the listening
  // socket closes: a client connecting now is refused and tries another
  // replica), and every answer from now on carries `Connection: close`, so
  // keep-alive clients leave after their request in flight. Requests
  // already read are served as usual. Idempotent.
  void BeginDrain();
  // Waits until no request is being served (each read request answered and
  // written, or its client gone), or `deadline`. True when idle.
  bool AwaitIdle(absl::Time deadline);
  // Stops accepting, closes every connection (firing OnClientGone of the
  // exchanges in flight) and joins the threads. Idempotent. Exchanges still
  // held elsewhere stay valid; answering them is a no-op.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fanout
