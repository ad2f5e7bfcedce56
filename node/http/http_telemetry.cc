#include "node/http/http_telemetry.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "node/base/log.h"
#include "node/telemetry/metrics.h"
#include "node/telemetry/trace.h"

namespace fanout {
namespace {

struct HttpMetrics {
  metrics::Family<metrics::Histogram>& duration;
  metrics::Family<metrics::Gauge>& in_flight;
};

const HttpMetrics& Metrics() {
  static const HttpMetrics m{
      metrics::DefaultRegistry().AddHistogram(
          "fanout_http_server_duration_seconds",
          "Time to answer a REST request, by route, HTTP method and status.",
          {"route", "method", "status"}),
      metrics::DefaultRegistry().AddGauge("fanout_http_server_in_flight",
                                          "REST requests being answered now.", {"route"}),
  };
  return m;
}

// Status 499 (nginx's): the client closed the request before the answer.
constexpr int kClientGone = 499;

// The method as a label: the standard ones as sent, anything else "other"
// (a caller must not mint metric series or span names).
std::string MethodLabel(std::string_view method) {
  for (const char* known : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    if (method == known) return known;
  }
  return "other";
}

}  // namespace

HttpRequestTelemetry::HttpRequestTelemetry(const HttpRequest& request, int trace_resource)
    : method_(MethodLabel(request.method)), path_(request.path), start_(absl::Now()) {
  trace::Tracer* tracer = trace::GlobalTracer();
  if (tracer == nullptr) return;
  std::optional<trace::SpanContext> parent =
      trace::ParseTraceparent(request.Header("traceparent"), request.Header("tracestate"));
  // Named "METHOD" until the route is known ("GET dashboard" then).
  span_ = tracer->StartSpan(method_, trace::SpanKind::kServer, parent ? &*parent : nullptr,
                            trace_resource);
  if (span_->recording()) {
    span_->SetAttribute("http.request.method", method_);
    span_->SetAttribute("url.path", path_);
    span_->SetAttribute("url.scheme", "http");
    std::string_view agent = request.Header("user-agent");
    if (!agent.empty()) span_->SetAttribute("user_agent.original", agent);
  }
}

HttpRequestTelemetry::~HttpRequestTelemetry() {
  Finish(kClientGone, false);  // Nothing when the request was answered.
}

void HttpRequestTelemetry::SetRoute(std::string route) {
  route_ = std::move(route);
  in_flight_ = &Metrics().in_flight.With({route_});
  in_flight_->Add(1);
  if (span_ && span_->recording()) {
    span_->SetName(absl::StrCat(method_, " ", route_));
    span_->SetAttribute("http.route", route_);
  }
}

void HttpRequestTelemetry::End(const HttpResponse& head) {
  bool partial = false;
  for (const auto& [key, value] : head.headers) {
    if (absl::EqualsIgnoreCase(key, "x-fanout-completed")) partial = value == "false";
  }
  Finish(head.status, partial);
}

void HttpRequestTelemetry::Finish(int status, bool partial) {
  if (ended_) return;
  ended_ = true;
  absl::Duration took = absl::Now() - start_;
  std::string status_text = absl::StrCat(status);
  if (in_flight_ != nullptr) in_flight_->Add(-1);
  Metrics().duration.With({route_, method_, status_text}).Observe(absl::ToDoubleSeconds(took));
  if (span_ != nullptr) {
    if (span_->recording()) {
      span_->SetAttribute("http.response.status_code", static_cast<int64_t>(status));
      if (partial) span_->SetAttribute("fanout.partial", true);
      if (status >= 500) span_->SetError(absl::StrCat("HTTP ", status));
    }
    span_->End();
  }
  if (AccessLogEnabled()) {
    FANOUT_LOG(INFO)
            .Field("kind", "http")
            .Field("method", method_)
            .Field("path", path_)
            .Field("route", route_)
            .Field("status", status)
            .Field("duration_ms", absl::ToDoubleMilliseconds(took))
            .Field("partial", partial)
            .Trace(span_ ? span_->context().TraceIdHex() : "",
                   span_ ? span_->context().SpanIdHex() : "")
        << "served";
  }
}

}  // namespace fanout
