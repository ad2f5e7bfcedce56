// Tracing: spans for every hop of a request, exported over OTLP/gRPC to an
// OpenTelemetry collector (Jaeger on 4317). The one header to include to
// record; the exporter that sends is node/otlp/otlp_exporter.h.
//
//   FANOUT_ASSIGN_OR_RETURN(std::unique_ptr<trace::Tracer> tracer,
//                           trace::NewOtlpTracer({.endpoint = "dns:///jaeger:4317"},
//                                                {.sample_ratio = 0.1,
//                                                 .service_name = "gateway"}));
//   trace::SetGlobalTracer(tracer.get());   // before serving starts
//   ...
//   if (trace::Tracer* t = trace::GlobalTracer()) {
//     auto span = t->StartSpan("GET /v1/users/{id}", trace::SpanKind::kServer, parent);
//     ...
//   }
//   trace::SetGlobalTracer(nullptr);        // after serving stops
//   tracer.reset();                         // exports what is left, joins its thread
//
// Sampling is parent-based: a span with a valid parent follows the parent's
// sampled flag; a root span is kept with probability sample_ratio, decided by
// its trace id (SampledByRatio), so every service decides a trace the same
// way. Ended spans wait in a bounded queue for the one exporter thread
// (SpanProcessor); a collector that is down or slow costs dropped spans,
// counted in stats(), never a blocked caller.
//
// The pieces: trace_context.h (ids, traceparent), trace_span.h (Span,
// attributes), trace_exporter.h (where batches go), trace_processor.h (the
// queue and the exporter thread).
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "node/telemetry/metrics.h"
#include "node/telemetry/trace_context.h"
#include "node/telemetry/trace_exporter.h"
#include "node/telemetry/trace_span.h"

namespace fanout::trace {

namespace internal {
class SpanProcessor;
}  // namespace internal

// Thread-safe, except where a method says "before the first span".
class Tracer {
 public:
  struct Options {
    double sample_ratio = 1.0;            // root spans: kept with this probability (by trace id)
    std::string service_name = "fanout";  // the default resource's service.name
    std::string service_version;          // service.version; empty: not sent
    std::string instance_id;              // service.instance.id; empty: "<host name>:<pid>"
    size_t max_queue_spans = 2048;        // spans waiting for export; more are dropped and counted
    size_t max_batch_spans = 512;         // per Export call
    absl::Duration flush_interval = absl::Seconds(1);
    absl::Duration export_timeout = absl::Seconds(5);
    // Where batches go (required): NewOtlpTracer sets an OTLP/gRPC one;
    // tests an in-memory one.
    std::shared_ptr<SpanExporter> exporter;
  };
  struct Stats {
    int64_t exported = 0;         // accepted by the collector
    int64_t dropped = 0;          // queue full, failed or rejected exports, or ended after shutdown
    int64_t export_failures = 0;  // Export calls that failed
    int64_t queued = 0;           // waiting, or in an export under way
  };

  // INVALID_ARGUMENT naming the field: no exporter, ratio outside [0,1],
  // zero sizes, non-positive durations.
  static absl::StatusOr<std::unique_ptr<Tracer>> Create(Options options);
  // Exports what is queued (bounded by export_timeout), then joins the
  // exporter thread. Spans still open end into nothing (dropped, counted).
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // Resources: every span reports under one resource (its service.name plus
  // the attributes shared by all: version, instance, sdk, Kubernetes).
  // Index 0 is the default (options.service_name). Before the first span.
  int AddResource(std::string service_name);
  // Spans of server calls for this gRPC service ("fanout.users.v1.Users")
  // report under `resource`. Before serving starts.
  void MapGrpcService(std::string grpc_service, int resource);
  // 0 when unmapped.
  int ResourceOfGrpcService(std::string_view grpc_service) const;

  // A new span. `parent`: the remote or local parent's context (null or
  // invalid: a new trace, sampled by ratio). An unknown `resource` is 0.
  std::shared_ptr<Span> StartSpan(std::string_view name, SpanKind kind, const SpanContext* parent,
                                  int resource = 0);

  Stats stats() const;
  // Exports everything queued now; returns after the export or
  // export_timeout. For tests and shutdown.
  void ForceFlush();

  const Options& options() const { return options_; }

 private:
  Tracer(Options options, std::shared_ptr<internal::SpanProcessor> processor);

  const Options options_;
  // Spans hold it too, so a span that outlives the tracer ends safely.
  std::shared_ptr<internal::SpanProcessor> processor_;
  mutable std::shared_mutex services_mu_;
  absl::flat_hash_map<std::string, int> grpc_services_;  // guarded by services_mu_
  // fanout_trace_* in the metrics registry, read from stats() when scraped.
  std::vector<metrics::CallbackHandle> metrics_;
};

// The process's tracer; null when tracing is off (the default). Not owned.
// Set before serving starts, cleared after it stops. Thread-safe (an atomic
// pointer).
Tracer* GlobalTracer();
void SetGlobalTracer(Tracer* tracer);

// OpenTelemetry's gRPC convention for server spans: these codes are the
// server's fault and mark the span as an error; the others (NOT_FOUND,
// INVALID_ARGUMENT, ...) are the caller's and leave it unset. Client spans
// mark every non-OK code.
bool IsServerError(absl::StatusCode code);

// Attribute names of the OpenTelemetry semantic conventions fanout uses.
namespace attr {
inline constexpr char kRpcSystem[] = "rpc.system";  // "grpc"
inline constexpr char kRpcService[] = "rpc.service";
inline constexpr char kRpcMethod[] = "rpc.method";
inline constexpr char kRpcGrpcStatusCode[] = "rpc.grpc.status_code";  // int
inline constexpr char kHttpRequestMethod[] = "http.request.method";
inline constexpr char kHttpRoute[] = "http.route";
inline constexpr char kHttpResponseStatusCode[] = "http.response.status_code";  // int
inline constexpr char kServerAddress[] = "server.address";
inline constexpr char kServerPort[] = "server.port";  // int
}  // namespace attr

}  // namespace fanout::trace
