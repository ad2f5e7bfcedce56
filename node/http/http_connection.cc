#include "node/http/http_connection.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "node/base/log.h"
#include "node/base/this_thread.h"

namespace fanout::http_internal {
namespace {

constexpr size_t kReadChunk = 4096;
// After an error response the rest of the request is read and dropped for a
// while, so closing does not reset the connection before the client has read
// why (a close with unread input sends RST, which can discard the response).
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr size_t kLingerBytes = 1 << 20;

std::chrono::nanoseconds ToChrono(absl::Duration d) {
  return std::chrono::nanoseconds(absl::ToInt64Nanoseconds(d));
}

// Drops the first `n` bytes of a buffer sequence.
void Consume(std::vector<asio::const_buffer>* buffers, size_t n) {
  auto it = buffers->begin();
  for (; it != buffers->end() && n >= it->size(); ++it) n -= it->size();
  if (it != buffers->end()) *it += n;
  buffers->erase(buffers->begin(), it);
}

bool ExpectsContinue(const http::request<http::string_body>& request) {
  auto expect = request[http::field::expect];
  return request.version() >= 11 &&
         absl::EqualsIgnoreCase(absl::string_view(expect.data(), expect.size()), "100-continue");
}

// The exchange is wholly written, or over without being written.
void ExchangeEnded(ServerContext& server) {
  MutexLock lock(&server.exchanges_mu);
  if (--server.exchanges == 0) server.exchanges_idle.SignalAll();
}

}  // namespace

// --- DirectAnswer -------------------------------------------------------------

void DirectAnswer::Arm(int fd, uint64_t seq, bool io_watching, ServerContext* counted) {
  MutexLock lock(&mu_);
  fd_ = fd;
  seq_ = seq;
  io_watching_ = io_watching;
  answered_ = false;
  counted_ = counted;
}

DirectAnswer::Sent DirectAnswer::Send(uint64_t seq, ResponsePiece* piece) {
  ServerContext* uncount = nullptr;
  bool wake_io = false;
  {
    MutexLock lock(&mu_);
    if (fd_ < 0 || seq != seq_) return Sent::kNo;
    // Whatever happens now, the rest of this exchange goes by the I/O thread.
    int fd = std::exchange(fd_, -1);
    if (!piece->last || piece->close) return Sent::kNo;
    ssize_t n = ::send(fd, piece->bytes.data(), piece->bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 || static_cast<size_t>(n) < piece->bytes.size()) {
      // Full, or failing: the I/O thread writes the rest (or finds the error).
      if (n > 0) piece->bytes.erase(0, static_cast<size_t>(n));
      return Sent::kNo;
    }
    answered_ = true;
    answered_at_ = Clock::now();
    uncount = std::exchange(counted_, nullptr);
    wake_io = !io_watching_;
  }
  if (uncount != nullptr) ExchangeEnded(*uncount);
  return wake_io ? Sent::kYesWakeIo : Sent::kYes;
}

bool DirectAnswer::NoteNotWatching() {
  MutexLock lock(&mu_);
  io_watching_ = false;
  return answered_;
}

bool DirectAnswer::Take(Clock::time_point* answered_at) {
  MutexLock lock(&mu_);
  if (!answered_) return false;
  answered_ = false;
  *answered_at = answered_at_;
  return true;
}

void DirectAnswer::Disarm() {
  MutexLock lock(&mu_);
  fd_ = -1;
}

bool DirectAnswer::Uncount() {
  MutexLock lock(&mu_);
  return std::exchange(counted_, nullptr) != nullptr;
}

// --- IoWorker ---------------------------------------------------------------

IoWorker::IoWorker(ServerContext* server)
    : server_(server),
      work_(asio::make_work_guard(io_)),
      poster_(std::make_shared<IoPoster>(&io_)) {}

IoWorker::~IoWorker() {
  // Before io_ goes: late answers must stop reaching it.
  poster_->Close();
}

void IoWorker::Start() {
  thread_ = std::thread([this] {
    NameThisThread("http-io");
    // Under load, a request read here waits for the loop's turn instead of
    // cutting into it: fewer context switches, more read per wake-up.
    if (!YieldOnWakeup()) FANOUT_LOG(WARNING) << "http-io: the kernel refused SCHED_BATCH";
    io_.run();
  });
}

void IoWorker::BeginStop() {
  asio::post(io_, [this] {
    DropAll();
    work_.reset();  // run() returns once the dropped connections have wound down
  });
}

void IoWorker::Join() {
  if (thread_.joinable()) thread_.join();
  poster_->Close();
}

bool IoWorker::Register(ConnectionBase* connection) {
  if (stopping_) return false;
  live_.insert(connection);
  return true;
}

void IoWorker::Unregister(ConnectionBase* connection) { live_.erase(connection); }

void IoWorker::DropAll() {
  stopping_ = true;
  // Drop() runs OnClientGone callbacks; iterate over a copy.
  std::vector<ConnectionBase*> live(live_.begin(), live_.end());
  for (ConnectionBase* connection : live) connection->Drop();
}

// --- Connection: the request loop -------------------------------------------

template <typename Stream>
Connection<Stream>::Connection(tcp::socket socket, IoWorker* worker,
                               std::shared_ptr<asio::ssl::context> tls)
    : worker_(worker),
      tls_(std::move(tls)),
      stream_(MakeStream(std::move(socket))),
      wake_(worker->io()) {
  if constexpr (!kTls) direct_ = std::make_shared<DirectAnswer>();
  worker_->server().connections.fetch_add(1);
  boost::system::error_code error;
  asio::ip::address address = lowest().socket().remote_endpoint(error).address();
  if (!error) {
    // An IPv4 client of a dual-stack socket reads as itself, not ::ffff:a.b.c.d.
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
      address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    }
    peer_ = address.to_string();
  }
}

