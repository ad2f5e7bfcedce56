#include "node/http/http_server.h"

#include <exception>
#include <optional>

#include "absl/strings/str_cat.h"
#include "node/base/log.h"
#include "node/base/status_macros.h"
#include "node/http/http_connection.h"
#include "node/http/http_wire.h"
#include "node/http/tls_context.h"

namespace fanout {
namespace {

using http_internal::asio::awaitable;
namespace asio = http_internal::asio;
using http_internal::tcp;

// A connection or the acceptor ending by exception is a bug: say so.
void LogFailure(std::exception_ptr failure) {
  if (!failure) return;
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    FANOUT_LOG(ERROR) << "HTTP server coroutine failed: " << e.what();
  } catch (...) {
    FANOUT_LOG(ERROR) << "HTTP server coroutine failed";
  }
}

absl::Status ValidateOptions(const HttpServer::Options& o) {
  auto invalid = [&](absl::string_view field, auto value) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP server on \"", o.address, "\": ", field, " must be > 0, got ", value));
  };
  if (o.threads <= 0) return invalid("threads", o.threads);
  if (o.max_header_bytes == 0) return invalid("max_header_bytes", o.max_header_bytes);
  if (o.max_headers <= 0) return invalid("max_headers", o.max_headers);
  if (o.max_connections <= 0) return invalid("max_connections", o.max_connections);
  if (o.max_requests_per_connection < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP server on \"", o.address,
                     "\": max_requests_per_connection must be >= 0 (0: no limit), got ",
                     o.max_requests_per_connection));
  }
  if (o.max_pending_write_bytes == 0) {
    return invalid("max_pending_write_bytes", o.max_pending_write_bytes);
  }
  for (auto [field, value] :
       {std::pair{"read_timeout", o.read_timeout}, std::pair{"idle_timeout", o.idle_timeout},
        std::pair{"write_timeout", o.write_timeout}}) {
    if (value <= absl::ZeroDuration() || value == absl::InfiniteDuration()) {
      return absl::InvalidArgumentError(absl::StrCat("HTTP server on \"", o.address, "\": ", field,
                                                     " must be finite and > 0, got ",
                                                     absl::FormatDuration(value)));
    }
  }
  return absl::OkStatus();
}

// An IP literal, or a name resolved once here (the first address wins).
absl::StatusOr<tcp::endpoint> ResolveEndpoint(const std::string& address) {
  FANOUT_ASSIGN_OR_RETURN(auto host_port, http_internal::SplitHostPort(address));
  auto& [host, port] = host_port;
  boost::system::error_code error;
  asio::ip::address ip = asio::ip::make_address(host, error);
  if (!error) return tcp::endpoint(ip, static_cast<uint16_t>(port));
  asio::io_context io;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(host, std::to_string(port), error);
  if (error || results.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP address \"", address, "\": cannot resolve host: ", error.message()));
  }
  return results.begin()->endpoint();
}

}  // namespace

struct HttpServer::Impl {
  http_internal::ServerContext context;
  std::vector<std::unique_ptr<http_internal::IoWorker>> workers;
  // After workers: it lives on workers[0]'s io_context and must go first.
  std::optional<tcp::acceptor> acceptor;
  // HTTPS only: the context for new connections, and the timer (on
  // workers[0]) that looks for new certificate files.
  std::unique_ptr<TlsContext> tls;
  std::optional<asio::steady_timer> reload_timer;
  size_t next_worker = 0;  // acceptor's thread only
  uint64_t refused = 0;    // acceptor's thread only
  int port = 0;
  bool started = false;
  bool stopped = false;

  absl::Status Listen(const tcp::endpoint& endpoint);
  awaitable<void> AcceptLoop();
  void Admit(tcp::socket socket, http_internal::IoWorker& worker);
  awaitable<void> ReloadLoop();
  void CloseAcceptor();
};

void HttpServer::Impl::CloseAcceptor() {
  boost::system::error_code ignored;
  acceptor->close(ignored);
  if (reload_timer && context.stopping.load()) reload_timer->cancel();
}

awaitable<void> HttpServer::Impl::ReloadLoop() {
  auto interval =
      std::chrono::nanoseconds(absl::ToInt64Nanoseconds(tls->options().reload_interval));
  while (!context.stopping.load()) {
    reload_timer->expires_after(interval);
    boost::system::error_code error;
    co_await reload_timer->async_wait(asio::redirect_error(asio::use_awaitable, error));
    if (error || context.stopping.load()) co_return;
    tls->ReloadIfChanged();
  }
}

absl::Status HttpServer::Impl::Listen(const tcp::endpoint& endpoint) {
  acceptor.emplace(workers[0]->io());
  boost::system::error_code error;
  acceptor->open(endpoint.protocol(), error);
  if (!error) acceptor->set_option(asio::socket_base::reuse_address(true), error);
  if (!error) acceptor->bind(endpoint, error);
  if (!error) acceptor->listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("HTTP server cannot listen on \"",
                                               context.options.address, "\": ", error.message()));
  }
  port = acceptor->local_endpoint().port();
  return absl::OkStatus();
}

