#include "node/telemetry/trace.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "node/telemetry/trace_processor.h"

namespace fanout::trace {
namespace {

using opentelemetry::proto::common::v1::KeyValue;
using ResourceProto = internal::ResourceProto;
using SpanProto = internal::SpanProto;

std::atomic<Tracer*> global_tracer{nullptr};

absl::Status ValidateOptions(const Tracer::Options& options) {
  auto invalid = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("tracer options: ", what));
  };
  if (options.exporter == nullptr) {
    return invalid("exporter must be set (node/otlp: NewOtlpTracer sends to a collector)");
  }
  if (!(options.sample_ratio >= 0.0 && options.sample_ratio <= 1.0)) {
    return invalid(absl::StrCat("sample_ratio must be in [0, 1], got ", options.sample_ratio));
  }
  if (options.max_queue_spans == 0) return invalid("max_queue_spans must be > 0");
  if (options.max_batch_spans == 0) return invalid("max_batch_spans must be > 0");
  if (options.flush_interval <= absl::ZeroDuration()) {
    return invalid(absl::StrCat("flush_interval must be > 0, got ",
                                absl::FormatDuration(options.flush_interval)));
  }
  if (options.export_timeout <= absl::ZeroDuration()) {
    return invalid(absl::StrCat("export_timeout must be > 0, got ",
                                absl::FormatDuration(options.export_timeout)));
  }
  return absl::OkStatus();
}

void AddStringAttribute(std::string_view key, std::string_view value, ResourceProto* resource) {
  KeyValue* attribute = resource->add_attributes();
  attribute->set_key(std::string(key));
  attribute->mutable_value()->set_string_value(std::string(value));
}

std::string DefaultInstanceId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat(host[0] ? host : "unknown-host", ":", getpid());
}

// What every resource carries besides its service.name. The k8s.* values
// come from the downward API (the Helm chart sets the variables).
ResourceProto MakeResource(const Tracer::Options& options, std::string_view service_name) {
  ResourceProto resource;
  AddStringAttribute("service.name", service_name, &resource);
  if (!options.service_version.empty()) {
    AddStringAttribute("service.version", options.service_version, &resource);
  }
  AddStringAttribute("service.instance.id",
                     options.instance_id.empty() ? DefaultInstanceId() : options.instance_id,
                     &resource);
  AddStringAttribute("telemetry.sdk.name", "fanout", &resource);
  AddStringAttribute("telemetry.sdk.language", "cpp", &resource);
  for (auto [key, env] :
       {std::pair{"k8s.pod.name", "POD_NAME"}, std::pair{"k8s.namespace.name", "POD_NAMESPACE"},
        std::pair{"k8s.node.name", "NODE_NAME"}}) {
    const char* value = std::getenv(env);
    if (value != nullptr && value[0] != '\0') AddStringAttribute(key, value, &resource);
  }
  return resource;
}

