#include "gateway/grpc_relay.h"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <utility>  // Before Asio: Boost 1.74 with g++ 12 needs std::exchange.
#include <variant>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gateway/backend.h"
#include "gateway/h2_session.h"
#include "gateway/proxy_metadata.h"
#include "gateway/timeout_header.h"
#include "node/base/log.h"
#include "node/base/status_macros.h"
#include "node/config/tls_config.h"
#include "node/http/http_wire.h"
#include "node/http/io_poster.h"
#include "node/http/tls_context.h"
#include "node/rpc/call_telemetry.h"
#include "node/telemetry/trace.h"
#include "node/telemetry/trace_context.h"

namespace fanout::gateway {
namespace {

using boost::asio::ip::tcp;
using internal::CallSeries;
using internal::ServerCallTelemetry;

// Flow control: each stream may have this much unacknowledged on either
// side (and so buffered here). A connection's window is credited as DATA
// arrives, a stream's only once the other side has taken it: a caller (or
// a backend) that stops reading holds its own streams, never the
// connection the other calls share.
constexpr int32_t kStreamWindow = 64 * 1024;
constexpr int32_t kConnectionWindow = 1024 * 1024;
// How long a backend may take to accept a connection.
constexpr absl::Duration kConnectTimeout = absl::Seconds(5);
// A backend's connections (BackendPool): at most this many to one address
// on one worker; an address that failed is dialled again after a backoff
// from the first to the last; a name is resolved again this often while
// calls come, and sooner after a connection failed, not more often than
// the minimum; a call tries at most this many connections that do not
// come up.
constexpr size_t kConnectionsPerAddress = 4;
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(250);
constexpr absl::Duration kLastBackoff = absl::Seconds(5);
constexpr absl::Duration kResolveInterval = absl::Seconds(30);
constexpr absl::Duration kMinResolveInterval = absl::Seconds(1);
constexpr int kMaxDials = 3;
// How long a caller's connection may stay open with no call on it (and
// how long one may take to start speaking HTTP/2).
constexpr std::chrono::minutes kIdleTimeout(5);
// How long a caller may take over its TLS handshake.
constexpr std::chrono::seconds kHandshakeTimeout(10);
// How long a refusal waits for the rest of the caller's request (Begin).
constexpr std::chrono::seconds kRefusalWait(1);

// A name/value pair for nghttp2 (which copies both on submit).
nghttp2_nv Nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

std::vector<nghttp2_nv> Nvs(const MetadataList& headers) {
  std::vector<nghttp2_nv> out;
  out.reserve(headers.size());
  for (const auto& [name, value] : headers) out.push_back(Nv(name, value));
  return out;
}

std::string_view Std(absl::string_view v) { return {v.data(), v.size()}; }

// The first value of header `name`, or "".
absl::string_view HeaderValue(const MetadataList& headers, absl::string_view name) {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return {};
}

// grpc-message is percent-encoded (gRPC's HTTP/2 protocol): all but
// printable ASCII and '%'.
std::string PercentEncoded(absl::string_view message) {
  std::string out;
  for (unsigned char c : message) {
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%",
                      absl::AsciiStrToUpper(absl::StrCat(absl::Hex(c, absl::kZeroPad2))));
    }
  }
  return out;
}

// The trailers that end a call with `status`.
MetadataList StatusTrailers(const absl::Status& status) {
  MetadataList out{{"grpc-status", absl::StrCat(static_cast<int>(status.code()))}};
  if (!status.message().empty()) out.emplace_back("grpc-message", PercentEncoded(status.message()));
  return out;
}

// What a call ended with, from its trailers; a response with no grpc-status
// by its HTTP status, as gRPC's clients read one (doc/http-grpc-status-mapping.md).
absl::StatusCode CodeOf(const MetadataList& trailers) {
  int code = 0;
  if (absl::SimpleAtoi(HeaderValue(trailers, "grpc-status"), &code) && code >= 0 && code <= 16) {
    return static_cast<absl::StatusCode>(code);
  }
  int http = 0;
  (void)absl::SimpleAtoi(HeaderValue(trailers, ":status"), &http);
  switch (http) {
    case 400:
      return absl::StatusCode::kInternal;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kUnimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kUnknown;
  }
}

// "123m": a duration as gRPC's timeout header, to the millisecond (at
// least one), in at most eight digits.
std::string TimeoutValue(absl::Duration timeout) {
  int64_t ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout));
  if (ms < 100'000'000) return absl::StrCat(ms, "m");
  return absl::StrCat(std::min<int64_t>(ms / 1000, 99'999'999), "S");
}

// A backend's target as the relay dials it: a name to resolve, or the
// addresses themselves.
struct BackendTarget {
  std::string host;  // To resolve; empty when `addresses` are given.
  int port = 0;
  std::vector<tcp::endpoint> addresses;
};

// "10.0.0.7:50051" or "[fd00::7]:50051" as an endpoint.
absl::StatusOr<tcp::endpoint> ParseEndpoint(absl::string_view text) {
  absl::StatusOr<std::pair<std::string, int>> host_port = http_internal::SplitHostPort(text);
  boost::system::error_code error;
  boost::asio::ip::address ip;
  if (host_port.ok()) ip = boost::asio::ip::make_address(host_port->first, error);
  if (!host_port.ok() || error) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not an IP address and port"));
  }
  return tcp::endpoint(ip, static_cast<uint16_t>(host_port->second));
}

// A backend target as gRPC takes one: "dns:///orders:50051",
// "dns:orders:50051" or "orders:50051", a name to resolve; or addresses,
// "ipv4:10.0.0.7:50051,10.0.0.8:50051" and "ipv6:[fd00::7]:50051" (not
// unix: sockets).
absl::StatusOr<BackendTarget> ParseTarget(absl::string_view target) {
  absl::string_view rest = target;
  BackendTarget parsed;
  if (absl::ConsumePrefix(&rest, "ipv4:") || absl::ConsumePrefix(&rest, "ipv6:")) {
    for (absl::string_view one : absl::StrSplit(rest, ',')) {
      absl::StatusOr<tcp::endpoint> endpoint = ParseEndpoint(one);
      if (!endpoint.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("target \"", target, "\": ", endpoint.status().message()));
      }
      parsed.addresses.push_back(*endpoint);
    }
    return parsed;
  }
  if (!absl::ConsumePrefix(&rest, "dns:///")) (void)absl::ConsumePrefix(&rest, "dns:");
  if (absl::StartsWith(target, "unix:") || absl::StrContains(rest, ",") ||
      absl::StrContains(rest, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("target \"", target,
                     "\" is not host:port (the relay takes dns:///, ipv4: and ipv6: targets)"));
  }
  FANOUT_ASSIGN_OR_RETURN(std::tie(parsed.host, parsed.port), http_internal::SplitHostPort(rest));
  return parsed;
}

// "10.0.0.7:50051", "[fd00::7]:50051".
std::string HostPort(const tcp::endpoint& endpoint) {
  return endpoint.address().is_v6()
             ? absl::StrCat("[", endpoint.address().to_string(), "]:", endpoint.port())
             : absl::StrCat(endpoint.address().to_string(), ":", endpoint.port());
}

}  // namespace

// How to reach one backend, built at Start and shared by every worker's pool.
struct GrpcRelay::BackendPlan {
  std::string name;
  BackendTarget target;
  bool pick_first = false;  // Else round_robin.
  // To connect over, with the name the backend's certificate is checked for
  // (its override, else the target's host, else the address); null: plaintext.
  std::unique_ptr<TlsContext> tls;
};

// One relayed call: the client's stream and the backend's, and what is on
// its way between them (at most a stream window each way).
struct GrpcRelay::Call {
  explicit Call(boost::asio::io_context& io) : deadline(io) {}

