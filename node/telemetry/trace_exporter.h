// SpanExporter: where the tracer's batches of finished spans go. The tracer's
// one exporter thread calls it. The one a node uses sends each batch to an
// OTLP/gRPC collector (node/otlp/otlp_exporter.h: it needs the RPC layer,
// which sits above this one); tests hand Tracer::Options::exporter an
// in-memory one to see batches without sockets.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
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

}  // namespace fanout::trace
