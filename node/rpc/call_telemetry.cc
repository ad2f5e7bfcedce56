#include "node/rpc/call_telemetry.h"

#include <google/protobuf/descriptor.h>

#include <charconv>
#include <mutex>
#include <shared_mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "node/base/log.h"
#include "node/telemetry/metrics.h"
#include "node/telemetry/trace.h"

namespace fanout::internal {
namespace {

struct RpcMetrics {
  metrics::Family<metrics::Histogram>& server_duration;
  metrics::Family<metrics::Gauge>& server_in_flight;
  metrics::Family<metrics::Histogram>& client_duration;
  metrics::Family<metrics::Gauge>& client_in_flight;
};

const RpcMetrics& Metrics() {
  static const RpcMetrics m{
      metrics::DefaultRegistry().AddHistogram("fanout_rpc_server_duration_seconds",
                                              "Time to answer a gRPC call this node served.",
                                              {"service", "method", "code"}),
      metrics::DefaultRegistry().AddGauge("fanout_rpc_server_in_flight",
                                          "gRPC calls being served now.", {"service", "method"}),
      metrics::DefaultRegistry().AddHistogram(
          "fanout_rpc_client_duration_seconds",
          "Time for a gRPC call this node made (each attempt and hedge).",
          {"service", "method", "code"}),
      metrics::DefaultRegistry().AddGauge("fanout_rpc_client_in_flight",
                                          "gRPC calls this node is waiting on now.",
                                          {"service", "method"}),
  };
  return m;
}

// "/pkg.Service/Method" → ("pkg.Service", "Method").
std::pair<std::string_view, std::string_view> SplitMethodPath(std::string_view path) {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  size_t slash = path.find('/');
  if (slash == std::string_view::npos) return {path, {}};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

// The span name by the RPC conventions: "pkg.Service/Method".
std::string_view SpanName(std::string_view path) {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return path;
}

std::string_view CodeName(absl::StatusCode code) {
  static const std::string* names = [] {
    auto* n = new std::string[17];
    for (int i = 0; i < 17; ++i) n[i] = absl::StatusCodeToString(static_cast<absl::StatusCode>(i));
    return n;
  }();
  int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? std::string_view(names[i]) : std::string_view("UNKNOWN");
}

// The OpenTelemetry attribute names for one end of a call.
struct PeerKeys {
  std::string_view address, port;
};
constexpr PeerKeys kClientPeer{"client.address", "client.port"};
constexpr PeerKeys kServerPeer{"server.address", "server.port"};

// A gRPC peer ("ipv4:10.0.0.7:50051", "ipv6:[::1]:50051") as OpenTelemetry
// address and port attributes.
void SetPeer(trace::Span& span, const PeerKeys& keys, std::string_view peer) {
  std::string_view address = peer;
  int port = 0;
  size_t scheme = address.find(':');
  if (scheme != std::string_view::npos &&
      (peer.starts_with("ipv4:") || peer.starts_with("ipv6:"))) {
    address.remove_prefix(scheme + 1);
    size_t colon = address.rfind(':');
    std::string_view digits = colon == std::string_view::npos ? "" : address.substr(colon + 1);
    if (!digits.empty() &&
        std::from_chars(digits.data(), digits.data() + digits.size(), port).ptr ==
            digits.data() + digits.size()) {
      address = address.substr(0, colon);
      if (address.size() >= 2 && address.front() == '[' && address.back() == ']') {
        address = address.substr(1, address.size() - 2);
      }
    }
  }
  span.SetAttribute(keys.address, address);
  if (port > 0) span.SetAttribute(keys.port, port);
}

void SetRpcAttributes(trace::Span& span, std::string_view service, std::string_view method) {
  span.SetAttribute("rpc.system", "grpc");
  span.SetAttribute("rpc.service", service);
  span.SetAttribute("rpc.method", method);
}

std::string_view Message(const absl::Status& status) {
  absl::string_view m = status.message();
  return std::string_view(m.data(), m.size());
}

std::string_view Metadata(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                          std::string_view key) {
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return {};
  return std::string_view(it->second.data(), it->second.size());
}

}  // namespace

std::string MethodPathOf(const google::protobuf::Descriptor* request,
                         const google::protobuf::Descriptor* response, bool server_streaming) {
  for (const google::protobuf::FileDescriptor* file : {request->file(), response->file()}) {
    for (int s = 0; s < file->service_count(); ++s) {
      const google::protobuf::ServiceDescriptor* service = file->service(s);
      for (int m = 0; m < service->method_count(); ++m) {
        const google::protobuf::MethodDescriptor* method = service->method(m);
        if (method->input_type() == request && method->output_type() == response &&
            method->server_streaming() == server_streaming && !method->client_streaming()) {
          return absl::StrCat("/", service->full_name(), "/", method->name());
        }
      }
    }
  }
  return "/unknown/unknown";
}

CallSeries::CallSeries(std::string method_path, bool server)
    : path_(std::move(method_path)),
      server_(server),
      service_(SplitMethodPath(path_).first),
      method_(SplitMethodPath(path_).second),
      durations_(server ? Metrics().server_duration : Metrics().client_duration),
      in_flight_((server ? Metrics().server_in_flight : Metrics().client_in_flight)
                     .With({service_, method_})) {}

metrics::Histogram& CallSeries::duration(absl::StatusCode code) const {
  int i = static_cast<int>(code);
  // CodeName calls a code outside 0..16 UNKNOWN: the same series as kUnknown.
  if (i < 0 || i >= kCodes) i = static_cast<int>(absl::StatusCode::kUnknown);
  metrics::Histogram* histogram = by_code_[i].load(std::memory_order_acquire);
  if (histogram == nullptr) {
    histogram = &durations_.With({service_, method_, CodeName(code)});
    by_code_[i].store(histogram, std::memory_order_release);
  }
  return *histogram;
}

namespace {

// Whether this binary has a descriptor for the method ("/pkg.Service/M").
bool KnownMethod(std::string_view method_path) {
  size_t slash = method_path.rfind('/');
  if (method_path.size() < 4 || method_path[0] != '/' || slash == 0 ||
      slash == std::string_view::npos) {
    return false;
  }
  std::string dotted(method_path.substr(1));
  dotted[slash - 1] = '.';
  return google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(dotted) != nullptr;
}

// Method path → its series, one table per side. A path this binary has no
// descriptor for (a proxied method of a service compiled elsewhere, or a
// caller's made-up :path) records as service and method "other": callers
// cannot mint metric series. The table holds the known methods (bounded by
// the protos linked in) and remembers up to kUnknownRemembered unknown ones
// as "other", so a proxied method of a service compiled elsewhere is looked
// up in the descriptor pool once, not on every call.
class CallSeriesTable {
 public:
  explicit CallSeriesTable(bool server) : server_(server), other_(kOtherPath, server) {}

