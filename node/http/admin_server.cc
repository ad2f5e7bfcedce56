#include "node/http/admin_server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "node/http/http_wire.h"
#include "node/telemetry/prometheus_text.h"

namespace fanout {

AdminServer::AdminServer(Options options) : options_(std::move(options)) {
  if (metrics::Registry* registry = options_.metrics) {
    Handle("/metrics", [registry] {
      return HttpReply{200, registry->Render(), std::string(metrics::prometheus::kContentType)};
    });
  }
}

AdminServer::~AdminServer() { Stop(); }

void AdminServer::Handle(std::string path, std::function<HttpReply()> handler) {
  handlers_[std::move(path)] = std::move(handler);
}

absl::Status AdminServer::Start() {
  HttpServer::Options options{
      .address = options_.address,
      .threads = 1,
      .max_header_bytes = 8 * 1024,
      .max_headers = 100,
      .max_body_bytes = 64 * 1024,
      .read_timeout = absl::Seconds(10),
      .idle_timeout = absl::Seconds(60),
      .max_connections = 256,
  };
  server_ = std::make_unique<HttpServer>(std::move(options),
                                         [this](std::shared_ptr<HttpExchange> exchange) {
                                           exchange->Reply(Respond(exchange->request()));
                                         });
  absl::Status started = server_->Start();
  if (!started.ok()) {
    server_.reset();
    return absl::Status(started.code(), absl::StrCat("admin: ", started.message()));
  }
  return absl::OkStatus();
}

HttpResponse AdminServer::Respond(const HttpRequest& request) const {
  auto it = handlers_.find(request.path);
  if (it == handlers_.end()) {
    return http_internal::JsonError(404, absl::StrCat("no such path: ", request.path));
  }
  if (request.method != "GET" && request.method != "HEAD") {
    HttpResponse response = http_internal::JsonError(
        405, absl::StrCat(request.method, " is not allowed on ", request.path, "; use GET"));
    response.headers.emplace_back("Allow", "GET, HEAD");
    return response;
  }
  HttpReply reply = it->second();
  return {.status = reply.status,
          .content_type = std::move(reply.content_type),
          .body = std::move(reply.body)};
}

void AdminServer::Stop() {
  if (server_) server_->Stop();
}

}  // namespace fanout
