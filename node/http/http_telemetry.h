// HTTP request telemetry: what a REST front door records for each request,
// the HTTP twin of node/rpc/call_telemetry.h.
//
//   auto telemetry = std::make_shared<HttpRequestTelemetry>(exchange->request(), resource);
//   telemetry->SetRoute("dashboard");      // once the route is known
//   exchange->OnAnswered([telemetry](const HttpResponse& head) { telemetry->End(head); });
//   ... run the request under telemetry->span() ...
//
// - a SERVER span continuing the caller's W3C traceparent (OpenTelemetry
//   HTTP conventions: http.request.method, http.route, url.path,
//   http.response.status_code; 5xx is an error);
// - metrics: fanout_http_server_duration_seconds{route,method,status} and
//   fanout_http_server_in_flight{route}; requests that matched no route are
//   counted under route="unmatched" so paths never become labels;
// - an access-log line (route, status, duration, the partial flag) when the
//   access log is on. A request whose caller left before the answer ends
//   with status 499.
//
// Thread-safe for hand-over: used by one thread at a time (the I/O thread,
// then the loop that serves the request).
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "node/http/http_server.h"

namespace fanout {
namespace trace {
class Span;
}
namespace metrics {
class Gauge;
}

class HttpRequestTelemetry {
 public:
  // `trace_resource`: the tracer resource (service.name) the span reports
  // under, see trace::Tracer::AddResource.
  explicit HttpRequestTelemetry(const HttpRequest& request, int trace_resource = 0);
  ~HttpRequestTelemetry();
  HttpRequestTelemetry(const HttpRequestTelemetry&) = delete;
  HttpRequestTelemetry& operator=(const HttpRequestTelemetry&) = delete;

  // The route's name (a low-cardinality label), e.g. "dashboard".
  void SetRoute(std::string route);
  // Null when tracing is off.
  const std::shared_ptr<trace::Span>& span() const { return span_; }
  // The answer: status, and the headers (X-Fanout-Completed: false marks a
  // partial answer).
  void End(const HttpResponse& head);

 private:
  void Finish(int status, bool partial);

  std::string method_;  // "GET", ... or "other": a label, bounded
  std::string path_;
  std::string route_ = "unmatched";
  metrics::Gauge* in_flight_ = nullptr;  // The route's, once known.
  absl::Time start_;
  std::shared_ptr<trace::Span> span_;
  bool ended_ = false;
};

}  // namespace fanout
