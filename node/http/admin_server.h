// AdminServer: the node's small HTTP/1.1 side door for operators,
// Prometheus and Kubernetes probes: /healthz, /readyz, /config, /metrics.
//
// /metrics is there from the start: the Prometheus text rendering of
// `Options::metrics` (the process's metrics::DefaultRegistry() unless told
// otherwise). The other paths are the owner's to Handle.
//
//   AdminServer admin({.address = "0.0.0.0:9090"});
//   admin.Handle("/readyz", [&] { return ready ? HttpReply{200, "ready\n"}
//                                              : HttpReply{503, "draining\n"}; });
//   FANOUT_RETURN_IF_ERROR(admin.Start());
//   ... admin.Stop();
//
// A thin layer over HttpServer: one I/O thread, keep-alive, small limits
// (headers up to 8 KiB, bodies up to 64 KiB, 10 s to send a request, 256
// connections). Only GET and HEAD; anything else is 405 with Allow, an unknown
// path 404, each with a JSON error body naming what was wrong. Handlers run
// on the admin I/O thread and must be quick and thread-safe.
//
// Thread-safe: Handle before Start; Start/Stop from one controlling thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "node/http/http_server.h"
#include "node/telemetry/metrics.h"

namespace fanout {

struct HttpReply {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
};

class AdminServer {
 public:
  struct Options {
    std::string address = "127.0.0.1:0";
    // Rendered at /metrics on each scrape; null: no /metrics. Must outlive
    // the server.
    metrics::Registry* metrics = &metrics::DefaultRegistry();
  };
  explicit AdminServer(Options options);
  ~AdminServer();

  // Serves `path` with `handler` (replacing the one there, /metrics too).
  void Handle(std::string path, std::function<HttpReply()> handler);
  // Binds and starts the thread. INVALID_ARGUMENT / UNAVAILABLE naming the address.
  absl::Status Start();
  int port() const { return server_ ? server_->port() : 0; }
  void Stop();

 private:
  HttpResponse Respond(const HttpRequest& request) const;

  Options options_;
  std::map<std::string, std::function<HttpReply()>> handlers_;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace fanout
