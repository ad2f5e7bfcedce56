#include "gateway/h2_session.h"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "absl/strings/str_cat.h"

namespace fanout::gateway {

// nghttp2's C callbacks, each forwarding to the session's virtual.
struct H2Session::Callbacks {
  static H2Session& Of(void* user_data) { return *static_cast<H2Session*>(user_data); }
  static int BeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    return Of(user_data).OnBeginHeaders(*frame);
  }
  static int Header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                    size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                    void* user_data) {
    return Of(user_data).OnHeader(*frame,
                                  std::string_view(reinterpret_cast<const char*>(name), namelen),
                                  std::string_view(reinterpret_cast<const char*>(value), valuelen));
  }
  static int FrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    return Of(user_data).OnFrameRecv(*frame);
  }
  // A server whose answer is complete while the client is still sending
  // resets the stream with NO_ERROR (RFC 9113 8.1): the client stops
  // sending, and one that waits for its upload to be taken (curl) finishes.
  static int FrameSend(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    const int32_t id = frame->hd.stream_id;
    if (Of(user_data).role_ == Role::kServer && id != 0 &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
        nghttp2_session_get_stream_remote_close(session, id) == 0) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
    }
    return 0;
  }
  static int DataChunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                       size_t len, void* user_data) {
    return Of(user_data).OnDataChunk(stream_id, data, len);
  }
  static int StreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                         void* user_data) {
    return Of(user_data).OnStreamClose(stream_id, error_code);
  }
  static ssize_t Data(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                      uint32_t* flags, nghttp2_data_source* source, void*) {
    return Of(source->ptr).ReadData(stream_id, buf, length, flags);
  }

  // One set for every session (nghttp2 copies it).
  static const nghttp2_session_callbacks* All() {
    static const nghttp2_session_callbacks* const callbacks = [] {
      nghttp2_session_callbacks* c;
      nghttp2_session_callbacks_new(&c);
      nghttp2_session_callbacks_set_on_begin_headers_callback(c, BeginHeaders);
      nghttp2_session_callbacks_set_on_header_callback(c, Header);
      nghttp2_session_callbacks_set_on_frame_recv_callback(c, FrameRecv);
      nghttp2_session_callbacks_set_on_frame_send_callback(c, FrameSend);
      nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, DataChunk);
      nghttp2_session_callbacks_set_on_stream_close_callback(c, StreamClose);
      return c;
    }();
    return callbacks;
  }
  static const nghttp2_option* Options() {
    static const nghttp2_option* const options = [] {
      nghttp2_option* o;
      nghttp2_option_new(&o);
      // DATA is acknowledged only once the other side of the relay has
      // taken it (nghttp2_session_consume): flow control is end to end.
      nghttp2_option_set_no_auto_window_update(o, 1);
      return o;
    }();
    return options;
  }
};

H2Session::H2Session(boost::asio::ip::tcp::socket socket, Role role)
    : socket_(std::move(socket)), role_(role) {
  if (role == Role::kServer) {
    nghttp2_session_server_new2(&session_, Callbacks::All(), this, Callbacks::Options());
  } else {
    nghttp2_session_client_new2(&session_, Callbacks::All(), this, Callbacks::Options());
  }
}

H2Session::~H2Session() { nghttp2_session_del(session_); }

void H2Session::Handshake(std::shared_ptr<boost::asio::ssl::context> context,
                          const std::string& server_name,
                          std::function<void(const std::string& error)> done) {
  namespace ssl = boost::asio::ssl;
  tls_context_ = std::move(context);
  tls_.emplace(socket_, *tls_context_);
  if (role_ == Role::kClient) {
    boost::system::error_code not_an_address;
    boost::asio::ip::make_address(server_name, not_an_address);
    if (not_an_address) {  // SNI names hosts, never addresses (RFC 6066).
      SSL_set_tlsext_host_name(tls_->native_handle(), server_name.c_str());
    }
    tls_->set_verify_callback(ssl::host_name_verification(server_name));
  }
  tls_->async_handshake(
      role_ == Role::kServer ? ssl::stream_base::server : ssl::stream_base::client,
      [self = shared_from_this(), done = std::move(done)](boost::system::error_code error) {
        if (self->closed_) return;
        if (error) return done(absl::StrCat("TLS handshake: ", error.message()));
        const unsigned char* protocol = nullptr;
        unsigned int length = 0;
        SSL_get0_alpn_selected(self->tls_->native_handle(), &protocol, &length);
        if (std::string_view(reinterpret_cast<const char*>(protocol), length) != "h2") {
          return done("TLS handshake: the peer did not agree to HTTP/2 (ALPN h2)");
        }
        done("");
      });
}

void H2Session::Start(const std::vector<nghttp2_settings_entry>& settings) {
  // Frames go out as written (a client's socket is connected only now).
  boost::system::error_code ignored;
  socket_.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  started_ = true;
  Flush();
  Read();
}

nghttp2_data_provider H2Session::DataProvider() {
  nghttp2_data_provider provider{};
  provider.source.ptr = this;
  provider.read_callback = &Callbacks::Data;
  return provider;
}

void H2Session::Flush() {
  if (flush_posted_ || closed_) return;
  flush_posted_ = true;
  boost::asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->Send();
  });
}

void H2Session::Send() {
  if (!started_ || writing_ || closed_) return;
  out_.clear();
  // Bounded per write: a stream with much to send yields to the socket.
  constexpr size_t kMaxWrite = 256 * 1024;
  while (out_.size() < kMaxWrite) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) return Close();
    if (n == 0) break;
    out_.append(reinterpret_cast<const char*>(data), n);
  }
  if (out_.empty()) {
    if (close_when_written_ ||
        (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_))) {
      Close();
    }
    return;
  }
  writing_ = true;
  auto written = [self = shared_from_this()](boost::system::error_code error, size_t) {
    self->writing_ = false;
    if (error) return self->Close();
    self->Send();
  };
  if (tls_) {
    boost::asio::async_write(*tls_, boost::asio::buffer(out_), std::move(written));
  } else {
    boost::asio::async_write(socket_, boost::asio::buffer(out_), std::move(written));
  }
}

void H2Session::Read() {
  auto read = [self = shared_from_this()](boost::system::error_code error, size_t n) {
    self->OnRead(error, n);
  };
  if (tls_) {
    tls_->async_read_some(boost::asio::buffer(in_), std::move(read));
  } else {
    socket_.async_read_some(boost::asio::buffer(in_), std::move(read));
  }
}

void H2Session::OnRead(boost::system::error_code error, size_t n) {
  if (closed_) return;
  if (error) return Close();
  // A protocol error nghttp2 answers with GOAWAY returns >= 0 (the
  // connection ends once that is written: Send); below 0 it is fatal (a
  // flood, a bad preface): closed now, without writing what a peer that
  // floods us queued.
  if (nghttp2_session_mem_recv(session_, in_.data(), n) < 0) return Close();
  Flush();
  Read();
}

void H2Session::CloseWhenWritten() {
  close_when_written_ = true;
  Flush();
}

void H2Session::Close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  OnClosed();
}

}  // namespace fanout::gateway