  int32_t id = 0;      // On the client's connection.
  std::string method;  // Its :path, as the caller sent it.
  std::shared_ptr<BackendSide> backend;
  int32_t backend_id = 0;  // 0: not, or no longer, open on the backend.
  std::string backend_name;
  // The backend stream's header section, kept until a connection is up:
  // a call on a connection that never connected goes on another (nothing
  // of it reached the backend), at most kMaxDials times.
  MetadataList backend_headers;
  int dials = 0;
  MetadataList request;  // The caller's header section, as read.
  size_t header_bytes = 0;
  bool oversized = false;           // The caller's header section is over the limit.
  size_t backend_header_bytes = 0;  // The backend's headers and trailers.
  std::string to_backend;           // DATA read from the client, not yet sent on.
  bool client_done = false;
  std::string to_client;   // DATA read from the backend, not yet sent on.
  MetadataList head;       // The backend's response headers.
  MetadataList trailers;   // How the call ends, once `finished`.
  bool head_sent = false;  // Response HEADERS submitted to the client.
  bool finished = false;   // `trailers` are final.
  bool trailers_sent = false;
  bool refusal_waits = false;  // Refused; answered at the caller's END_STREAM.
  std::optional<AdmissionLimiter::Ticket> ticket;
  // A unary call's way through its backend's protection: waiting in the
  // bulkhead's line, then through it.
  std::optional<Backend::Queued> queued;
  std::optional<Backend::Pass> pass;
  absl::Time deadline_at = absl::InfiniteFuture();            // The caller's, or the default.
  absl::Duration backend_timeout = absl::InfiniteDuration();  // Its backend's timeout_ms.
  // When the deadline is the backend's own timeout_ms: when it passes.
  absl::Time timeout_at = absl::InfiniteFuture();
  std::unique_ptr<ServerCallTelemetry> telemetry;
  boost::asio::steady_timer deadline;
};

// An I/O thread, with the backend connections its calls share.
class GrpcRelay::Worker {
 public:
  Worker() : guard_(io.get_executor()) {}
  void Run() {
    thread_ = std::thread([this] { io.run(); });
  }
  void Join() {
    guard_.reset();
    if (thread_.joinable()) thread_.join();
  }

  boost::asio::io_context io{1};
  // For permits granted on other threads; closed first thing at Stop.
  std::shared_ptr<IoPoster> poster = std::make_shared<IoPoster>(&io);
  // Loop-affine (this worker's thread).
  std::map<std::string, std::unique_ptr<BackendPool>> backends;
  std::set<ClientSide*> clients;
  bool stopping = false;  // Stop is closing everything: no call dials again.

 private:
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

// A connection to one address of a backend, shared by calls of one worker.
class GrpcRelay::BackendSide : public H2Session {
 public:
  // `authority`: ":authority" of its calls, "host:port" as a backend behind
  // a proxy that routes by it expects.
  BackendSide(GrpcRelay& relay, Worker& worker, std::string name, std::string authority)
      : H2Session(tcp::socket(worker.io), Role::kClient),
        relay_(relay),
        worker_(worker),
        name_(std::move(name)),
        authority_(std::move(authority)) {}

