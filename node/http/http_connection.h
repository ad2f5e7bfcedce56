// HttpServer's inside: I/O workers (a thread and an io_context each) and the
// connections they run. Not for use outside node/http/.
//
// A Connection is one coroutine on its worker's thread: (over TLS, finish the
// handshake,) read a request, hand an HttpExchange to the handler, write what
// the exchange's sink posts back, repeat. One template over the stream, so
// HTTP and HTTPS share every line of the HTTP logic. Everything but the sink runs on that one
// thread, so the connection needs no locks; the sink reaches it only through IoPoster and a
// weak_ptr, which makes late answers (after the client or the server went) no-ops, and,
// over plaintext, through DirectAnswer, which lets it send a whole answer itself.
#pragma once

#include <utility>
// ^ before Boost: Asio 1.74 needs std::exchange from it under g++ 12.
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "node/base/sync.h"
#include "node/http/http_request_reader.h"
#include "node/http/http_server.h"
#include "node/http/http_wire.h"
#include "node/http/io_poster.h"

namespace fanout::http_internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// What every connection of one server shares. Outlives the workers.
struct ServerContext {
  HttpServer::Options options;
  HttpHandler handler;
  std::atomic<int> connections{0};
  std::atomic<bool> stopping{false};
  // Draining: answers carry Connection: close (HttpServer::BeginDrain).
  // Shared with the response sinks, which may outlive the server.
  std::shared_ptr<std::atomic<bool>> draining = std::make_shared<std::atomic<bool>>(false);
  // Requests read and not yet wholly written back (HttpServer::AwaitIdle).
  Mutex exchanges_mu;
  CondVar exchanges_idle;
  int exchanges ABSL_GUARDED_BY(exchanges_mu) = 0;
};

// What a worker needs of a connection of either kind.
class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  // Closes now; an exchange in flight sees its client gone. Idempotent.
  virtual void Drop() = 0;
};

// How the answering thread writes a plaintext response itself, sparing the
// I/O thread a wake-up per request (the REST door's loop answers most
// requests with one complete piece that the socket takes at once):
//
//   I/O thread                              answering thread (the sink)
//   Arm(fd, seq) before the handler runs    Send(seq, piece): under the lock, a
//   parks, watching the socket              complete keep-alive piece for the armed
//                                           exchange goes out by a non-blocking
//                                           send(); taken only if the socket took
//                                           all of it, else the I/O thread writes
//                                           it (or the rest) as before
//   learns of it (Take) when the client sends its next request or closes, when
//   its parked wait times out, or at once if it was not watching (Send then
//   says so: the sink posts a wake-up).
//
// The exchange stops counting towards HttpServer::AwaitIdle when its answer
// is sent. Disarm() before the socket closes: an armed fd is always open.
// Thread-safe.
class DirectAnswer {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Sent { kNo, kYes, kYesWakeIo };

  void Arm(int fd, uint64_t seq, bool io_watching, ServerContext* counted);
  Sent Send(uint64_t seq, ResponsePiece* piece);
  // The I/O thread saw the client send more: whether it must be woken later.
  // True: the exchange was answered already; Take() it.
  bool NoteNotWatching();
  // True (with when) once, if the armed exchange was answered by Send.
  bool Take(Clock::time_point* answered_at);
  void Disarm();
  // Whether this exchange is still counted (and stops counting it).
  bool Uncount();

 private:
  Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_) = -1;  // -1: disarmed, Send declines
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool io_watching_ ABSL_GUARDED_BY(mu_) = false;
  bool answered_ ABSL_GUARDED_BY(mu_) = false;
  Clock::time_point answered_at_ ABSL_GUARDED_BY(mu_);
  ServerContext* counted_ ABSL_GUARDED_BY(mu_) = nullptr;  // still in server->exchanges
};

// One I/O thread with its io_context and the connections on it.
// Thread-safe: Start/BeginStop/Join from the controlling thread; Register and
// Unregister on the worker's thread (or after Join).
class IoWorker {
 public:
  explicit IoWorker(ServerContext* server);
  ~IoWorker();
  IoWorker(const IoWorker&) = delete;
  IoWorker& operator=(const IoWorker&) = delete;

