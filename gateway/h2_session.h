// H2Session: one HTTP/2 connection, nghttp2's state machine over an Asio TCP
// socket. The plumbing both sides of the gRPC relay (grpc_relay.h) share:
// bytes read are fed to nghttp2, and what nghttp2 has to send is written
// once per turn of the I/O thread, so the frames of many streams go out in
// one write.
//
//   class Side : public H2Session {
//     int OnFrameRecv(const nghttp2_frame& frame) override { ... submit ...; Flush(); }
//   };
//   auto side = std::make_shared<Side>(std::move(socket), H2Session::Role::kServer);
//   side->Start({{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000}});
//
// With TLS, Handshake comes between connecting and Start (ALPN "h2").
//
// A subclass sees nghttp2's callbacks as virtual calls, and serves the DATA
// of any stream it submits with a data provider through ReadData. The
// connection stays alive while a read or write is pending on it, or while
// its owner holds it.
//
// Loop-affine: every call on the socket's io_context thread.
#pragma once

#include <nghttp2/nghttp2.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>  // Before Asio: Boost 1.74 with g++ 12 needs std::exchange.
#include <vector>

namespace fanout::gateway {

class H2Session : public std::enable_shared_from_this<H2Session> {
 public:
  enum class Role { kServer, kClient };
  H2Session(boost::asio::ip::tcp::socket socket, Role role);
  virtual ~H2Session();
  H2Session(const H2Session&) = delete;
  H2Session& operator=(const H2Session&) = delete;

  // TLS over the connected socket, before Start: `done` runs with what
  // went wrong, or "" (the negotiated protocol must be "h2"). A client
  // names `server_name` (SNI) and checks the certificate is for it.
  void Handshake(std::shared_ptr<boost::asio::ssl::context> context, const std::string& server_name,
                 std::function<void(const std::string& error)> done);
  // Queues the connection preface with `settings`, and starts reading.
  void Start(const std::vector<nghttp2_settings_entry>& settings);
  // Writes what nghttp2 has to send, at the end of this turn of the I/O
  // thread (once, however many streams asked).
  void Flush();
  // Closes the socket now; OnClosed runs once. Safe to call repeatedly.
  void Close();
  // Closes once nghttp2 has nothing more to send (after a GOAWAY).
  void CloseWhenWritten();
  bool closed() const { return closed_; }
  // Closed, or closing once written: no new stream belongs here.
  bool closing() const { return closed_ || close_when_written_; }

  nghttp2_session* session() const { return session_; }
  // The data provider a subclass submits for a stream whose DATA it serves
  // through ReadData.
  nghttp2_data_provider DataProvider();

 protected:
  virtual int OnBeginHeaders(const nghttp2_frame& frame) { return 0; }
  virtual int OnHeader(const nghttp2_frame& frame, std::string_view name, std::string_view value) {
    return 0;
  }
  virtual int OnFrameRecv(const nghttp2_frame& frame) { return 0; }
  virtual int OnDataChunk(int32_t stream_id, const uint8_t* data, size_t length) { return 0; }
  virtual int OnStreamClose(int32_t stream_id, uint32_t error_code) { return 0; }
  // Up to `length` bytes of stream `stream_id`'s DATA into `buf`: their
  // count, with NGHTTP2_DATA_FLAG_* in `*flags`; or NGHTTP2_ERR_DEFERRED
  // (none yet: nghttp2_session_resume_data when there are), or an error.
  virtual ssize_t ReadData(int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  // The connection is gone (closed, reset, or a protocol error): every
  // stream on it with it. Runs once.
  virtual void OnClosed() {}

  boost::asio::ip::tcp::socket& socket() { return socket_; }

 private:
  struct Callbacks;
  void Read();
  void OnRead(boost::system::error_code error, size_t n);
  void Send();

  boost::asio::ip::tcp::socket socket_;
  // With TLS: the session over socket_, and its context (shared with the
  // connections made before and after a certificate reload).
  std::shared_ptr<boost::asio::ssl::context> tls_context_;
  std::optional<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  const Role role_;
  nghttp2_session* session_ = nullptr;
  std::array<uint8_t, 16 * 1024> in_;
  std::string out_;       // Being written.
  bool started_ = false;  // Nothing is written before Start.
  bool writing_ = false;
  bool flush_posted_ = false;
  bool close_when_written_ = false;
  bool closed_ = false;
};

}  // namespace fanout::gateway