  // Connects to the first of `addresses` that accepts, over TLS with `tls`
  // (checking the backend's certificate is for `server_name`); calls
  // opened meanwhile wait in nghttp2's queue.
  void Connect(const std::vector<tcp::endpoint>& addresses,
               std::shared_ptr<boost::asio::ssl::context> tls, const std::string& server_name);
  // Whether a new call may go on this connection.
  bool usable() const {
    return !closing() && !retired_ && nghttp2_session_check_request_allowed(session()) != 0;
  }
  bool connected() const { return connected_; }  // Ever: stays true once closed.
  // The backend's SETTINGS_MAX_CONCURRENT_STREAMS: calls past it wait in
  // nghttp2's queue for one to end. Unlimited until its SETTINGS come.
  uint32_t max_streams() const {
    return nghttp2_session_get_remote_settings(session(), NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  }
  size_t open_calls() const { return open_.size(); }
  // Where it connected (unspecified until then).
  const tcp::endpoint& endpoint() const { return endpoint_; }
  const std::string& authority() const { return authority_; }
  const char* scheme() const { return secure_ ? "https" : "http"; }
  // Takes no new call, and closes once its calls have ended (the address
  // left the backend's).
  void Retire() {
    retired_ = true;
    CloseIfRetiredAndIdle();
  }

  // Opens `call` here with its backend_headers: false (and the call
  // unopened) when nghttp2 refuses.
  bool Open(const std::shared_ptr<ClientSide>& client, Call& call);
  // Resets `backend_id` (the caller left, or the deadline passed); what it
  // had sent is acknowledged.
  void Reset(int32_t backend_id, uint32_t error_code);
  // More DATA of a call's request is waiting.
  void Resume(int32_t backend_id) {
    nghttp2_session_resume_data(session(), backend_id);
    Flush();
  }
  // `n` bytes of `backend_id`'s answer were taken by the client (0: of a
  // stream no longer open, nothing to acknowledge).
  void Consumed(int32_t backend_id, size_t n) {
    if (closed() || n == 0 || backend_id == 0) return;
    nghttp2_session_consume_stream(session(), backend_id, n);
    Flush();
  }

 private:
  struct Open_ {
    std::shared_ptr<ClientSide> client;
    Call* call;
  };
  Open_* Find(int32_t id) {
    auto it = open_.find(id);
    return it == open_.end() ? nullptr : &it->second;
  }
  // The call is no longer open here.
  Open_ Erase(std::map<int32_t, Open_>::iterator it) {
    Open_ open = std::move(it->second);
    open_.erase(it);
    open.call->backend_id = 0;
    CloseIfRetiredAndIdle();
    return open;
  }
  void CloseIfRetiredAndIdle() {
    if (!retired_ || !open_.empty() || closing()) return;
    if (!connected_) return Close();  // Nothing to say goodbye on.
    nghttp2_submit_goaway(session(), NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
    CloseWhenWritten();
  }
  int OnHeader(const nghttp2_frame& frame, std::string_view name, std::string_view value) override;
  int OnFrameRecv(const nghttp2_frame& frame) override;
  int OnDataChunk(int32_t id, const uint8_t* data, size_t length) override;
  int OnStreamClose(int32_t id, uint32_t error_code) override;
  ssize_t ReadData(int32_t id, uint8_t* buf, size_t length, uint32_t* flags) override;
  void OnClosed() override;

  GrpcRelay& relay_;
  Worker& worker_;
  const std::string name_;
  const std::string authority_;
  std::string address_;
  tcp::endpoint endpoint_;
  bool secure_ = false;
  std::map<int32_t, Open_> open_;  // By stream id here.
  boost::asio::steady_timer connect_timer_{socket().get_executor()};
  bool connected_ = false;
  bool retired_ = false;
};

// One worker's connections to one backend. round_robin (the default, as on
// the gRPC door): a connection to each address the target resolves to, and
// calls take them in turn; pick_first: one connection, to the first address
// that accepts. Calls go on connections that are up, and on one still
// connecting only when none is. A connection at its backend's
// SETTINGS_MAX_CONCURRENT_STREAMS gets a sibling to the same address, up
// to kConnectionsPerAddress; past them calls wait in nghttp2's queue. An
// address whose connection fails is dialled again after a backoff (250 ms
// doubling to 5 s). The name is resolved again every kResolveInterval
// while calls come, and sooner (kMinResolveInterval) after a connection
// fails or closes: pods that join are called, connections to those that
// left close once their calls end.
class GrpcRelay::BackendPool {
 public:
  // `plan` (the relay's, built at Start) must outlive the pool.
  BackendPool(GrpcRelay& relay, Worker& worker, const BackendPlan& plan);
  ~BackendPool() { Close(); }
  // The connection a new call goes on; nullptr when every address has
  // failed and none is being dialled.
  std::shared_ptr<BackendSide> Pick();
  // Closes every connection (Stop).
  void Close();

 private:
  struct Address {
    std::vector<tcp::endpoint> endpoints;  // One; pick_first: every address, in order.
    std::vector<std::shared_ptr<BackendSide>> connections;
    absl::Duration backoff = absl::ZeroDuration();
    absl::Time retry_at = absl::InfinitePast();
  };
  void Resolve();
  // The resolver's answer: the addresses, or what went wrong (known
  // addresses then stay).
  void Answered(absl::Status status, std::vector<tcp::endpoint> endpoints);
  void Resolved(std::vector<tcp::endpoint> endpoints);
  std::shared_ptr<BackendSide> Dial(Address& address);
  void Connect(BackendSide& connection, const Address& address);
  // Drops the connections that take no new call, noting failures.
  void Prune(Address& address, absl::Time now);

  GrpcRelay& relay_;
  Worker& worker_;
  const std::string& name_;
  const BackendTarget& target_;
  const bool pick_first_;
  const TlsContext* const tls_;
  std::vector<Address> addresses_;  // Empty until the first resolution.
  // Made before the first resolution: its calls wait for it to connect.
  std::shared_ptr<BackendSide> pending_;
  std::optional<tcp::resolver> resolver_;  // Set while resolving.
  absl::Time resolved_at_ = absl::InfinitePast();
  absl::Time resolve_after_ = absl::InfinitePast();  // When the next resolution is due.
  size_t next_ = 0;                                  // Of addresses_, for round_robin.
};

// A caller's connection: its calls live here, by stream id.
class GrpcRelay::ClientSide : public H2Session {
 public:
  ClientSide(GrpcRelay& relay, Worker& worker, tcp::socket socket)
      : H2Session(std::move(socket), Role::kServer), relay_(relay), worker_(worker) {
    boost::system::error_code error;
    tcp::endpoint peer = this->socket().remote_endpoint(error);
    if (!error) {
      address_ = peer.address().to_string();
      peer_ = absl::StrCat(peer.address().is_v6() ? "ipv6:" : "ipv4:", HostPort(peer));
    }
    worker_.clients.insert(this);  // Until OnClosed.
  }

  // TLS first (within kHandshakeTimeout), then Open.
  void Secure(std::shared_ptr<boost::asio::ssl::context> context) {
    idle_.expires_after(kHandshakeTimeout);
    idle_.async_wait([self = shared_from_this()](boost::system::error_code aborted) {
      if (!aborted) self->Close();
    });
    Handshake(std::move(context), "",
              [self = std::static_pointer_cast<ClientSide>(shared_from_this())](
                  const std::string& error) {
                if (!error.empty()) {
                  FANOUT_LOG(DEBUG) << "relay: caller " << self->peer_ << ": " << error;
                  return self->Close();
                }
                self->Open();
              });
  }
  void Open() {
    Start({{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
            static_cast<uint32_t>(relay_.options_.max_streams_per_connection)},
           {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
           {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
            static_cast<uint32_t>(relay_.options_.max_header_bytes)}});
    nghttp2_session_set_local_window_size(session(), NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
    ArmIdle();
  }
  // Takes no new calls; those under way go on.
  void Drain() {
    nghttp2_submit_goaway(session(), NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session()), NGHTTP2_NO_ERROR,
                          nullptr, 0);
    Flush();
  }
  // Ends every call with `status`, then the connection.
  void End(const absl::Status& status) {
    for (auto& [id, call] : calls_) Fail(*call, status);
    Drain();
    CloseWhenWritten();
  }

  // From the backend's side of `call`.
  void OnHead(Call& call);                       // Response headers in hand.
  void OnData(Call& call) { ResumeData(call); }  // More DATA in to_client.
  void OnFinished(Call& call);                   // Trailers in hand.
  // Ends `call` with `status`, unless it has ended.
  void Fail(Call& call, const absl::Status& status);
  // `call`'s connection closed before it connected: on to another.
  void Redial(Call& call) {
    if (absl::Status sent = Send(call); !sent.ok()) Fail(call, sent);
  }
  // `n` bytes of `call`'s request were taken by the backend.
  void Consumed(Call& call, size_t n) {
    if (closed() || n == 0) return;
    nghttp2_session_consume_stream(session(), call.id, n);
    Flush();
  }

 private:
  Call* Find(int32_t id) {
    auto it = calls_.find(id);
    return it == calls_.end() ? nullptr : it->second.get();
  }
  int OnBeginHeaders(const nghttp2_frame& frame) override;
  int OnHeader(const nghttp2_frame& frame, std::string_view name, std::string_view value) override;
  int OnFrameRecv(const nghttp2_frame& frame) override;
  int OnDataChunk(int32_t id, const uint8_t* data, size_t length) override;
  int OnStreamClose(int32_t id, uint32_t error_code) override;
  ssize_t ReadData(int32_t id, uint8_t* buf, size_t length, uint32_t* flags) override;
  void OnClosed() override;

  // The checks, then the backend: the call is on its way (or waiting for
  // its backend's bulkhead), or answered.
  void Begin(Call& call, bool client_done);
  absl::Status Relay(Call& call, MetadataList* refusal_trailers);
  // A queued call's permit came (posted here by whoever freed it).
  void Granted(int32_t id, Backend::Pass pass);
  // Sends `call` with what is left of its deadline (or its backend's
  // timeout_ms, the shorter) as grpc-timeout, and enforces it.
  absl::Status Dispatch(Call& call);
  // Ends `call` DEADLINE_EXCEEDED at `at`, naming whose limit passed.
  void ArmDeadline(Call& call, absl::Time at);
  // DEADLINE_EXCEEDED naming the call, and the caller's deadline or its
  // backend's timeout_ms.
  static absl::Status CallersDeadlinePassed(const Call& call);
  static absl::Status BackendTimedOut(const Call& call);
  // Opens `call` on a connection to its backend.
  absl::Status Send(Call& call);
  // Closes the connection after kIdleTimeout without a call (re-armed as
  // its last call ends).
  void ArmIdle() {
    idle_.expires_after(kIdleTimeout);
    idle_.async_wait([self = shared_from_this(), this](boost::system::error_code aborted) {
      if (aborted || closed() || !calls_.empty()) return;
      Drain();
      CloseWhenWritten();
    });
  }
  void ResumeData(Call& call) {
    if (closed()) return;
    nghttp2_session_resume_data(session(), call.id);
    Flush();
  }
  // Submits the trailers-only answer ending `call` (no response sent yet).
  void AnswerOnly(Call& call);
  // The call is over on this side: the backend's stream reset if open, the
  // slot and the span ended.
  void Forget(std::unique_ptr<Call> call);

  GrpcRelay& relay_;
  Worker& worker_;
  std::string address_;  // "10.0.0.7"
  std::string peer_;     // "ipv4:10.0.0.7:41234"
  std::map<int32_t, std::unique_ptr<Call>> calls_;
  boost::asio::steady_timer idle_{socket().get_executor()};
};

// --- ClientSide -------------------------------------------------------------

int GrpcRelay::ClientSide::OnBeginHeaders(const nghttp2_frame& frame) {
  if (frame.hd.type != NGHTTP2_HEADERS || frame.headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto call = std::make_unique<Call>(worker_.io);
  call->id = frame.hd.stream_id;
  calls_[call->id] = std::move(call);
  relay_.calls_.fetch_add(1, std::memory_order_relaxed);
  return 0;
}

int GrpcRelay::ClientSide::OnHeader(const nghttp2_frame& frame, std::string_view name,
                                    std::string_view value) {
  Call* call = Find(frame.hd.stream_id);
  if (call == nullptr || frame.headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;                                             // Trailers: none in gRPC.
  call->header_bytes += name.size() + value.size() + 32;  // As HTTP/2 counts them.
  if (call->header_bytes > static_cast<size_t>(relay_.options_.max_header_bytes)) {
    call->oversized = true;  // Refused when the section ends (Relay).
    return 0;
  }
  call->request.emplace_back(name, value);
  return 0;
}

int GrpcRelay::ClientSide::OnFrameRecv(const nghttp2_frame& frame) {
  Call* call = Find(frame.hd.stream_id);
  if (call == nullptr) return 0;
  const bool ends = (frame.hd.type == NGHTTP2_DATA || frame.hd.type == NGHTTP2_HEADERS) &&
                    (frame.hd.flags & NGHTTP2_FLAG_END_STREAM);
  if (frame.hd.type == NGHTTP2_HEADERS && frame.headers.cat == NGHTTP2_HCAT_REQUEST) {
    Begin(*call, ends);
  } else if (ends && call->refusal_waits) {
    call->refusal_waits = false;
    call->deadline.cancel();
    AnswerOnly(*call);
  }
  if (ends) {
    call->client_done = true;
    if (call->backend_id != 0) call->backend->Resume(call->backend_id);
  }
  return 0;
}

int GrpcRelay::ClientSide::OnDataChunk(int32_t id, const uint8_t* data, size_t length) {
  nghttp2_session_consume_connection(session(), length);
  Call* call = Find(id);
  if (call == nullptr || call->finished || (call->backend == nullptr && !call->queued)) {
    nghttp2_session_consume_stream(session(), id, length);  // Nobody will take it.
    return 0;
  }
  call->to_backend.append(reinterpret_cast<const char*>(data), length);
  if (call->backend_id != 0) call->backend->Resume(call->backend_id);
  return 0;
}

int GrpcRelay::ClientSide::OnStreamClose(int32_t id, uint32_t error_code) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return 0;
  std::unique_ptr<Call> call = std::move(it->second);
  calls_.erase(it);
  if (!call->trailers_sent) {
    call->trailers = StatusTrailers(
        absl::CancelledError(absl::StrCat("the caller left (HTTP/2 error code ", error_code, ")")));
  }
  Forget(std::move(call));
  if (calls_.empty()) ArmIdle();
  return 0;
}

void GrpcRelay::ClientSide::OnClosed() {
  std::map<int32_t, std::unique_ptr<Call>> calls = std::move(calls_);
  calls_.clear();
  for (auto& [id, call] : calls) {
    if (!call->trailers_sent) {
      call->trailers = StatusTrailers(absl::CancelledError("the caller's connection closed"));
    }
    Forget(std::move(call));
  }
  worker_.clients.erase(this);
  idle_.cancel();
  relay_.connections_.fetch_sub(1, std::memory_order_relaxed);
}

void GrpcRelay::ClientSide::Forget(std::unique_ptr<Call> call) {
  if (call->backend_id != 0) {
    call->backend->Reset(call->backend_id, NGHTTP2_CANCEL);
    call->backend_id = 0;
  }
  if (call->telemetry)
    call->telemetry->End(
        absl::Status(CodeOf(call->trailers), HeaderValue(call->trailers, "grpc-message")));
  relay_.calls_.fetch_sub(1, std::memory_order_relaxed);
}

void GrpcRelay::ClientSide::Begin(Call& call, bool client_done) {
  MetadataList refusal;
  absl::Status relayed = Relay(call, &refusal);
  if (relayed.ok()) return;
  call.trailers = StatusTrailers(relayed);
  absl::c_move(refusal, std::back_inserter(call.trailers));
  call.finished = true;
  call.ticket.reset();
  if (call.pass) call.pass->End(relayed.code());  // Its backend was unreachable.
  call.pass.reset();
  if (client_done) {
    AnswerOnly(call);
    return;
  }
  // The refusal waits for the caller's END_STREAM (its DATA is dropped), at
  // most kRefusalWait: a refusal that cuts a request short resets its stream,
  // and some clients (curl) fail a call whose stream closed while they were
  // still sending, refusal and all.
  call.refusal_waits = true;
  call.deadline.expires_after(kRefusalWait);
  call.deadline.async_wait(
      [self = shared_from_this(), this, id = call.id](boost::system::error_code error) {
        if (error) return;
        if (Call* call = Find(id); call != nullptr && call->refusal_waits) {
          call->refusal_waits = false;
          AnswerOnly(*call);
        }
      });
}

absl::Status GrpcRelay::ClientSide::Relay(Call& call, MetadataList* refusal) {
  GatewayState& state = relay_.state_;
  call.method = std::string(HeaderValue(call.request, ":path"));
  const std::string& method = call.method;
  call.telemetry = std::make_unique<ServerCallTelemetry>(
      CallSeries::Server(method), Std(HeaderValue(call.request, "traceparent")),
      Std(HeaderValue(call.request, "tracestate")), peer_);
  if (call.oversized) {
    return absl::ResourceExhaustedError(absl::StrCat("method ", method,
                                                     ": the call's metadata is over ",
                                                     relay_.options_.max_header_bytes, " bytes"));
  }
  if (HeaderValue(call.request, ":method") != "POST" ||
      !absl::StartsWith(HeaderValue(call.request, "content-type"), "application/grpc")) {
    return absl::InvalidArgumentError(
        absl::StrCat("method ", method, ": not a gRPC call (POST, content-type application/grpc)"));
  }
  const int hops = HopsOf(HeaderValue(call.request, kHopsKey));
  FANOUT_RETURN_IF_ERROR(CheckHops(hops, method));
  if (relay_.door_.ServesItself(method)) {
    return absl::UnimplementedError(absl::StrCat(
        "method ", method, ": a method of the gateway itself; call it on the gRPC door"));
  }
  CallerRateLimits::Headers rate_headers;
  absl::Status allowed = state.CheckRateLimits(
      nullptr, address_, HeaderValue(call.request, "x-forwarded-for"), &rate_headers);
  if (!allowed.ok()) {
    for (auto& [name, value] : rate_headers) {
      refusal->emplace_back(absl::AsciiStrToLower(name), std::move(value));
    }
    return allowed;
  }
  std::string challenge;
  absl::StatusOr<std::optional<Identity>> identity =
      state.Authenticate(relay_.proxy_auth_, HeaderValue(call.request, "authorization"),
                         HeaderValue(call.request, state.auth().api_key_header()), &challenge);
  if (!challenge.empty()) refusal->emplace_back("www-authenticate", std::move(challenge));
  if (!identity.ok()) return identity.status();
  absl::StatusOr<ServiceProxy::Admitted> admitted = relay_.proxy_.Admit(method);
  if (!admitted.ok()) {
    if (absl::IsUnavailable(admitted.status())) {
      GatewayState::NoteShed(call.telemetry->span().get(), method);
    }
    return admitted.status();
  }
  call.ticket = std::move(admitted->ticket);

  // The deadline: the caller's, or for a unary call the gateway's default.
  if (absl::string_view asked = HeaderValue(call.request, "grpc-timeout"); !asked.empty()) {
    absl::StatusOr<absl::Duration> parsed = ParseTimeoutHeader("grpc-timeout", asked);
    if (!parsed.ok()) return parsed.status();
    call.deadline_at = absl::Now() + *parsed;
  } else if (admitted->unary) {
    call.deadline_at = absl::Now() + state.default_timeout();
  }

  MetadataList headers{{":method", "POST"},
                       {":scheme", ""},  // Both the connection's (Send).
                       {":path", method},
                       {":authority", ""},
                       {"content-type", std::string(HeaderValue(call.request, "content-type"))},
                       {"te", "trailers"}};
  for (const char* key : {"grpc-encoding", "grpc-accept-encoding"}) {
    if (absl::string_view value = HeaderValue(call.request, key); !value.empty()) {
      headers.emplace_back(key, value);
    }
  }
  absl::c_move(state.Forwarded(call.request, hops, *identity), std::back_inserter(headers));
  if (const auto& span = call.telemetry->span(); span != nullptr) {
    headers.emplace_back("traceparent", trace::FormatTraceparent(span->context()));
    if (!span->context().tracestate.empty()) {
      headers.emplace_back("tracestate", span->context().tracestate);
    }
  }
  call.request.clear();  // Read: the backend's stream has what it needs.
  call.request.shrink_to_fit();
  call.backend_headers = std::move(headers);
  call.backend_name = admitted->backend;

  // A unary call goes through its backend's protection, as on the gRPC
  // door: the breaker, the bulkhead (waiting in its line when full), and
  // timeout_ms when that is the shorter.
  auto backend = state.backends().find(admitted->backend);
  if (!admitted->unary || backend == state.backends().end()) return Dispatch(call);
  call.backend_timeout = backend->second->timeout();
  absl::StatusOr<std::variant<Backend::Pass, Backend::Queued>> entered =
      backend->second->Enter([this, id = call.id](Backend::Pass pass) {
        // On the thread that freed the permit. This connection is alive:
        // the call's Queued, which it outlives, waits for us to return.
        worker_.poster->Post([client = weak_from_this(), id, pass = std::move(pass)]() mutable {
          if (auto self = client.lock())
            static_cast<ClientSide&>(*self).Granted(id, std::move(pass));
        });  // Else (stopping, or the connection went) the Pass drops: abandoned.
      });
  if (!entered.ok()) {
    return absl::Status(entered.status().code(),
                        absl::StrCat("method ", method, ": ", entered.status().message()));
  }
  if (auto* queued = std::get_if<Backend::Queued>(&*entered)) {
    call.queued.emplace(std::move(*queued));
    ArmDeadline(call, call.deadline_at);  // The caller's: it may pass in the line.
    return absl::OkStatus();
  }
  call.pass.emplace(std::get<Backend::Pass>(std::move(*entered)));
  return Dispatch(call);
}

void GrpcRelay::ClientSide::Granted(int32_t id, Backend::Pass pass) {
  Call* call = Find(id);
  if (call == nullptr || !call->queued) return;  // The Pass: abandoned.
  call->queued.reset();
  call->pass.emplace(std::move(pass));
  if (absl::Status sent = Dispatch(*call); !sent.ok()) Fail(*call, sent);
}

absl::Status GrpcRelay::ClientSide::Dispatch(Call& call) {
  const absl::Time now = absl::Now();
  absl::Duration timeout = call.deadline_at - now;
  const bool backends = call.backend_timeout < timeout;
  if (backends) timeout = call.backend_timeout;
  if (timeout <= absl::ZeroDuration()) {  // In the line: the caller's deadline.
    call.pass.reset();                    // Says nothing of the backend.
    return CallersDeadlinePassed(call);
  }
  if (timeout != absl::InfiniteDuration()) {
    call.backend_headers.emplace_back("grpc-timeout", TimeoutValue(timeout));
  }
  FANOUT_RETURN_IF_ERROR(Send(call));
  if (backends) call.timeout_at = now + timeout;
  if (timeout != absl::InfiniteDuration()) ArmDeadline(call, now + timeout);
  return absl::OkStatus();
}

void GrpcRelay::ClientSide::ArmDeadline(Call& call, absl::Time at) {
  if (at == absl::InfiniteFuture()) return;
  call.deadline.expires_after(absl::ToChronoNanoseconds(at - absl::Now()));
  call.deadline.async_wait(
      [self = shared_from_this(), this, id = call.id](boost::system::error_code error) {
        if (error) return;  // Cancelled: the call ended first, or its deadline moved.
        Call* call = Find(id);
        if (call == nullptr) return;
        if (call->timeout_at == absl::InfiniteFuture()) {
          call->pass.reset();  // The caller's deadline: says nothing of the backend.
          return Fail(*call, CallersDeadlinePassed(*call));
        }
        Fail(*call, BackendTimedOut(*call));
      });
}

absl::Status GrpcRelay::ClientSide::CallersDeadlinePassed(const Call& call) {
  return absl::DeadlineExceededError(absl::StrCat("method ", call.method, ": the deadline passed"));
}

absl::Status GrpcRelay::ClientSide::BackendTimedOut(const Call& call) {
  return absl::DeadlineExceededError(
      absl::StrCat("method ", call.method, ": backend \"", call.backend_name,
                   "\" gave no answer within ", absl::FormatDuration(call.backend_timeout),
                   " (backends.", call.backend_name, ".timeout_ms)"));
}

absl::Status GrpcRelay::ClientSide::Send(Call& call) {
  const std::string& name = call.backend_name;
  std::unique_ptr<BackendPool>& pool = worker_.backends[name];
  if (pool == nullptr) {
    auto plan = relay_.backends_.find(name);
    if (plan == relay_.backends_.end()) {  // The door admits configured backends only.
      return absl::InternalError(absl::StrCat("backend \"", name, "\" is not configured"));
    }
    pool = std::make_unique<BackendPool>(relay_, worker_, *plan->second);
  }
  std::shared_ptr<BackendSide> backend = pool->Pick();
  if (backend == nullptr || ++call.dials > kMaxDials) {
    return absl::UnavailableError(
        absl::StrCat("method ", call.method, ": backend \"", name, "\" is unreachable"));
  }
  for (auto& [key, value] : call.backend_headers) {  // The connection's.
    if (key == ":scheme") value = backend->scheme();
    if (key == ":authority") {
      value = backend->authority();
      break;
    }
  }
  call.backend = backend;
  if (!backend->Open(std::static_pointer_cast<ClientSide>(shared_from_this()), call)) {
    call.backend = nullptr;
    return absl::UnavailableError(
        absl::StrCat("method ", call.method, ": backend \"", name, "\" takes no more calls"));
  }
  return absl::OkStatus();
}

void GrpcRelay::ClientSide::OnHead(Call& call) {
  call.backend_headers = {};  // The backend has the call: it goes nowhere else.
  if (call.head_sent || call.finished) return;
  MetadataList head{{":status", "200"}};
  for (const char* key : {"content-type", "grpc-encoding", "grpc-accept-encoding"}) {
    if (absl::string_view value = HeaderValue(call.head, key); !value.empty())
      head.emplace_back(key, value);
  }
  absl::c_move(PassedBackMetadata(call.head), std::back_inserter(head));
  call.head.clear();
  std::vector<nghttp2_nv> nvs = Nvs(head);
  nghttp2_data_provider data = DataProvider();
  nghttp2_submit_response(session(), call.id, nvs.data(), nvs.size(), &data);
  call.head_sent = true;
  Flush();
}

void GrpcRelay::ClientSide::OnFinished(Call& call) {
  // The backend, given our timeout_ms as its deadline, may end the call
  // itself a moment before our timer does: it is our limit firing all the
  // same (as Backend::Attempt reads it), and says so.
  constexpr absl::Duration kClockSlack = absl::Milliseconds(20);
  if (call.timeout_at != absl::InfiniteFuture() &&
      CodeOf(call.trailers) == absl::StatusCode::kDeadlineExceeded &&
      absl::Now() + kClockSlack >= call.timeout_at) {
    call.trailers = StatusTrailers(BackendTimedOut(call));
  }
  // The slot goes back before the caller can see the answer: its next call
  // must not be shed by this one; so does the backend's permit.
  call.ticket.reset();
  call.queued.reset();
  if (call.pass) call.pass->End(CodeOf(call.trailers));
  call.pass.reset();
  call.deadline.cancel();
  if (!call.head_sent) return AnswerOnly(call);
  ResumeData(call);
}

void GrpcRelay::ClientSide::Fail(Call& call, const absl::Status& status) {
  if (call.finished) return;
  if (call.backend_id != 0) {
    call.backend->Reset(call.backend_id, NGHTTP2_CANCEL);
    call.backend_id = 0;
  }
  // The request's rest will not be sent: acknowledged, so the caller may
  // finish sending; the answer's rest will not be delivered (a caller that
  // does not read must not keep it here once its slot is gone).
  Consumed(call, call.to_backend.size());
  call.to_backend.clear();
  call.to_client.clear();
  call.trailers = StatusTrailers(status);
  call.finished = true;
  OnFinished(call);
}

void GrpcRelay::ClientSide::AnswerOnly(Call& call) {
  MetadataList head{{":status", "200"}, {"content-type", "application/grpc"}};
  for (auto& [key, value] : call.trailers) {
    if (key != ":status") head.emplace_back(key, value);
  }
  std::vector<nghttp2_nv> nvs = Nvs(head);
  nghttp2_submit_response(session(), call.id, nvs.data(), nvs.size(), nullptr);
  call.head_sent = true;
  call.trailers_sent = true;
  Flush();
}

ssize_t GrpcRelay::ClientSide::ReadData(int32_t id, uint8_t* buf, size_t length, uint32_t* flags) {
  Call* call = Find(id);
  if (call == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  size_t n = std::min(length, call->to_client.size());
  if (n > 0) {
    std::copy_n(call->to_client.data(), n, buf);
    call->to_client.erase(0, n);
    call->backend->Consumed(call->backend_id, n);
  }
  if (!call->to_client.empty()) return static_cast<ssize_t>(n);
  if (!call->finished)
    return n > 0 ? static_cast<ssize_t>(n) : static_cast<ssize_t>(NGHTTP2_ERR_DEFERRED);
  *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
  std::vector<nghttp2_nv> nvs = Nvs(call->trailers);
  nghttp2_submit_trailer(session(), id, nvs.data(), nvs.size());
  call->trailers_sent = true;
  return static_cast<ssize_t>(n);
}

// --- BackendSide ------------------------------------------------------------

void GrpcRelay::BackendSide::Connect(const std::vector<tcp::endpoint>& addresses,
                                     std::shared_ptr<boost::asio::ssl::context> tls,
                                     const std::string& server_name) {
  secure_ = tls != nullptr;
  auto self = std::static_pointer_cast<BackendSide>(shared_from_this());
  // A backend that neither answers nor refuses (nor finishes its TLS
  // handshake) holds its calls no longer.
  connect_timer_.expires_after(absl::ToChronoNanoseconds(kConnectTimeout));
  connect_timer_.async_wait([self](boost::system::error_code aborted) {
    if (aborted || self->connected_) return;
    FANOUT_LOG(WARNING) << "relay: backend \"" << self->name_ << "\" (" << self->authority_
                        << "): no connection within " << absl::FormatDuration(kConnectTimeout);
    self->Close();
  });
  // Up: calls may be sent.
  auto up = [self] {
    self->connected_ = true;
    self->connect_timer_.cancel();
    self->Start(
        {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}, {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow}});
    nghttp2_session_set_local_window_size(self->session(), NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  };
  boost::asio::async_connect(
      socket(), addresses,
      [self, up, tls = std::move(tls), server_name](boost::system::error_code error,
                                                    const tcp::endpoint& endpoint) mutable {
        if (self->closed()) return;
        if (error) {
          FANOUT_LOG(WARNING) << "relay: backend \"" << self->name_ << "\" (" << self->authority_
                              << "): " << error.message();
          return self->Close();
        }
        self->endpoint_ = endpoint;
        self->address_ = HostPort(endpoint);
        if (tls == nullptr) return up();
        self->Handshake(std::move(tls), server_name, [self, up](const std::string& failed) {
          if (failed.empty()) return up();
          FANOUT_LOG(WARNING) << "relay: backend \"" << self->name_ << "\" (" << self->address_
                              << "): " << failed;
          self->Close();
        });
      });
}

bool GrpcRelay::BackendSide::Open(const std::shared_ptr<ClientSide>& client, Call& call) {
  std::vector<nghttp2_nv> nvs = Nvs(call.backend_headers);
  nghttp2_data_provider data = DataProvider();
  int32_t id = nghttp2_submit_request(session(), nullptr, nvs.data(), nvs.size(), &data, nullptr);
  if (id < 0) return false;
  call.backend_id = id;
  open_[id] = {client, &call};
  Flush();
  return true;
}

void GrpcRelay::BackendSide::Reset(int32_t id, uint32_t error_code) {
  auto it = open_.find(id);
  if (it == open_.end()) return;
  if (!closed()) nghttp2_submit_rst_stream(session(), NGHTTP2_FLAG_NONE, id, error_code);
  Erase(it);
  Flush();
}

int GrpcRelay::BackendSide::OnHeader(const nghttp2_frame& frame, std::string_view name,
                                     std::string_view value) {
  Open_* open = Find(frame.hd.stream_id);
  if (open == nullptr) return 0;
  Call& call = *open->call;
  call.backend_header_bytes += name.size() + value.size() + 32;
  if (call.backend_header_bytes > 2 * static_cast<size_t>(relay_.options_.max_header_bytes)) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // A backend that lies: reset, INTERNAL below.
  }
  (frame.headers.cat == NGHTTP2_HCAT_RESPONSE ? call.head : call.trailers)
      .emplace_back(name, value);
  return 0;
}

int GrpcRelay::BackendSide::OnFrameRecv(const nghttp2_frame& frame) {
  if (frame.hd.type != NGHTTP2_HEADERS) return 0;
  const int32_t id = frame.hd.stream_id;
  auto it = open_.find(id);
  if (it == open_.end()) return 0;
  const bool end = frame.hd.flags & NGHTTP2_FLAG_END_STREAM;
  if (frame.headers.cat == NGHTTP2_HCAT_RESPONSE && !end) {
    Call& call = *it->second.call;
    // Not a gRPC answer (a proxy's 404 or 503 page): its status, by HTTP's.
    if (HeaderValue(call.head, ":status") != "200" ||
        !absl::StartsWith(HeaderValue(call.head, "content-type"), "application/grpc")) {
      nghttp2_submit_rst_stream(session(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
      Open_ open = Erase(it);
      MetadataList head = std::move(call.head);
      open.client->Fail(
          call,
          absl::Status(CodeOf(head), absl::StrCat("backend \"", name_, "\" answered HTTP ",
                                                  HeaderValue(head, ":status"), ", not gRPC")));
      return 0;
    }
    it->second.client->OnHead(call);
    return 0;
  }
  // Trailers, or a trailers-only answer (its headers are its trailers).
  Call& call = *it->second.call;
  const bool client_done = call.client_done;
  if (!client_done) {
    // Answered before the caller finished sending: the stream ends here
    // (gRPC's servers reset it themselves; others may not).
    nghttp2_submit_rst_stream(session(), NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
  }
  Open_ open = Erase(it);
  if (frame.headers.cat == NGHTTP2_HCAT_RESPONSE) call.trailers = std::move(call.head);
  MetadataList trailers{{"grpc-status", absl::StrCat(static_cast<int>(CodeOf(call.trailers)))}};
  for (const char* key : {"grpc-message", "grpc-status-details-bin"}) {
    if (absl::string_view value = HeaderValue(call.trailers, key); !value.empty()) {
      trailers.emplace_back(key, value);
    }
  }
  absl::c_move(PassedBackMetadata(call.trailers), std::back_inserter(trailers));
  call.trailers = std::move(trailers);
  call.finished = true;
  if (!client_done) {
    // What the caller still sends is acknowledged and dropped.
    open.client->Consumed(call, call.to_backend.size());
    call.to_backend.clear();
  }
  open.client->OnFinished(call);
  return 0;
}

int GrpcRelay::BackendSide::OnDataChunk(int32_t id, const uint8_t* data, size_t length) {
  nghttp2_session_consume_connection(session(), length);
  Open_* open = Find(id);
  if (open == nullptr) {
    nghttp2_session_consume_stream(session(), id, length);  // Nobody will take it.
    return 0;
  }
  open->call->to_client.append(reinterpret_cast<const char*>(data), length);
  open->client->OnData(*open->call);
  return 0;
}

int GrpcRelay::BackendSide::OnStreamClose(int32_t id, uint32_t error_code) {
  auto it = open_.find(id);
  if (it == open_.end()) return 0;
  Open_ open = Erase(it);
  // Closed without trailers: reset, or ended bare. RST_STREAM codes as
  // gRPC's clients read them.
  absl::StatusCode code = absl::StatusCode::kInternal;
  switch (error_code) {
    case NGHTTP2_REFUSED_STREAM:
      code = absl::StatusCode::kUnavailable;
      break;
    case NGHTTP2_CANCEL:
      code = absl::StatusCode::kCancelled;
      break;
    case NGHTTP2_ENHANCE_YOUR_CALM:
      code = absl::StatusCode::kResourceExhausted;
      break;
    default:
      break;
  }
  open.client->Fail(*open.call,
                    absl::Status(code, absl::StrCat("backend \"", name_,
                                                    "\" ended the call without a status (HTTP/2 "
                                                    "error code ",
                                                    error_code, ")")));
  return 0;
}

ssize_t GrpcRelay::BackendSide::ReadData(int32_t id, uint8_t* buf, size_t length, uint32_t* flags) {
  Open_* open = Find(id);
  if (open == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  Call& call = *open->call;
  size_t n = std::min(length, call.to_backend.size());
  if (n > 0) {
    std::copy_n(call.to_backend.data(), n, buf);
    call.to_backend.erase(0, n);
    open->client->Consumed(call, n);
  }
  if (call.to_backend.empty() && call.client_done) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  return n > 0 ? static_cast<ssize_t>(n) : static_cast<ssize_t>(NGHTTP2_ERR_DEFERRED);
}

void GrpcRelay::BackendSide::OnClosed() {
  connect_timer_.cancel();
  std::map<int32_t, Open_> open = std::move(open_);
  open_.clear();
  for (auto& [id, entry] : open) {
    entry.call->backend_id = 0;
    if (!connected_ && !worker_.stopping) {
      // Nothing of the call reached the backend: it may go elsewhere.
      entry.client->Redial(*entry.call);
      continue;
    }
    entry.client->Fail(*entry.call,
                       absl::UnavailableError(absl::StrCat("backend \"", name_, "\" (",
                                                           address_.empty() ? authority_ : address_,
                                                           "): connection lost or refused")));
  }
}

// --- BackendPool ------------------------------------------------------------

GrpcRelay::BackendPool::BackendPool(GrpcRelay& relay, Worker& worker, const BackendPlan& plan)
    : relay_(relay),
      worker_(worker),
      name_(plan.name),
      target_(plan.target),
      pick_first_(plan.pick_first),
      tls_(plan.tls.get()),
      next_(relay.next_address_.fetch_add(1)) {
  if (target_.host.empty()) Resolved(target_.addresses);
}

void GrpcRelay::BackendPool::Close() {
  resolver_.reset();  // Its handler runs aborted, or not at all.
  if (pending_) pending_->Close();
  pending_ = nullptr;
  for (Address& address : addresses_) {
    for (auto& connection : address.connections) connection->Close();
  }
  addresses_.clear();
}

std::shared_ptr<GrpcRelay::BackendSide> GrpcRelay::BackendPool::Pick() {
  const absl::Time now = absl::Now();
  if (!target_.host.empty() && !resolver_ && now >= resolve_after_) Resolve();
  if (addresses_.empty()) {  // Not resolved yet, or it failed.
    if (pending_ == nullptr || !pending_->usable()) {
      if (!resolver_) return nullptr;
      pending_ = std::make_shared<BackendSide>(relay_, worker_, name_,
                                               absl::StrCat(target_.host, ":", target_.port));
    }
    return pending_;
  }
  // The next address in turn with a connection up and room; else one being
  // dialled with room (as much as its connected siblings have); else a new
  // sibling for the least loaded full one.
  std::shared_ptr<BackendSide> connecting;
  std::shared_ptr<BackendSide> full;
  Address* full_address = nullptr;
  for (size_t i = 0; i < addresses_.size(); ++i) {
    Address& address = addresses_[(next_ + i) % addresses_.size()];
    Prune(address, now);
    if (address.connections.empty() && now >= address.retry_at) Dial(address);
    uint32_t known_limit = std::numeric_limits<uint32_t>::max();
    for (const auto& connection : address.connections) {
      if (connection->connected()) known_limit = std::min(known_limit, connection->max_streams());
    }
    for (const auto& connection : address.connections) {
      const uint32_t limit = connection->connected() ? connection->max_streams() : known_limit;
      if (connection->open_calls() >= limit) {
        if (full == nullptr || connection->open_calls() < full->open_calls()) {
          full = connection;
          full_address = &address;
        }
      } else if (connection->connected()) {
        next_ = (next_ + i + 1) % addresses_.size();
        return connection;
      } else if (connecting == nullptr) {
        connecting = connection;
      }
    }
  }
  if (connecting != nullptr) return connecting;
  if (full != nullptr && full_address->connections.size() < kConnectionsPerAddress) {
    return Dial(*full_address);
  }
  return full;  // Its queue, or nullptr: every address failed lately.
}

std::shared_ptr<GrpcRelay::BackendSide> GrpcRelay::BackendPool::Dial(Address& address) {
  auto connection = std::make_shared<BackendSide>(
      relay_, worker_, name_,
      target_.host.empty() ? HostPort(address.endpoints.front())
                           : absl::StrCat(target_.host, ":", target_.port));
  Connect(*connection, address);
  address.connections.push_back(connection);
  return connection;
}

void GrpcRelay::BackendPool::Connect(BackendSide& connection, const Address& address) {
  if (tls_ == nullptr) return connection.Connect(address.endpoints, nullptr, "");
  std::string server_name = tls_->options().server_name_override;
  if (server_name.empty()) server_name = target_.host;
  if (server_name.empty()) server_name = address.endpoints.front().address().to_string();
  connection.Connect(address.endpoints, tls_->Current(), server_name);
}

void GrpcRelay::BackendPool::Prune(Address& address, absl::Time now) {
  std::erase_if(address.connections, [&](const std::shared_ptr<BackendSide>& connection) {
    if (connection->usable()) return false;
    // Closed, refused or sent away: the backend may have moved.
    resolve_after_ = std::min(resolve_after_, resolved_at_ + kMinResolveInterval);
    if (connection->connected()) {
      address.backoff = absl::ZeroDuration();
    } else {
      address.backoff = std::clamp(address.backoff * 2, kFirstBackoff, kLastBackoff);
      address.retry_at = now + address.backoff;
    }
    return true;
  });
}

void GrpcRelay::BackendPool::Resolve() {
  if (const auto& resolve = relay_.options_.resolve) {
    absl::StatusOr<std::vector<std::string>> found = resolve(target_.host, target_.port);
    std::vector<tcp::endpoint> endpoints;
    absl::Status status = found.status();
    for (size_t i = 0; status.ok() && i < found->size(); ++i) {
      absl::StatusOr<tcp::endpoint> endpoint = ParseEndpoint((*found)[i]);
      if (endpoint.ok()) endpoints.push_back(*endpoint);
      status = endpoint.status();
    }
    return Answered(std::move(status), std::move(endpoints));
  }
  resolver_.emplace(worker_.io);
  resolver_->async_resolve(
      target_.host, std::to_string(target_.port),
      [this](boost::system::error_code error, tcp::resolver::results_type results) {
        if (error == boost::asio::error::operation_aborted) return;
        resolver_.reset();
        std::vector<tcp::endpoint> endpoints;
        for (const auto& result : results) endpoints.push_back(result.endpoint());
        Answered(error ? absl::UnavailableError(error.message()) : absl::OkStatus(),
                 std::move(endpoints));
      });
}

void GrpcRelay::BackendPool::Answered(absl::Status status, std::vector<tcp::endpoint> endpoints) {
  resolved_at_ = absl::Now();
  resolve_after_ = resolved_at_ + kMinResolveInterval;  // Until it succeeds.
  if (status.ok() && endpoints.empty()) status = absl::UnavailableError("no addresses");
  if (!status.ok()) {
    FANOUT_LOG(WARNING) << "relay: backend \"" << name_ << "\" (" << target_.host << ":"
                        << target_.port << "): " << status.message();
    if (addresses_.empty() && pending_ != nullptr) {
      pending_->Close();  // Its calls fail UNAVAILABLE.
      pending_ = nullptr;
    }
    return;  // Known addresses stay.
  }
  resolve_after_ = resolved_at_ + kResolveInterval;
  std::vector<tcp::endpoint> unique;
  for (const tcp::endpoint& endpoint : endpoints) {
    if (!absl::c_linear_search(unique, endpoint)) unique.push_back(endpoint);
  }
  Resolved(std::move(unique));
}

void GrpcRelay::BackendPool::Resolved(std::vector<tcp::endpoint> endpoints) {
  // Connections to addresses the backend no longer has end with their calls.
  std::vector<Address> addresses;
  if (pick_first_) {
    addresses.push_back({.endpoints = endpoints});
    for (Address& address : addresses_) {
      for (auto& connection : address.connections) {
        if (connection->connected() && !absl::c_linear_search(endpoints, connection->endpoint())) {
          connection->Retire();
        } else {
          addresses.front().connections.push_back(std::move(connection));
        }
      }
    }
  } else {
    for (Address& address : addresses_) {
      if (absl::c_linear_search(endpoints, address.endpoints.front())) {
        addresses.push_back(std::move(address));
      } else {
        for (auto& connection : address.connections) connection->Retire();
      }
    }
    for (const tcp::endpoint& endpoint : endpoints) {
      if (absl::c_none_of(addresses, [&](const Address& known) {
            return known.endpoints.front() == endpoint;
          })) {
        addresses.push_back({.endpoints = {endpoint}});
      }
    }
  }
  addresses_ = std::move(addresses);
  if (pending_ != nullptr) {
    // The calls made while resolving go to the address the round starts at.
    Address& address = addresses_[next_ % addresses_.size()];
    Connect(*pending_, address);
    address.connections.push_back(std::move(pending_));
    pending_ = nullptr;
  }
}

// --- GrpcRelay --------------------------------------------------------------

struct GrpcRelay::Listener {
  explicit Listener(boost::asio::io_context& io) : acceptor(io), reload(io) {}
  tcp::acceptor acceptor;
  boost::asio::steady_timer reload;  // Looks for new certificate files.
};

GrpcRelay::GrpcRelay(GatewayState& state, const GrpcDoor& door, ServiceProxy& proxy,
                     Options options)
    : state_(state), door_(door), proxy_(proxy), options_(std::move(options)) {
  if (!options_.backend_address) {
    options_.backend_address = [this](const std::string& name) {
      auto it = state_.backend_configs().find(name);
      return it == state_.backend_configs().end() ? std::string() : it->second.target();
    };
  }
  if (!options_.backend_tls) {
    options_.backend_tls = [this](const std::string& name) {
      auto it = state_.backend_configs().find(name);
      return it == state_.backend_configs().end() ? TlsOptions()
                                                  : TlsOptionsFromConfig(it->second.tls());
    };
  }
}

GrpcRelay::~GrpcRelay() { Stop(); }

absl::Status GrpcRelay::PlanBackends() {
  for (const auto& [name, backend] : state_.backend_configs()) {
    auto plan = std::make_unique<BackendPlan>();
    plan->name = name;
    plan->pick_first = backend.load_balancing() == "pick_first";
    absl::StatusOr<BackendTarget> target = ParseTarget(options_.backend_address(name));
    if (!target.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("gateway.grpc_relay_address: backend \"", name,
                                                     "\": ", target.status().message()));
    }
    plan->target = *std::move(target);
    if (TlsOptions tls = options_.backend_tls(name); tls.enabled()) {
      absl::StatusOr<std::unique_ptr<TlsContext>> context =
          TlsContext::Create(std::move(tls), TlsSide::kClient, "h2");
      if (!context.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("gateway.grpc_relay_address: backend \"",
                                                       name, "\": ", context.status().message()));
      }
      plan->tls = *std::move(context);
    }
    backends_[name] = std::move(plan);
  }
  return absl::OkStatus();
}

absl::Status GrpcRelay::Start() {
  if (options_.tls.enabled()) {
    absl::StatusOr<std::unique_ptr<TlsContext>> context =
        TlsContext::Create(options_.tls, TlsSide::kServer, "h2");
    if (!context.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("gateway.grpc_relay_address: ", context.status().message()));
    }
    tls_ = *std::move(context);
  }
  absl::StatusOr<tcp::endpoint> endpoint = ParseEndpoint(options_.address);
  if (!endpoint.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("gateway.grpc_relay_address: ", endpoint.status().message()));
  }
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    workers_.push_back(std::make_unique<Worker>());
  }
  listener_ = std::make_unique<Listener>(workers_[0]->io);
  tcp::acceptor& acceptor = listener_->acceptor;
  boost::system::error_code error;
  acceptor.open(endpoint->protocol(), error);
  if (!error) acceptor.set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) acceptor.bind(*endpoint, error);
  if (!error) acceptor.listen(boost::asio::socket_base::max_listen_connections, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("gateway.grpc_relay_address: cannot listen on ",
                                               options_.address, ": ", error.message()));
  }
  port_ = acceptor.local_endpoint().port();
  if (absl::Status planned = PlanBackends(); !planned.ok()) {
    listener_.reset();
    workers_.clear();
    return planned;
  }
  Accept();
  ReloadTls();
  for (auto& worker : workers_) worker->Run();
  started_ = true;
  return absl::OkStatus();
}

void GrpcRelay::Accept() {
  Worker& worker = *workers_[next_worker_.fetch_add(1) % workers_.size()];
  listener_->acceptor.async_accept(
      worker.io, [this, &worker](boost::system::error_code error, tcp::socket socket) {
        if (error == boost::asio::error::operation_aborted || !listener_->acceptor.is_open()) {
          return;
        }
        if (error) {
          // Out of descriptors, most likely: try again in a while, not in a
          // loop that takes the thread.
          FANOUT_LOG(WARNING) << "relay: accepting a connection: " << error.message();
          auto retry = std::make_shared<boost::asio::steady_timer>(
              listener_->acceptor.get_executor(), std::chrono::milliseconds(100));
          retry->async_wait([this, retry](boost::system::error_code aborted) {
            if (!aborted && listener_->acceptor.is_open()) Accept();
          });
          return;
        }
        {
          // Handed to its worker's thread, where the connection lives.
          boost::asio::post(worker.io, [this, &worker, socket = std::move(socket)]() mutable {
            if (connections_.load(std::memory_order_relaxed) >= options_.max_connections ||
                draining_.load()) {
              return;  // Closed as it goes.
            }
            connections_.fetch_add(1, std::memory_order_relaxed);
            auto client = std::make_shared<ClientSide>(*this, worker, std::move(socket));
            if (tls_ != nullptr) {
              client->Secure(tls_->Current());
            } else {
              client->Open();
            }
          });
        }
        Accept();
      });
}

void GrpcRelay::ReloadTls() {
  absl::Duration every = absl::InfiniteDuration();
  if (tls_ != nullptr) every = tls_->options().reload_interval;
  for (const auto& [name, plan] : backends_) {
    if (plan->tls != nullptr) every = std::min(every, plan->tls->options().reload_interval);
  }
  if (every == absl::InfiniteDuration()) return;  // No TLS anywhere.
  listener_->reload.expires_after(absl::ToChronoNanoseconds(std::max(every, absl::Seconds(1))));
  listener_->reload.async_wait([this](boost::system::error_code aborted) {
    if (aborted) return;
    if (tls_ != nullptr) tls_->ReloadIfChanged();
    for (const auto& [name, plan] : backends_) {
      if (plan->tls != nullptr) plan->tls->ReloadIfChanged();
    }
    ReloadTls();
  });
}

void GrpcRelay::BeginDrain() {
  if (started_) Drain();
}

void GrpcRelay::Drain() {
  draining_ = true;
  boost::asio::post(workers_[0]->io, [this] {
    boost::system::error_code ignored;
    listener_->acceptor.close(ignored);
  });
  for (auto& worker : workers_) {
    boost::asio::post(worker->io, [&worker = *worker] {
      for (ClientSide* client : worker.clients) client->Drain();
    });
  }
}

bool GrpcRelay::AwaitDrained(absl::Time deadline) {
  while (calls_.load(std::memory_order_relaxed) > 0) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

void GrpcRelay::Stop() {
  if (!started_) return;
  started_ = false;
  for (auto& worker : workers_) worker->poster->Close();  // Late permits: abandoned.
  Drain();
  for (auto& worker : workers_) {
    boost::asio::post(worker->io, [&worker = *worker] {
      for (ClientSide* client : std::set<ClientSide*>(worker.clients)) {
        client->End(absl::UnavailableError("the gateway is stopping"));
      }
    });
  }
  // A second for the answers on their way.
  absl::Time deadline = absl::Now() + absl::Seconds(1);
  while (connections_.load(std::memory_order_relaxed) > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  for (auto& worker : workers_) {
    boost::asio::post(worker->io, [&worker = *worker] {
      worker.stopping = true;
      for (ClientSide* client : std::set<ClientSide*>(worker.clients)) client->Close();
      worker.backends.clear();  // Each pool closes its connections.
      worker.io.stop();
    });
  }
  for (auto& worker : workers_) worker->Join();
  listener_.reset();
  workers_.clear();
}

}  // namespace fanout::gateway