std::string IdBytes(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

std::unique_ptr<SpanProto> NewSpanProto(const SpanContext& context, const SpanContext* parent,
                                        std::string_view name, SpanKind kind) {
  auto proto = std::make_unique<SpanProto>();
  proto->set_trace_id(IdBytes(context.trace_id.data(), context.trace_id.size()));
  proto->set_span_id(IdBytes(context.span_id.data(), context.span_id.size()));
  if (!context.tracestate.empty()) proto->set_trace_state(context.tracestate);
  if (parent != nullptr) {
    proto->set_parent_span_id(IdBytes(parent->span_id.data(), parent->span_id.size()));
  }
  proto->set_flags(context.flags);
  proto->set_name(name.data(), name.size());
  proto->set_kind(static_cast<SpanProto::SpanKind>(kind));
  proto->set_start_time_unix_nano(static_cast<uint64_t>(absl::GetCurrentTimeNanos()));
  return proto;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tracer>> Tracer::Create(Options options) {
  if (absl::Status status = ValidateOptions(options); !status.ok()) return status;
  // Shared: a test keeps a handle to look at batches.
  std::shared_ptr<SpanExporter> exporter = options.exporter;
  auto processor = std::make_shared<internal::SpanProcessor>(
      internal::SpanProcessor::Options{.max_queue_spans = options.max_queue_spans,
                                       .max_batch_spans = options.max_batch_spans,
                                       .flush_interval = options.flush_interval,
                                       .export_timeout = options.export_timeout},
      std::move(exporter), MakeResource(options, options.service_name));
  return std::unique_ptr<Tracer>(new Tracer(std::move(options), std::move(processor)));
}

Tracer::Tracer(Options options, std::shared_ptr<internal::SpanProcessor> processor)
    : options_(std::move(options)), processor_(std::move(processor)) {
  struct Stat {
    const char* name;
    const char* help;
    metrics::Type type;
    int64_t Stats::*field;
  };
  static constexpr Stat kStats[] = {
      {"fanout_trace_spans_exported_total", "Spans the collector accepted.",
       metrics::Type::kCounter, &Stats::exported},
      {"fanout_trace_spans_dropped_total",
       "Spans lost: the export queue was full, or the collector failed or refused them.",
       metrics::Type::kCounter, &Stats::dropped},
      {"fanout_trace_export_failures_total", "Export calls that failed.", metrics::Type::kCounter,
       &Stats::export_failures},
      {"fanout_trace_spans_queued", "Ended spans waiting for export.", metrics::Type::kGauge,
       &Stats::queued},
  };
  for (const Stat& stat : kStats) {
    auto field = stat.field;
    metrics_.push_back(
        metrics::DefaultRegistry().AddCallback(stat.name, stat.help, stat.type, {}, [this, field] {
          return std::vector<metrics::Sample>{{{}, static_cast<double>(stats().*field)}};
        }));
  }
}

Tracer::~Tracer() { processor_->Shutdown(); }

int Tracer::AddResource(std::string service_name) {
  return processor_->AddResource(MakeResource(options_, service_name));
}

void Tracer::MapGrpcService(std::string grpc_service, int resource) {
  std::unique_lock lock(services_mu_);
  grpc_services_[std::move(grpc_service)] = resource;
}

int Tracer::ResourceOfGrpcService(std::string_view grpc_service) const {
  std::shared_lock lock(services_mu_);
  // Debian's Abseil has its own string_view: spell the lookup key in it.
  auto it = grpc_services_.find(absl::string_view(grpc_service.data(), grpc_service.size()));
  return it == grpc_services_.end() ? 0 : it->second;
}

std::shared_ptr<Span> Tracer::StartSpan(std::string_view name, SpanKind kind,
                                        const SpanContext* parent, int resource) {
  if (resource < 0 || resource >= processor_->resource_count()) resource = 0;
  if (parent != nullptr && !parent->valid()) parent = nullptr;
  SpanContext context;
  if (parent != nullptr) {
    context.trace_id = parent->trace_id;
    context.flags = parent->flags;
    context.tracestate = parent->tracestate;
  } else {
    context.trace_id = NewTraceId();
    context.flags = SampledByRatio(context.trace_id, options_.sample_ratio) ? kSampledFlag : 0;
  }
  context.span_id = NewSpanId();
  if (!context.sampled()) {
    return std::make_shared<Span>(Span::Key(), std::move(context), resource, nullptr, nullptr);
  }
  std::unique_ptr<SpanProto> proto = NewSpanProto(context, parent, name, kind);
  return std::make_shared<Span>(Span::Key(), std::move(context), resource, std::move(proto),
                                processor_);
}

Tracer::Stats Tracer::stats() const {
  internal::SpanProcessor::Counts counts = processor_->counts();
  return Stats{.exported = counts.exported,
               .dropped = counts.dropped,
               .export_failures = counts.export_failures,
               .queued = counts.queued};
}

void Tracer::ForceFlush() { processor_->ForceFlush(); }

Tracer* GlobalTracer() { return global_tracer.load(std::memory_order_acquire); }
void SetGlobalTracer(Tracer* tracer) { global_tracer.store(tracer, std::memory_order_release); }

bool IsServerError(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDataLoss:
      return true;
    default:
      return false;
  }
}

}  // namespace fanout::trace