awaitable<void> HttpServer::Impl::AcceptLoop() {
  asio::steady_timer backoff(workers[0]->io());
  for (;;) {
    http_internal::IoWorker& worker = *workers[next_worker++ % workers.size()];
    tcp::socket socket(worker.io());
    boost::system::error_code error;
    co_await acceptor->async_accept(socket, asio::redirect_error(asio::use_awaitable, error));
    if (!acceptor->is_open() || error == asio::error::operation_aborted) co_return;
    if (error) {
      // Out of descriptors or memory: retrying at once would spin.
      FANOUT_LOG(WARNING) << "HTTP accept on " << context.options.address << ": "
                          << error.message();
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, error));
      continue;
    }
    Admit(std::move(socket), worker);
  }
}

void HttpServer::Impl::Admit(tcp::socket socket, http_internal::IoWorker& worker) {
  if (context.stopping.load()) return;  // the socket closes as it goes
  // Only this thread adds connections, so the count cannot overshoot.
  if (context.connections.load() >= context.options.max_connections) {
    if (refused++ % 1000 == 0) {
      FANOUT_LOG(WARNING) << "HTTP server on " << context.options.address << ": "
                          << context.options.max_connections
                          << " connections open (max_connections); closing new ones (" << refused
                          << " so far)";
    }
    return;
  }
  if (tls != nullptr) {
    using Connection = http_internal::Connection<http_internal::TlsStream>;
    auto connection = std::make_shared<Connection>(std::move(socket), &worker, tls->Current());
    asio::co_spawn(worker.io(), Connection::Run(std::move(connection)), LogFailure);
    return;
  }
  using Connection = http_internal::Connection<http_internal::PlainStream>;
  auto connection = std::make_shared<Connection>(std::move(socket), &worker);
  asio::co_spawn(worker.io(), Connection::Run(std::move(connection)), LogFailure);
}

HttpServer::HttpServer(Options options, HttpHandler handler) : impl_(std::make_unique<Impl>()) {
  impl_->context.options = std::move(options);
  impl_->context.handler = std::move(handler);
}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start() {
  const Options& options = impl_->context.options;
  if (impl_->started) {
    return absl::FailedPreconditionError(
        absl::StrCat("HTTP server on \"", options.address, "\" was already started"));
  }
  FANOUT_RETURN_IF_ERROR(ValidateOptions(options));
  FANOUT_ASSIGN_OR_RETURN(tcp::endpoint endpoint, ResolveEndpoint(options.address));
  if (options.tls.enabled()) {
    absl::StatusOr<std::unique_ptr<TlsContext>> tls =
        TlsContext::Create(options.tls, TlsSide::kServer);
    if (!tls.ok()) {
      return absl::Status(tls.status().code(), absl::StrCat("HTTPS server on \"", options.address,
                                                            "\": ", tls.status().message()));
    }
    impl_->tls = *std::move(tls);
  }
  for (int i = 0; i < options.threads; ++i) {
    impl_->workers.push_back(std::make_unique<http_internal::IoWorker>(&impl_->context));
  }
  if (absl::Status listening = impl_->Listen(endpoint); !listening.ok()) {
    impl_->acceptor.reset();
    impl_->workers.clear();
    return listening;
  }
  asio::co_spawn(impl_->workers[0]->io(), impl_->AcceptLoop(), LogFailure);
  if (impl_->tls != nullptr) {
    impl_->reload_timer.emplace(impl_->workers[0]->io());
    asio::co_spawn(impl_->workers[0]->io(), impl_->ReloadLoop(), LogFailure);
  }
  for (auto& worker : impl_->workers) worker->Start();
  impl_->started = true;
  return absl::OkStatus();
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::BeginDrain() {
  if (!impl_->started || impl_->stopped || impl_->context.draining->exchange(true)) return;
  asio::post(impl_->workers[0]->io(), [impl = impl_.get()] { impl->CloseAcceptor(); });
}

bool HttpServer::AwaitIdle(absl::Time deadline) {
  http_internal::ServerContext& context = impl_->context;
  MutexLock lock(&context.exchanges_mu);
  while (context.exchanges > 0) {
    if (!context.exchanges_idle.WaitWithDeadline(&context.exchanges_mu, deadline)) {
      return context.exchanges == 0;
    }
  }
  return true;
}

void HttpServer::Stop() {
  if (!impl_->started || impl_->stopped) return;
  impl_->stopped = true;
  impl_->context.stopping.store(true);
  asio::post(impl_->workers[0]->io(), [impl = impl_.get()] { impl->CloseAcceptor(); });
  for (auto& worker : impl_->workers) worker->BeginStop();
  for (auto& worker : impl_->workers) worker->Join();
}

}  // namespace fanout
