// A REST aggregator in C++ on one thread, epoll and nghttp2: the floor
// peers.sh reads the gateway's REST routes against. It does the least a
// correct aggregator of the same two routes does, the way a C proxy
// (nginx, HAProxy) is built: HTTP/1.1 parsed by hand in place, every
// backend call a stream on one HTTP/2 connection, the frames of all the
// streams a turn started written in one send(), answers written straight
// from the parsed messages.
//
//   GET /v1/lab/echo?message=hi   one Lab/Echo, its answer as JSON
//   GET /v1/lab/fanout            Lab/Echo "a", "b" and "c" at once, joined:
//                                 {"a": {...}, "b": {...}, "c": {...}}
//
// JSON as the gateway writes it (lowerCamelCase, unpopulated fields
// printed), 502 naming the failed part, a 5 s deadline sent to the backend
// (grpc-timeout). What it leaves out, and the gateway does not: routing
// tables, a local deadline timer, admission, bulkheads, breakers, retries,
// telemetry, TLS, reconnecting (a lost backend connection ends the process),
// request bodies, and more than one request at a time per connection
// (pipelined ones are served in turn).
//
// Built by peers.sh (g++ -O2, the lab's messages by protoc --cpp_out, the
// node's JSON string escaper and Abseil's base64).
//
//   rest_fanout_h2 127.0.0.1:8080 127.0.0.1:50051   # listen, backend
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "fanout/lab/v1/lab.pb.h"
#include "node/base/json_string.h"

namespace {

using fanout::AppendJsonString;
using fanout::lab::v1::EchoRequest;
using fanout::lab::v1::EchoResponse;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "rest_fanout_h2: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

sockaddr_in ParseAddress(const std::string& text) {
  size_t colon = text.rfind(':');
  sockaddr_in address{};
  address.sin_family = AF_INET;
  if (colon == std::string::npos ||
      inet_pton(AF_INET, text.substr(0, colon).c_str(), &address.sin_addr) != 1) {
    errno = EINVAL;
    Die("\"" + text + "\" is not an IPv4 host:port");
  }
  address.sin_port = htons(static_cast<uint16_t>(std::atoi(text.c_str() + colon + 1)));
  return address;
}

void SetNonBlocking(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// EchoResponse as protobuf's JSON mapping prints it with every field.
void AppendEchoJson(const EchoResponse& reply, std::string* out) {
  out->append("{\"message\":");
  AppendJsonString(reply.message(), out);
  out->append(",\"payload\":\"").append(absl::Base64Escape(reply.payload())).push_back('"');
  out->append(",\"deadlineRemainingMs\":\"");
  out->append(std::to_string(reply.deadline_remaining_ms()));
  out->append("\",\"servedBy\":");
  AppendJsonString(reply.served_by(), out);
  out->append(",\"index\":");
  out->append(std::to_string(reply.index()));
  out->push_back('}');
}

int FromHex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A query parameter's value, percent- and '+'-decoded; "" when absent.
std::string QueryValue(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.substr(0, pair.find('=')) != name || pair.size() <= name.size()) continue;
    std::string value;
    std::string_view raw = pair.substr(name.size() + 1);
    for (size_t i = 0; i < raw.size(); ++i) {
      int hi = 0, lo = 0;
      if (raw[i] == '%' && i + 2 < raw.size() && (hi = FromHex(raw[i + 1])) >= 0 &&
          (lo = FromHex(raw[i + 2])) >= 0) {
        value.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
      } else {
        value.push_back(raw[i] == '+' ? ' ' : raw[i]);
      }
    }
    return value;
  }
  return "";
}

struct Connection;

// One REST request: its parts' answers, joined once the last arrives.
struct Request {
  Connection* connection = nullptr;  // Null once the caller has gone.
  bool joined = false;               // /v1/lab/fanout's shape, or one part's answer.
  int parts = 1;
  int waiting = 1;
  std::array<EchoResponse, 3> replies = {};
  std::string failure = {};  // The first failed part, "name: status".
};

struct Connection {
  int fd = -1;
  std::string in = {};
  std::string out = {};
  Request* request = nullptr;  // The one being served.
};

