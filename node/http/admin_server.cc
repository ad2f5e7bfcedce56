// Boost 1.74's Asio needs <utility> before it under g++ 12 (std::exchange).
#include "node/http/admin_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "node/base/log.h"

namespace fanout {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kMaxHeaderBytes = 8 * 1024;
constexpr size_t kMaxBodyBytes = 64 * 1024;
constexpr auto kReadTimeout = std::chrono::seconds(10);

std::string JsonError(int code, const std::string& message) {
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return absl::StrCat("{\"code\": ", code, ", \"message\": \"", escaped, "\"}\n");
}

}  // namespace

struct AdminServer::Impl {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  const std::map<std::string, std::function<HttpReply()>>* handlers = nullptr;

  http::response<http::string_body> Respond(const http::request<http::string_body>& request) {
    HttpReply reply;
    std::string target(request.target());
    std::string path = target.substr(0, target.find('?'));
    auto it = handlers->find(path);
    http::response<http::string_body> response;
    if (it == handlers->end()) {
      reply = {404, JsonError(404, absl::StrCat("no such path: ", path)), "application/json"};
    } else if (request.method() != http::verb::get && request.method() != http::verb::head) {
      reply = {405,
               JsonError(405, absl::StrCat(std::string(request.method_string()),
                                           " is not allowed on ", path, "; use GET")),
               "application/json"};
      response.set(http::field::allow, "GET, HEAD");
    } else {
      reply = it->second();
    }
    response.result(reply.status);
    response.version(request.version());
    response.keep_alive(request.keep_alive());
    response.set(http::field::content_type, reply.content_type);
    response.body() = request.method() == http::verb::head ? "" : std::move(reply.body);
    response.prepare_payload();
    return response;
  }

  asio::awaitable<void> Session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kMaxHeaderBytes);
      parser.body_limit(kMaxBodyBytes);
      stream.expires_after(kReadTimeout);
      beast::error_code read_error;
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, read_error));
      if (read_error) {
        // A peer that closed or went quiet gets nothing; one that sent
        // something unparsable or too big is told why.
        bool gone = read_error == http::error::end_of_stream ||
                    read_error == beast::error::timeout ||
                    read_error == asio::error::connection_reset ||
                    read_error == asio::error::operation_aborted;
        int status = gone                                      ? 0
                     : read_error == http::error::header_limit ? 431
                     : read_error == http::error::body_limit   ? 413
                                                               : 400;
        if (status != 0) {
          http::response<http::string_body> response{static_cast<http::status>(status), 11};
          response.set(http::field::content_type, "application/json");
          response.body() = JsonError(status, read_error.message());
          response.prepare_payload();
          beast::error_code ignored;
          co_await http::async_write(stream, response,
                                     asio::redirect_error(asio::use_awaitable, ignored));
        }
        break;  // Closed, timed out or malformed: drop the connection.
      }
      auto response = Respond(parser.get());
      beast::error_code write_error;
      co_await http::async_write(stream, response,
                                 asio::redirect_error(asio::use_awaitable, write_error));
      if (write_error || !response.keep_alive()) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  asio::awaitable<void> Accept() {
    for (;;) {
      beast::error_code error;
      tcp::socket socket =
          co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, error));
      if (error == asio::error::operation_aborted) co_return;
      if (error) continue;
      asio::co_spawn(io, Session(std::move(socket)), asio::detached);
    }
  }
};

AdminServer::AdminServer(Options options) : options_(std::move(options)) {}

AdminServer::~AdminServer() { Stop(); }

void AdminServer::Handle(std::string path, std::function<HttpReply()> handler) {
  handlers_[std::move(path)] = std::move(handler);
}

absl::Status AdminServer::Start() {
  const std::string& address = options_.address;
  size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin address must be host:port, got \"", address, "\""));
  }
  impl_ = std::make_unique<Impl>();
  impl_->handlers = &handlers_;
  beast::error_code error;
  auto ip = asio::ip::make_address(address.substr(0, colon), error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin address \"", address, "\": ", error.message()));
  }
  tcp::endpoint endpoint(ip, static_cast<uint16_t>(port));
  impl_->acceptor.open(endpoint.protocol(), error);
  if (!error) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) impl_->acceptor.bind(endpoint, error);
  if (!error) impl_->acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    return absl::UnavailableError(
        absl::StrCat("admin: cannot listen on ", address, ": ", error.message()));
  }
  port_ = impl_->acceptor.local_endpoint().port();
  asio::co_spawn(impl_->io, impl_->Accept(), asio::detached);
  thread_ = std::thread([this] { impl_->io.run(); });
  return absl::OkStatus();
}

void AdminServer::Stop() {
  if (!thread_.joinable()) return;
  impl_->io.stop();
  thread_.join();
}

}  // namespace fanout