  asio::io_context& io() { return io_; }
  ServerContext& server() { return *server_; }
  const std::shared_ptr<IoPoster>& poster() const { return poster_; }

  void Start();
  // Drops every connection (their exchanges see the client gone) and lets
  // the thread finish once the connections have wound down.
  void BeginStop();
  void Join();

  // False once stopping: the caller closes instead.
  bool Register(ConnectionBase* connection);
  void Unregister(ConnectionBase* connection);

 private:
  void DropAll();

  ServerContext* server_;
  // Declared before io_: connections still queued in io_ unregister when it
  // destroys them.
  absl::flat_hash_set<ConnectionBase*> live_;
  bool stopping_ = false;
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::shared_ptr<IoPoster> poster_;
  std::thread thread_;
};

// Loop-affine (its worker's thread), except that the sinks it gives its
// exchanges are thread-safe. `Stream` is PlainStream or TlsStream (whose
// `tls` context, shared with the connections accepted before and after a
// certificate reload, is held for the connection's life).
//
// Over TLS, the connection notices a client that hangs up mid-request when
// its TCP connection closes; the TLS close_notify before it looks like the
// next request's bytes, so that notice may come only at the write.
template <typename Stream>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  Connection(tcp::socket socket, IoWorker* worker,
             std::shared_ptr<asio::ssl::context> tls = nullptr);
  ~Connection() override;

  static asio::awaitable<void> Run(std::shared_ptr<Connection> self);

  void Drop() override;

 private:
  asio::awaitable<void> Serve();
  asio::awaitable<RequestRead> ReadRequest(RequestParser& parser, bool first);
  asio::awaitable<bool> Answer(http::request<http::string_body> request);
  asio::awaitable<bool> WriteResponse();
  asio::awaitable<bool> WriteAll(std::vector<asio::const_buffer> buffers, bool last);
  asio::awaitable<void> Reject(const RequestRead& rejection);
  asio::awaitable<void> Linger();
  // The request being answered is the last max_requests_per_connection allows.
  bool AtRequestLimit() const;

  HttpResponseSink MakeSink(const HttpFraming& framing);
  void Enqueue(uint64_t seq, ResponsePiece piece);

  void Watch();
  void OnReadable(const beast::error_code& error, uint64_t generation);
  void StopWatching();
  // The I/O thread's side of DirectAnswer: true if the exchange was answered
  // by its sink (then marked written, and the idle time counts from then).
  bool TakeDirectAnswer();

  const HttpServer::Options& options() const { return worker_->server().options; }
  Stream MakeStream(tcp::socket socket);
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }
  tcp::socket& socket() { return lowest().socket(); }

  IoWorker* worker_;
  std::string peer_;                         // The client's address, without the port.
  std::shared_ptr<asio::ssl::context> tls_;  // null for PlainStream
  Stream stream_;
  beast::flat_buffer buffer_;
  // Parks WriteResponse until the sink queues something or the client goes.
  asio::steady_timer wake_;
  std::deque<ResponsePiece> outbox_;
  // Plaintext connections only; shared with the sinks.
  std::shared_ptr<DirectAnswer> direct_;
  // When the connection last went idle, if not at the end of its last read
  // (a response written by its sink): the idle timeout counts from then.
  std::optional<DirectAnswer::Clock::time_point> idle_since_;
  size_t unwritten_bytes_ = 0;  // queued plus being written
  // Of the exchange in flight (stale pieces are dropped): the requests read so far.
  uint64_t seq_ = 0;
  std::weak_ptr<HttpExchange> exchange_;
  bool gone_ = false;
  uint64_t watch_generation_ = 0;  // a completion from an older watch is ignored
  bool watching_ = false;
  // The response's last bytes are being written. A client that hangs up now
  // has most likely read them already (its close can overtake our write's
  // completion): the write's outcome decides whether it left early.
  bool writing_last_ = false;
  bool peer_closed_ = false;
};

}  // namespace fanout::http_internal