// One backend call: a stream on the backend connection.
struct Call {
  Request* request = nullptr;
  int part = 0;
  std::string frame = {};  // The request message as gRPC frames it, sent as DATA.
  size_t sent = 0;
  std::string body = {};  // The answer's DATA.
  int grpc_status = -1;
  std::string grpc_message = {};
};

constexpr std::array<const char*, 3> kParts = {"a", "b", "c"};

class Aggregator {
 public:
  Aggregator(const std::string& listen, const std::string& backend) {
    epoll_ = epoll_create1(0);
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address = ParseAddress(listen);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 1024) != 0) {
      Die("listen on " + listen);
    }
    SetNonBlocking(listener_);
    Watch(listener_, nullptr);
    ConnectBackend(backend);
  }

  void Run() {
    std::array<epoll_event, 256> events;
    while (true) {
      int n = epoll_wait(epoll_, events.data(), events.size(), -1);
      if (n < 0 && errno != EINTR) Die("epoll_wait");
      for (int i = 0; i < n; ++i) {
        auto* connection = static_cast<Connection*>(events[i].data.ptr);
        if (connection == nullptr) {
          Accept();
        } else if (connection == &backend_marker_) {
          ReadBackend();
        } else if (connection->fd >= 0) {  // Not closed earlier in this batch.
          ReadCaller(connection);
        }
      }
      FlushBackend();  // Every stream this turn started, in one write.
      for (Connection* closed : closed_) delete closed;
      closed_.clear();
    }
  }

 private:
  void Watch(int fd, void* ptr) {
    epoll_event event{.events = EPOLLIN, .data = {.ptr = ptr}};
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) != 0) Die("epoll_ctl");
  }

  void ConnectBackend(const std::string& target) {
    sockaddr_in address = ParseAddress(target);
    for (int tries = 1;; ++tries) {  // The backend may still be starting: 10 s of tries.
      backend_ = socket(AF_INET, SOCK_STREAM, 0);
      if (connect(backend_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) break;
      if (tries == 100) Die("connect to " + target);
      close(backend_);
      usleep(100 * 1000);
    }
    SetNonBlocking(backend_);
    Watch(backend_, &backend_marker_);
    nghttp2_session_callbacks* callbacks;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_send_callback(
        callbacks, [](nghttp2_session*, const uint8_t* data, size_t length, int, void* self) {
          static_cast<Aggregator*>(self)->backend_out_.append(reinterpret_cast<const char*>(data),
                                                              length);
          return static_cast<ssize_t>(length);
        });
    nghttp2_session_callbacks_set_on_header_callback(
        callbacks,
        [](nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
           size_t name_length, const uint8_t* value, size_t value_length, uint8_t, void*) {
          auto* call = static_cast<Call*>(
              nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
          if (call == nullptr) return 0;
          std::string_view key(reinterpret_cast<const char*>(name), name_length);
          std::string_view text(reinterpret_cast<const char*>(value), value_length);
          if (key == "grpc-status") call->grpc_status = std::atoi(std::string(text).c_str());
          if (key == "grpc-message") call->grpc_message = text;
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        callbacks, [](nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t* data,
                      size_t length, void*) {
          auto* call = static_cast<Call*>(nghttp2_session_get_stream_user_data(session, stream_id));
          if (call != nullptr) call->body.append(reinterpret_cast<const char*>(data), length);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        callbacks, [](nghttp2_session* session, int32_t stream_id, uint32_t, void* self) {
          auto* call = static_cast<Call*>(nghttp2_session_get_stream_user_data(session, stream_id));
          if (call != nullptr) static_cast<Aggregator*>(self)->Finish(std::unique_ptr<Call>(call));
          return 0;
        });
    nghttp2_session_client_new(&session_, callbacks, this);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 1);
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, 16 << 20);
  }

  void Accept() {
    while (true) {
      int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK);
      if (fd < 0) return;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto* connection = new Connection{.fd = fd};
      Watch(fd, connection);
    }
  }

  void ReadCaller(Connection* connection) {
    char buffer[16384];
    while (true) {
      ssize_t n = recv(connection->fd, buffer, sizeof buffer, 0);
      if (n > 0) {
        connection->in.append(buffer, n);
        if (static_cast<size_t>(n) < sizeof buffer) break;
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        break;
      } else {
        Close(connection);
        return;
      }
    }
    if (connection->request == nullptr) {
      Serve(connection);
    } else if (connection->in.size() > (1 << 20)) {  // Pipelining without end: dropped.
      Close(connection);
    }
  }

  // Closes the socket; the Connection goes once this batch of events is
  // handled, since a later event of the batch may still name it.
  void Close(Connection* connection) {
    if (connection->request != nullptr) connection->request->connection = nullptr;
    connection->request = nullptr;
    epoll_ctl(epoll_, EPOLL_CTL_DEL, connection->fd, nullptr);
    close(connection->fd);
    connection->fd = -1;
    closed_.push_back(connection);
  }

  // The requests in `in`, in turn, until one waits for its calls.
  void Serve(Connection* connection) {
    while (connection->request == nullptr && ServeOne(connection)) {
    }
  }

  // The next request in `in`, if whole: its calls started, or answered now.
  // False when there was none, or the connection closed.
  bool ServeOne(Connection* connection) {
    size_t end = connection->in.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (connection->in.size() <= 16384) return false;
      connection->in.clear();  // Answered, and nothing after it read.
      Answer(connection, 431, R"({"code":431,"message":"request head over 16 KiB"})");
      return false;
    }
    std::string_view head(connection->in.data(), end);
    std::string_view line = head.substr(0, head.find("\r\n"));
    std::string_view target;
    if (line.substr(0, 4) == "GET " && line.size() > 13) target = line.substr(4, line.size() - 13);
    size_t question = target.find('?');
    std::string_view path = target.substr(0, question);
    std::string_view query = question == std::string_view::npos ? "" : target.substr(question + 1);
    bool fanout = path == "/v1/lab/fanout";
    if (!fanout && path != "/v1/lab/echo") {
      connection->in.erase(0, end + 4);
      return Answer(connection, 404, R"({"code":404,"message":"no route"})");
    }
    std::string message = fanout ? "" : QueryValue(query, "message");
    connection->in.erase(0, end + 4);
    int parts = fanout ? 3 : 1;
    auto* request =
        new Request{.connection = connection, .joined = fanout, .parts = parts, .waiting = parts};
    connection->request = request;
    for (int part = 0; part < parts; ++part) {
      EchoRequest echo;
      echo.set_message(fanout ? kParts[part] : message);
      StartCall(request, part, echo);
    }
    return true;
  }

  void StartCall(Request* request, int part, const EchoRequest& message) {
    auto call = std::make_unique<Call>(Call{.request = request, .part = part});
    uint32_t size = static_cast<uint32_t>(message.ByteSizeLong());
    call->frame.resize(5 + size);
    call->frame[0] = 0;
    for (int i = 0; i < 4; ++i) call->frame[1 + i] = static_cast<char>(size >> (24 - 8 * i));
    message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(call->frame.data() + 5));
    auto header = [](const char* name, const char* value) {
      return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name)),
                        reinterpret_cast<uint8_t*>(const_cast<char*>(value)), std::strlen(name),
                        std::strlen(value),
                        NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
    };
    nghttp2_nv headers[] = {header(":method", "POST"),
                            header(":scheme", "http"),
                            header(":path", "/fanout.lab.v1.Lab/Echo"),
                            header(":authority", "lab"),
                            header("content-type", "application/grpc"),
                            header("te", "trailers"),
                            header("grpc-timeout", "5S")};
    nghttp2_data_provider body{};
    body.read_callback = [](nghttp2_session* session, int32_t stream_id, uint8_t* buf,
                            size_t length, uint32_t* flags, nghttp2_data_source*, void*) {
      auto* call = static_cast<Call*>(nghttp2_session_get_stream_user_data(session, stream_id));
      size_t n = std::min(length, call->frame.size() - call->sent);
      std::memcpy(buf, call->frame.data() + call->sent, n);
      call->sent += n;
      if (call->sent == call->frame.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    };
    if (nghttp2_submit_request(session_, nullptr, headers, std::size(headers), &body, call.get()) <
        0) {
      errno = EPROTO;  // GOAWAY, or stream ids used up: not reconnecting, the floor ends.
      Die("the backend connection takes no more streams");
    }
    call.release();  // Owned by its stream until it closes (Finish).
  }

  void ReadBackend() {
    char buffer[65536];
    while (true) {
      ssize_t n = recv(backend_, buffer, sizeof buffer, 0);
      if (n > 0) {
        if (nghttp2_session_mem_recv(session_, reinterpret_cast<uint8_t*>(buffer), n) < 0) {
          errno = EPROTO;
          Die("the backend's HTTP/2");
        }
        if (static_cast<size_t>(n) < sizeof buffer) return;
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
      } else {
        if (n == 0) errno = ECONNRESET;
        Die("the backend connection closed");
      }
    }
  }

  void FlushBackend() {
    if (nghttp2_session_send(session_) != 0) Die("nghttp2_session_send");
    size_t written = 0;
    while (written < backend_out_.size()) {
      ssize_t n = send(backend_, backend_out_.data() + written, backend_out_.size() - written,
                       MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) Die("send to the backend");  // Blocking on a full buffer: not in a floor.
      written += n;
    }
    backend_out_.clear();
  }

  // A call ended: its part recorded, the request answered when it was the last.
  void Finish(std::unique_ptr<Call> call) {
    Request* request = call->request;
    EchoResponse& reply = request->replies[call->part];
    // One uncompressed message, its length prefix matching what came.
    bool ok =
        call->grpc_status == 0 && call->body.size() >= 5 && call->body[0] == 0 &&
        (uint32_t(uint8_t(call->body[1])) << 24 | uint32_t(uint8_t(call->body[2])) << 16 |
         uint32_t(uint8_t(call->body[3])) << 8 | uint8_t(call->body[4])) == call->body.size() - 5 &&
        reply.ParseFromArray(call->body.data() + 5, static_cast<int>(call->body.size() - 5));
    if (!ok && request->failure.empty()) {
      request->failure =
          std::string(request->joined ? kParts[call->part] : "echo") + ": " +
          (call->grpc_status > 0 ? std::to_string(call->grpc_status) + " " + call->grpc_message
                                 : "no answer");
    }
    if (--request->waiting > 0) return;
    std::unique_ptr<Request> done(request);
    Connection* connection = done->connection;
    if (connection == nullptr) return;
    connection->request = nullptr;
    std::string body;
    if (!done->failure.empty()) {
      body = R"({"code":502,"message":)";
      AppendJsonString(done->failure, &body);
      body.push_back('}');
      if (Answer(connection, 502, body)) Serve(connection);
      return;
    }
    if (done->joined) {
      body.push_back('{');
      for (int part = 0; part < done->parts; ++part) {
        if (part > 0) body.push_back(',');
        AppendJsonString(kParts[part], &body);
        body.push_back(':');
        AppendEchoJson(done->replies[part], &body);
      }
      body.push_back('}');
    } else {
      AppendEchoJson(done->replies[0], &body);
    }
    if (Answer(connection, 200, body)) Serve(connection);
  }

  // Writes the answer; false when that closed the connection.
  bool Answer(Connection* connection, int code, std::string_view body) {
    std::string& out = connection->out;
    out.clear();
    out.append("HTTP/1.1 ").append(std::to_string(code)).append(code == 200 ? " OK" : " Error");
    out.append("\r\nContent-Type: application/json\r\nContent-Length: ");
    out.append(std::to_string(body.size())).append("\r\n\r\n").append(body);
    ssize_t n = send(connection->fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (n != static_cast<ssize_t>(out.size())) {  // A caller that does not read: dropped.
      Close(connection);
      return false;
    }
    return true;
  }

  int epoll_ = -1;
  int listener_ = -1;
  int backend_ = -1;
  Connection backend_marker_{};  // The backend socket's epoll data.
  nghttp2_session* session_ = nullptr;
  std::string backend_out_;
  std::vector<Connection*> closed_;  // Deleted after the batch of events.
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: rest_fanout_h2 LISTEN_HOST:PORT BACKEND_HOST:PORT\n");
    return 2;
  }
  Aggregator aggregator(argv[1], argv[2]);
  aggregator.Run();
}
