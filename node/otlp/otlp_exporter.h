// The OTLP/gRPC span exporter: where a node's tracer sends its batches
// (Jaeger, the OpenTelemetry Collector), with the synchronous stub on the
// tracer's exporter thread. It sits above node/rpc (TLS credentials, status
// mapping), so the recording API in node/telemetry stays below every layer
// that records.
//
//   FANOUT_ASSIGN_OR_RETURN(std::unique_ptr<trace::Tracer> tracer,
//                           trace::NewOtlpTracer({.endpoint = "dns:///jaeger:4317"},
//                                                {.sample_ratio = 0.1,
//                                                 .service_name = "gateway"}));
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "node/base/tls_files.h"
#include "node/telemetry/trace.h"

namespace fanout::trace {

struct OtlpOptions {
  // Any gRPC target: "host:port", "dns:///name:port". Required.
  std::string endpoint;
  // TLS (mTLS with cert_file/key_file) when tls.enabled(); else plaintext.
  TlsOptions tls;
  // Metadata sent with every export (the collector's credentials).
  std::vector<std::pair<std::string, std::string>> headers;
};

// OTLP/gRPC TraceService/Export to `otlp.endpoint`. The channel connects
// lazily, so a collector that is not up yet only fails exports, never
// construction. INVALID_ARGUMENT for an empty endpoint, TLS files that do
// not load (naming the file), a header gRPC cannot send (naming its key,
// never its value: it is usually a credential).
absl::StatusOr<std::unique_ptr<SpanExporter>> NewOtlpGrpcExporter(const OtlpOptions& otlp);

// Tracer::Create with `options.exporter` set to NewOtlpGrpcExporter(otlp).
absl::StatusOr<std::unique_ptr<Tracer>> NewOtlpTracer(const OtlpOptions& otlp,
                                                      Tracer::Options options);

}  // namespace fanout::trace
