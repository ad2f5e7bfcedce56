// RestDoor: the gateway's REST front door. HTTP/1.1 requests (JSON bodies)
// are matched to routes (route_match.h), run on a loop (aggregator.h), and
// answered as JSON: whole, partial (X-Fanout-Completed: false), streamed as
// newline-delimited JSON or Server-Sent Events, or an error body with the
// HTTP status of the gRPC code (http_status.h).
//
//   FANOUT_ASSIGN_OR_RETURN(RestDoor::Options options, RestDoor::OptionsFromConfig(config));
//   RestDoor door(state, std::move(options));       // state: gateway_state.h
//   FANOUT_RETURN_IF_ERROR(door.Start(server.loops()));
//   ... GET http://127.0.0.1:<door.port()>/v1/users/7/dashboard ...
//   door.BeginDrain(); door.AwaitDrained(deadline); ... door.Stop();
//
// A request, in order, on the HTTP thread that read it (nothing there
// waits): a CORS preflight answered; the route matched (404, 405 with
// Allow), else POST /v1/{package.Service}/{Method} as a direct call of that
// method; the caller's rate limits (429); credentials (401, 403); the
// deadline (Request-Timeout or Grpc-Timeout, capped by the route's; 400 when
// malformed); admission (503 with Retry-After). Then on a loop, the next in
// turn: path parameters and the query decoded, headers checked as
// forwardable, the body parsed (large ones on a parse thread of its own),
// the route run until its deadline or the caller goes away, the answer
// written.
//
// Thread-safe: Start, BeginDrain, AwaitDrained and Stop from the controlling
// thread; requests arrive on the HTTP server's threads and run on the loops.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "gateway/aggregator.h"
#include "gateway/cors.h"
#include "gateway/gateway_state.h"
#include "gateway/json_parse.h"
#include "node/async/offload.h"
#include "node/base/sync.h"
#include "node/http/http_server.h"
#include "node/loop/event_loop.h"

namespace fanout::gateway {

class RestDoor {
 public:
  struct Options {
    // Where and how it listens: rest_address, rest_tls and the door's limits.
    HttpServer::Options http;
    // gateway.cors: for the routes without a policy of their own.
    std::optional<CorsPolicy> cors;
    JsonLimits body_limits;  // gateway.json
    // Bodies larger than this are parsed on the door's parse thread.
    int64_t offload_bytes = 64 * 1024;
  };
  // INVALID_ARGUMENT naming the key (gateway.cors).
  static absl::StatusOr<Options> OptionsFromConfig(const config::v1::GatewayConfig& config);

  // `state` must outlive the door.
  RestDoor(GatewayState& state, Options options);
  ~RestDoor();  // Stop()

  // Listens, and runs requests on `loops` (which must outlive the door):
  // the HTTP server's error when it cannot bind.
  absl::Status Start(LoopGroup& loops);
  // Takes no new connections; answers carry Connection: close.
  void BeginDrain();
  // Until every request read is answered and written, or `deadline`.
  bool AwaitDrained(absl::Time deadline);
  // Closes the door, after at most a second for answers on their way
  // (requests cancelled as the loops stopped: 503).
  void Stop();
  int port() const;  // After Start.
  bool tls() const { return options_.http.tls.enabled(); }

 private:
  // A request past routing and admission, on its way to a loop.
  struct Admitted;

  void Handle(std::shared_ptr<HttpExchange> exchange);
  // A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method)
  // answered 204 or 403; false when no CORS policy covers it (then it is
  // routed as any OPTIONS request).
  bool AnswerPreflight(HttpExchange& exchange);
  // The CORS policy of a request of `route` (null: unrouted): the route's
  // own, else the gateway's; null when neither has one.
  const CorsPolicy* CorsFor(const CompiledRoute* route) const {
    if (route != nullptr && route->cors) return &*route->cors;
    return options_.cors ? &*options_.cors : nullptr;
  }
  Task<absl::Status> Serve(Admitted request);
  Task<void> Stream(HttpExchange& exchange, const CompiledRoute& route, const RequestInput& input);
  // The route for POST /v1/{service}/{method}; null with `why` set when
  // there is none.
  std::shared_ptr<const CompiledRoute> DirectRoute(absl::string_view path, absl::Status* why);

  GatewayState& state_;
  const Options options_;
  LoopGroup* loops_ = nullptr;
  std::atomic<uint32_t> next_loop_{0};
  int trace_resource_ = 0;                   // The tracer resource REST spans report under.
  std::unique_ptr<OffloadPool> parse_pool_;  // Large bodies are parsed here, not on a loop.
  // Direct-call routes, made on demand; never removed (bounded by the
  // methods the backends have).
  Mutex direct_mu_;
  std::map<std::string, std::shared_ptr<const CompiledRoute>> direct_ ABSL_GUARDED_BY(direct_mu_);
  std::unique_ptr<HttpServer> http_;
};

}  // namespace fanout::gateway