  const CallSeries& Find(std::string_view method_path) {
    // Debian's Abseil has its own string_view: spell the lookup key in it.
    absl::string_view key(method_path.data(), method_path.size());
    {
      std::shared_lock lock(mu_);
      auto it = series_.find(key);
      if (it != series_.end()) return *it->second;
    }
    const bool known = KnownMethod(method_path);
    std::unique_lock lock(mu_);
    auto [it, added] = series_.try_emplace(key, &other_);
    if (!added) return *it->second;
    if (known) {
      owned_.push_back(std::make_unique<const CallSeries>(std::string(method_path), server_));
      it->second = owned_.back().get();
      return *it->second;
    }
    if (unknown_ < kUnknownRemembered) {
      ++unknown_;
    } else {
      series_.erase(it);  // Made-up paths beyond the bound are not remembered.
    }
    return other_;
  }

 private:
  static constexpr char kOtherPath[] = "/other/other";
  static constexpr size_t kUnknownRemembered = 1024;
  const bool server_;
  const CallSeries other_;
  std::shared_mutex mu_;
  // Path -> its series (&other_ for an unknown one). Guarded by mu_.
  absl::flat_hash_map<std::string, const CallSeries*> series_;
  std::vector<std::unique_ptr<const CallSeries>> owned_;  // The known ones' series.
  size_t unknown_ = 0;                                    // Paths mapped to other_.
};

}  // namespace

const CallSeries& CallSeries::Server(std::string_view method_path) {
  static CallSeriesTable* table = new CallSeriesTable(/*server=*/true);
  return table->Find(method_path);
}

const CallSeries& CallSeries::Client(std::string_view method_path) {
  static CallSeriesTable* table = new CallSeriesTable(/*server=*/false);
  return table->Find(method_path);
}

CallMeasure::CallMeasure(const CallSeries& series) : series_(series), start_(absl::Now()) {
  series_.in_flight().Add(1);
}

CallMeasure::~CallMeasure() {
  if (!finished_) series_.in_flight().Add(-1);
}

std::optional<absl::Duration> CallMeasure::Finish(absl::StatusCode code) {
  if (finished_) return std::nullopt;
  finished_ = true;
  series_.in_flight().Add(-1);
  absl::Duration took = absl::Now() - start_;
  series_.duration(code).Observe(absl::ToDoubleSeconds(took));
  return took;
}

ServerCallTelemetry::ServerCallTelemetry(const CallSeries& series,
                                         const grpc::ServerContextBase& context)
    : ServerCallTelemetry(series, Metadata(context.client_metadata(), "traceparent"),
                          Metadata(context.client_metadata(), "tracestate"), context.peer()) {}

ServerCallTelemetry::ServerCallTelemetry(const CallSeries& series, std::string_view traceparent,
                                         std::string_view tracestate, std::string_view peer)
    : measure_(series) {
  trace::Tracer* tracer = trace::GlobalTracer();
  if (tracer == nullptr) return;
  std::optional<trace::SpanContext> parent = trace::ParseTraceparent(traceparent, tracestate);
  span_ = tracer->StartSpan(SpanName(series.path()), trace::SpanKind::kServer,
                            parent ? &*parent : nullptr,
                            tracer->ResourceOfGrpcService(measure_.service()));
  if (span_->recording()) {
    SetRpcAttributes(*span_, measure_.service(), measure_.method());
    SetPeer(*span_, kClientPeer, peer);
  }
}

ServerCallTelemetry::~ServerCallTelemetry() {
  // Checked first: the status is a heap allocation, and nearly every call
  // was answered (End already ran).
  if (!measure_.finished()) End(absl::CancelledError("the call ended without an answer"));
}

void ServerCallTelemetry::End(const absl::Status& status) {
  std::optional<absl::Duration> took = measure_.Finish(status.code());
  if (!took) return;
  if (span_ != nullptr) {
    span_->SetAttribute("rpc.grpc.status_code", static_cast<int64_t>(status.code()));
    if (trace::IsServerError(status.code())) span_->SetError(Message(status));
    span_->End();
  }
  if (AccessLogEnabled()) {
    FANOUT_LOG(INFO)
            .Field("kind", "grpc")
            .Field("service", measure_.service())
            .Field("method", measure_.method())
            .Field("code", CodeName(status.code()))
            .Field("duration_ms", absl::ToDoubleMilliseconds(*took))
            .Trace(span_ ? span_->context().TraceIdHex() : "",
                   span_ ? span_->context().SpanIdHex() : "")
        << "served";
  }
}

ClientCallTelemetry::ClientCallTelemetry(
    const CallSeries& series, const TaskContext& task,
    const std::vector<std::pair<std::string, std::string>>& span_attributes,
    grpc::ClientContext* context)
    : measure_(series) {
  trace::Tracer* tracer = trace::GlobalTracer();
  if (tracer == nullptr) return;
  const trace::SpanContext* parent = task.span ? &task.span->context() : nullptr;
  span_ = tracer->StartSpan(SpanName(series.path()), trace::SpanKind::kClient, parent,
                            task.span ? task.span->resource() : 0);
  const trace::SpanContext& mine = span_->context();
  context->AddMetadata("traceparent", trace::FormatTraceparent(mine));
  if (!mine.tracestate.empty()) context->AddMetadata("tracestate", mine.tracestate);
  if (span_->recording()) {
    SetRpcAttributes(*span_, measure_.service(), measure_.method());
    for (const auto& [key, value] : span_attributes) span_->SetAttribute(key, value);
  }
}

ClientCallTelemetry::~ClientCallTelemetry() = default;

void ClientCallTelemetry::End(const absl::Status& status, const grpc::ClientContext& context) {
  if (!measure_.Finish(status.code()) || span_ == nullptr) return;
  if (span_->recording()) {
    SetPeer(*span_, kServerPeer, context.peer());
    span_->SetAttribute("rpc.grpc.status_code", static_cast<int64_t>(status.code()));
    if (!status.ok()) span_->SetError(Message(status));
  }
  span_->End();
}

}  // namespace fanout::internal