template <typename Stream>
Connection<Stream>::~Connection() {
  if (direct_ != nullptr) direct_->Disarm();  // before the socket closes
  worker_->Unregister(this);
  worker_->server().connections.fetch_sub(1);
}

template <typename Stream>
asio::awaitable<void> Connection<Stream>::Run(std::shared_ptr<Connection> self) {
  if (!self->worker_->Register(self.get())) {
    self->Drop();
    co_return;
  }
  beast::error_code error;
  // Lets OnReadable peek without blocking; async operations are unaffected.
  self->socket().non_blocking(true, error);
  if constexpr (kTls) {
    // A client that does not finish its handshake in time (or speaks
    // plaintext to this door) is closed without a word.
    self->lowest().expires_after(ToChrono(self->options().read_timeout));
    co_await self->stream_.async_handshake(asio::ssl::stream_base::server,
                                           asio::redirect_error(asio::use_awaitable, error));
    self->lowest().expires_never();
    if (error) {
      FANOUT_LOG(DEBUG) << "HTTPS handshake failed: " << error.message();
      self->Drop();
      co_return;
    }
  }
  co_await self->Serve();
  if (!self->gone_) {
    self->socket().shutdown(tcp::socket::shutdown_send, error);
    self->Drop();
  }
}

template <typename Stream>
asio::awaitable<void> Connection<Stream>::Serve() {
  for (bool first = true; !gone_; first = false) {
    RequestParser parser;
    LimitParser(options(), &parser);
    RequestRead read = co_await ReadRequest(parser, first);
    if (read.outcome == RequestRead::Outcome::kClose) co_return;
    if (read.outcome == RequestRead::Outcome::kReject) {
      co_await Reject(read);
      co_return;
    }
    if (!co_await Answer(parser.release())) {
      // Closed at the request limit, the client may have sent its next
      // request already: read it away first, or closing resets the
      // connection and can discard the answer just written.
      if (!gone_ && AtRequestLimit()) co_await Linger();
      co_return;
    }
  }
}

template <typename Stream>
bool Connection<Stream>::AtRequestLimit() const {
  int limit = options().max_requests_per_connection;
  return limit > 0 && seq_ >= static_cast<uint64_t>(limit);
}

template <typename Stream>
asio::awaitable<RequestRead> Connection<Stream>::ReadRequest(RequestParser& parser, bool first) {
  auto token = [](beast::error_code& error) {
    return asio::redirect_error(asio::use_awaitable, error);
  };
  beast::error_code error;
  if (!first && buffer_.size() == 0) {
    // Between requests the idle timeout applies; the read timeout starts
    // with the first byte of the next one.
    auto idle_since = std::exchange(idle_since_, std::nullopt);
    lowest().expires_at(idle_since.value_or(DirectAnswer::Clock::now()) +
                        ToChrono(options().idle_timeout));
    size_t n = co_await stream_.async_read_some(buffer_.prepare(kReadChunk), token(error));
    if (error) co_return ClassifyReadError(error, options());
    buffer_.commit(n);
  }
  lowest().expires_after(ToChrono(options().read_timeout));
  size_t header_bytes = co_await http::async_read_header(stream_, buffer_, parser, token(error));
  if (error) co_return ClassifyReadError(error, options());
  if (RequestRead checked = CheckHeader(parser, header_bytes, options());
      checked.outcome != RequestRead::Outcome::kRequest) {
    co_return checked;
  }
  if (!parser.is_done() && ExpectsContinue(parser.get())) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    co_await asio::async_write(stream_, asio::buffer(kContinue), token(error));
    if (error) co_return ClassifyReadError(error, options());
  }
  if (!parser.is_done()) co_await http::async_read(stream_, buffer_, parser, token(error));
  if (error) co_return ClassifyReadError(error, options());
  if (RequestRead checked = CheckHeader(parser, header_bytes, options());
      checked.outcome != RequestRead::Outcome::kRequest) {
    co_return checked;
  }
  lowest().expires_never();
  co_return RequestRead{};
}

