// SpanExporter: where the tracer's batches of finished spans go. The tracer's
// one exporter thread calls it; the default sends each batch to an OTLP/gRPC
// collector (Jaeger, the OpenTelemetry Collector) with the synchronous stub.
//
//   FANOUT_ASSIGN_OR_RETURN(std::unique_ptr<SpanExporter> exporter,
//                           NewOtlpGrpcExporter("dns:///jaeger:4317", tls));
//   absl::StatusOr<int64_t> rejected = exporter->Export(request, absl::Now() + absl::Seconds(5));
//
// Tests hand Tracer::Options::exporter an in-memory one to see batches
// without sockets.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "node/base/tls_files.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace fanout::trace {

using ExportTraceServiceRequest =
    opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

// Called from one thread at a time (the tracer's exporter thread).
class SpanExporter {
 public:
  virtual ~SpanExporter() = default;
  // Sends one batch, giving up at `deadline`. OK holds how many spans the
  // receiver rejected (OTLP partial success; usually 0).
  virtual absl::StatusOr<int64_t> Export(const ExportTraceServiceRequest& request,
                                         absl::Time deadline) = 0;
  // Where batches go, for log lines: "OTLP collector 127.0.0.1:4317".
  virtual std::string Describe() const = 0;
};

// OTLP/gRPC TraceService/Export to `endpoint` (any gRPC target: "host:port",
// "dns:///name:port"), over TLS when tls.enabled() (tls_credentials.h), else
// plaintext, with `headers` as metadata on every export. The channel
// connects lazily, so a collector that is not up yet only fails exports,
// never construction; TLS files that do not load are INVALID_ARGUMENT
// naming the file, a header gRPC cannot send INVALID_ARGUMENT naming its
// key (never its value: it is usually a credential).
absl::StatusOr<std::unique_ptr<SpanExporter>> NewOtlpGrpcExporter(
    const std::string& endpoint, const TlsOptions& tls = {},
    std::vector<std::pair<std::string, std::string>> headers = {});

}  // namespace fanout::trace
