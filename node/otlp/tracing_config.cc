#include "node/otlp/tracing_config.h"

#include "node/config/tls_config.h"

namespace fanout::trace {

TracingOptions TracingOptionsFromConfig(const config::v1::Tracing& config) {
  TracingOptions out;
  out.otlp = {.endpoint = config.otlp_endpoint(), .tls = TlsOptionsFromConfig(config.tls())};
  out.otlp.headers.assign(config.headers().begin(), config.headers().end());
  Tracer::Options& tracer = out.tracer;
  if (config.has_sample_ratio()) tracer.sample_ratio = config.sample_ratio();
  if (config.max_queue_spans() > 0) tracer.max_queue_spans = config.max_queue_spans();
  if (config.max_batch_spans() > 0) tracer.max_batch_spans = config.max_batch_spans();
  if (config.flush_interval_ms() > 0) {
    tracer.flush_interval = absl::Milliseconds(config.flush_interval_ms());
  }
  if (config.export_timeout_ms() > 0) {
    tracer.export_timeout = absl::Milliseconds(config.export_timeout_ms());
  }
  return out;
}

}  // namespace fanout::trace