template <typename Stream>
asio::awaitable<void> Connection<Stream>::Reject(const RequestRead& rejection) {
  FANOUT_LOG(DEBUG) << "HTTP " << rejection.status << ": " << rejection.message;
  std::string bytes = SerializeResponse(JsonError(rejection.status, rejection.message),
                                        HttpFraming{.keep_alive = false});
  lowest().expires_after(ToChrono(options().write_timeout));
  beast::error_code error;
  co_await asio::async_write(stream_, asio::buffer(bytes),
                             asio::redirect_error(asio::use_awaitable, error));
  if (!error) co_await Linger();
}

template <typename Stream>
asio::awaitable<void> Connection<Stream>::Linger() {
  beast::error_code error;
  socket().shutdown(tcp::socket::shutdown_send, error);
  lowest().expires_after(kLingerTime);
  std::array<char, kReadChunk> discard;
  for (size_t total = 0; !error && !gone_ && total < kLingerBytes;) {
    total += co_await stream_.async_read_some(asio::buffer(discard),
                                              asio::redirect_error(asio::use_awaitable, error));
  }
}

// --- Connection: one exchange -------------------------------------------------

template <typename Stream>
asio::awaitable<bool> Connection<Stream>::Answer(http::request<http::string_body> request) {
  HttpRequest converted = ToHttpRequest(std::move(request));
  converted.peer = peer_;
  HttpFraming framing = FramingFor(converted);
  ++seq_;
  if (AtRequestLimit()) framing.keep_alive = false;
  ServerContext& server = worker_->server();
  {
    MutexLock lock(&server.exchanges_mu);
    ++server.exchanges;
  }
  // However the exchange ends (written, client gone, connection dropped),
  // unless its sink answered it directly and stopped counting it then.
  struct Done {
    ServerContext& server;
    DirectAnswer* direct;
    ~Done() {
      if (direct == nullptr || direct->Uncount()) ExchangeEnded(server);
    }
  } done{server, direct_.get()};
  auto exchange = std::make_shared<HttpExchange>(std::move(converted), MakeSink(framing));
  exchange_ = exchange;
  // Bytes already buffered are a pipelined request: the client is there.
  bool watching = buffer_.size() == 0;
  if (watching) Watch();
  if (direct_ != nullptr) direct_->Arm(socket().native_handle(), seq_, watching, &server);
  server.handler(std::move(exchange));
  bool close = co_await WriteResponse();
  StopWatching();
  exchange_.reset();
  co_return !gone_ && !close;
}

template <typename Stream>
HttpResponseSink Connection<Stream>::MakeSink(const HttpFraming& framing) {
  // Runs on the answering thread: serialise there, send it from there if
  // the socket takes it at once (DirectAnswer), else hop to ours.
  // A draining server answers what it was sent, then closes: the client's
  // next request goes to a server that stays. Decided as the answer is
  // serialised, so a request read before the drain began is closed too.
  return [poster = worker_->poster(), weak = this->weak_from_this(), seq = seq_, framing,
          draining = worker_->server().draining, direct = direct_](HttpResponseEvent event) {
    using Sent = DirectAnswer::Sent;
    HttpFraming now = framing;
    if (draining->load()) now.keep_alive = false;
    ResponsePiece piece = SerializeEvent(std::move(event), now);
    Sent sent = direct != nullptr ? direct->Send(seq, &piece) : Sent::kNo;
    if (sent == Sent::kYes) return;
    poster->Post([weak, seq, sent, piece = std::move(piece)]() mutable {
      auto self = weak.lock();
      if (self == nullptr) return;
      if (sent == Sent::kNo) {
        self->Enqueue(seq, std::move(piece));
      } else {
        self->wake_.cancel();  // answered; WriteResponse takes it
      }
    });
  };
}

template <typename Stream>
void Connection<Stream>::Enqueue(uint64_t seq, ResponsePiece piece) {
  if (gone_ || seq != seq_) return;
  size_t size = piece.bytes.size();
  if (unwritten_bytes_ > 0 && unwritten_bytes_ + size > options().max_pending_write_bytes) {
    FANOUT_LOG(WARNING) << "HTTP client too slow: more than " << options().max_pending_write_bytes
                        << " response bytes pending; dropping the connection";
    Drop();
    return;
  }
  unwritten_bytes_ += size;
  outbox_.push_back(std::move(piece));
  wake_.cancel();
}

