// The config file's `tracing` block (fanout.config.v1.Tracing) turned into
// what NewOtlpTracer takes, its 0s and unset fields read as the defaults
// the schema names:
//
//   TracingOptions tracing = TracingOptionsFromConfig(config.tracing());
//   tracing.tracer.service_name = "fanout-users";
//   auto tracer = NewOtlpTracer(tracing.otlp, tracing.tracer);
//
// The endpoint and headers are taken as they are: the environment's
// (OTEL_EXPORTER_OTLP_*) are merged into the config before (fanoutd's
// node_config.cc). Thread-safe.
#pragma once

#include "fanout/config/v1/node_config.pb.h"
#include "node/otlp/otlp_exporter.h"

namespace fanout::trace {

struct TracingOptions {
  OtlpOptions otlp;
  Tracer::Options tracer;
};

TracingOptions TracingOptionsFromConfig(const config::v1::Tracing& config);

}  // namespace fanout::trace