// Writes what the exchange queues until its last piece. True: close after.
template <typename Stream>
asio::awaitable<bool> Connection<Stream>::WriteResponse() {
  for (;;) {
    while (outbox_.empty() && !gone_) {
      if (TakeDirectAnswer()) co_return false;
      // Woken by Enqueue, by a direct answer's sink or OnReadable, or to
      // look for a direct answer nobody woke us for.
      wake_.expires_after(ToChrono(options().idle_timeout));
      beast::error_code ignored;
      co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    if (gone_) co_return true;
    std::deque<ResponsePiece> batch;
    batch.swap(outbox_);
    std::vector<asio::const_buffer> buffers;
    size_t batch_bytes = 0;
    bool last = false, close = false;
    for (const ResponsePiece& piece : batch) {
      if (!piece.bytes.empty()) buffers.push_back(asio::buffer(piece.bytes));
      batch_bytes += piece.bytes.size();
      last = last || piece.last;
      close = close || piece.close;
    }
    if (!co_await WriteAll(std::move(buffers), last)) co_return true;
    unwritten_bytes_ -= batch_bytes;
    if (last) {
      if (auto exchange = exchange_.lock()) exchange->MarkResponseWritten();
      co_return close || peer_closed_;
    }
  }
}

// As much as the socket takes at once is written right here, the rest
// asynchronously. Knowing at once matters for the last bytes: a client that
// has read them may hang up before an asynchronous completion would arrive,
// and must not look as if it left early. False: the connection is gone.
template <typename Stream>
asio::awaitable<bool> Connection<Stream>::WriteAll(std::vector<asio::const_buffer> buffers,
                                                   bool last) {
  beast::error_code error;
  if constexpr (kTls) {
    // TLS records cannot be written part-way by a non-blocking socket write.
    error = asio::error::would_block;
  } else {
    while (!buffers.empty() && !error) {
      Consume(&buffers, socket().write_some(buffers, error));
    }
  }
  if (error == asio::error::would_block || error == asio::error::try_again) {
    error = {};
    writing_last_ = last;
    lowest().expires_after(ToChrono(options().write_timeout));
    co_await asio::async_write(stream_, buffers, asio::redirect_error(asio::use_awaitable, error));
    lowest().expires_never();
    writing_last_ = false;
  }
  if (error) Drop();
  co_return !gone_;
}

// --- Connection: noticing the client leave ------------------------------------

// While the handler works the socket is otherwise idle; readable then means
// either the client closed (EOF or error) or it pipelined its next request.
template <typename Stream>
void Connection<Stream>::Watch() {
  watching_ = true;
  socket().async_wait(tcp::socket::wait_read,
                      [self = this->shared_from_this(), generation = watch_generation_](
                          beast::error_code error) { self->OnReadable(error, generation); });
}

template <typename Stream>
void Connection<Stream>::OnReadable(const beast::error_code& error, uint64_t generation) {
  if (generation != watch_generation_ || gone_) return;
  watching_ = false;
  if (!error) {
    char byte;
    beast::error_code peek_error;
    size_t n = socket().receive(asio::buffer(&byte, 1), tcp::socket::message_peek, peek_error);
    if (peek_error == asio::error::would_block || peek_error == asio::error::try_again) {
      Watch();
      return;
    }
    if (!peek_error && n > 0) {
      // A pipelined request; the next read takes it. If the answer went out
      // directly, that read is due now; if not yet, its sink must wake us.
      if (direct_ != nullptr && direct_->NoteNotWatching()) wake_.cancel();
      return;
    }
  }
  if (writing_last_) {
    peer_closed_ = true;
    return;
  }
  Drop();
}

template <typename Stream>
bool Connection<Stream>::TakeDirectAnswer() {
  DirectAnswer::Clock::time_point answered_at;
  if (direct_ == nullptr || !direct_->Take(&answered_at)) return false;
  idle_since_ = answered_at;
  if (auto exchange = exchange_.lock()) exchange->MarkResponseWritten();
  return true;
}

template <typename Stream>
void Connection<Stream>::StopWatching() {
  ++watch_generation_;
  if (!watching_ || gone_) return;
  watching_ = false;
  beast::error_code ignored;
  socket().cancel(ignored);
}

template <typename Stream>
void Connection<Stream>::Drop() {
  if (gone_) return;
  gone_ = true;
  ++watch_generation_;
  outbox_.clear();
  if (direct_ != nullptr) direct_->Disarm();
  // An answer its sink sent is written; the client did not leave early.
  TakeDirectAnswer();
  if (auto exchange = exchange_.lock()) exchange->MarkClientGone();
  lowest().close();  // aborts pending reads and writes
  wake_.cancel();
}

template <typename Stream>
Stream Connection<Stream>::MakeStream(tcp::socket socket) {
  if constexpr (kTls) {
    return Stream(std::move(socket), *tls_);
  } else {
    return Stream(std::move(socket));
  }
}

template class Connection<PlainStream>;
template class Connection<TlsStream>;

}  // namespace fanout::http_internal
