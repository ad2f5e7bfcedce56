// Call telemetry: what the runtime records for every gRPC call it serves or
// makes, so services and the gateway get it without writing any.
//
// - a span (OpenTelemetry RPC conventions): SERVER for a served call,
//   continuing the caller's W3C traceparent; CLIENT for each outgoing call,
//   child of the calling task's span, whose context is sent on as
//   traceparent/tracestate;
// - metrics: duration histograms by service, method and code, and in-flight
//   gauges (fanout_rpc_{server,client}_*);
// - an access-log line per served call when the access log is on.
//
// Internal to node/rpc (server_call and client use it), and to the
// gateway's frame relay, which serves gRPC calls without gRPC core.
// Loop-affine: one object per call, on the call's loop.
#pragma once

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "node/async/task.h"

namespace google::protobuf {
class Descriptor;
}
namespace fanout::metrics {
class Gauge;
class Histogram;
template <typename Metric>
class Family;
}  // namespace fanout::metrics

namespace fanout::internal {

// "/pkg.Service/Method" for the method taking `request` and answering
// `response` (streaming or not), looked up in the services of the .proto
// files declaring them; "/unknown/unknown" if none. A service with two
// methods of identical types gets the first: fanout's API style gives each
// method its own request type.
std::string MethodPathOf(const google::protobuf::Descriptor* request,
                         const google::protobuf::Descriptor* response, bool server_streaming);

// The same, computed once per type pair.
template <typename Request, typename Response, bool kServerStreaming>
const std::string& TypedMethodPath() {
  static const std::string path =
      MethodPathOf(Request::descriptor(), Response::descriptor(), kServerStreaming);
  return path;
}

// The metric series one method records into on one side of its calls: the
// in-flight gauge and a duration histogram per status code. Family::With
// hashes the label values and takes the family's lock on every lookup; a
// method's series are found once here and reused by all its calls (a
// family's children live as long as the registry). Made on a method's first
// call, like the series they hold, and never destroyed. Thread-safe.
class CallSeries {
 public:
  CallSeries(std::string method_path, bool server);
  CallSeries(const CallSeries&) = delete;
  CallSeries& operator=(const CallSeries&) = delete;

  const std::string& path() const { return path_; }  // "/pkg.Service/Method"
  std::string_view service() const { return service_; }
  std::string_view method() const { return method_; }
  bool server() const { return server_; }
  metrics::Gauge& in_flight() const { return in_flight_; }
  // The histogram for calls that ended with `code`, made on the first such
  // call (as before: /metrics shows only the codes a method has answered).
  metrics::Histogram& duration(absl::StatusCode code) const;

  // The series of `method_path` on the server or client side, from a
  // process-wide table: for paths known only at run time (the generic
  // proxy path). One lookup instead of two per call. A method this binary
  // has no descriptor for records as "/other/other" (service and method
  // labels "other"), so a caller cannot mint series.
  static const CallSeries& Server(std::string_view method_path);
  static const CallSeries& Client(std::string_view method_path);

 private:
  static constexpr int kCodes = 17;  // absl::StatusCode 0..16
  const std::string path_;
  const bool server_;
  std::string_view service_, method_;  // Views into path_.
  metrics::Family<metrics::Histogram>& durations_;
  metrics::Gauge& in_flight_;
  // Filled on first use per code (a race stores the same child twice).
  mutable std::atomic<metrics::Histogram*> by_code_[kCodes] = {};
};

// The series of a typed method, found once per type pair and side.
template <typename Request, typename Response, bool kServerStreaming, bool kServer>
const CallSeries& TypedCallSeries() {
  static const CallSeries& series =
      kServer ? CallSeries::Server(TypedMethodPath<Request, Response, kServerStreaming>())
              : CallSeries::Client(TypedMethodPath<Request, Response, kServerStreaming>());
  return series;
}

// What a server and a client call measure alike: the method, the time, and
// the in-flight gauge held from start to Finish (or destruction).
class CallMeasure {
 public:
  explicit CallMeasure(const CallSeries& series);
  ~CallMeasure();
  CallMeasure(const CallMeasure&) = delete;
  CallMeasure& operator=(const CallMeasure&) = delete;

  std::string_view service() const { return series_.service(); }
  std::string_view method() const { return series_.method(); }
  bool finished() const { return finished_; }
  // Records the duration under `code` and leaves the in-flight gauge; the
  // time taken, or nullopt if the call was already finished.
  std::optional<absl::Duration> Finish(absl::StatusCode code);

 private:
  const CallSeries& series_;
  absl::Time start_;
  bool finished_ = false;
};

class ServerCallTelemetry {
 public:
  ServerCallTelemetry(const CallSeries& series, const grpc::ServerContextBase& context);
  // For a call served outside gRPC core (the gateway's frame relay): the
  // caller's traceparent and tracestate values ("" when absent), and its
  // address as gRPC prints one ("ipv4:10.0.0.7:41234").
  ServerCallTelemetry(const CallSeries& series, std::string_view traceparent,
                      std::string_view tracestate, std::string_view peer);
  ~ServerCallTelemetry();
  ServerCallTelemetry(const ServerCallTelemetry&) = delete;
  ServerCallTelemetry& operator=(const ServerCallTelemetry&) = delete;

  // The call's span (null when tracing is off): the handler's task runs under it.
  const std::shared_ptr<trace::Span>& span() const { return span_; }
  // The status the call was answered with.
  void End(const absl::Status& status);

 private:
  CallMeasure measure_;
  std::shared_ptr<trace::Span> span_;
};

class ClientCallTelemetry {
 public:
  // Starts the client span and puts its context on `context` as traceparent.
  ClientCallTelemetry(const CallSeries& series, const TaskContext& task,
                      const std::vector<std::pair<std::string, std::string>>& span_attributes,
                      grpc::ClientContext* context);
  ~ClientCallTelemetry();
  ClientCallTelemetry(const ClientCallTelemetry&) = delete;
  ClientCallTelemetry& operator=(const ClientCallTelemetry&) = delete;

  // True when this call carries a trace context of its own: a caller's
  // traceparent in CallOptions::metadata must not be sent as well.
  bool traced() const { return span_ != nullptr; }
  void End(const absl::Status& status, const grpc::ClientContext& context);

 private:
  CallMeasure measure_;
  std::shared_ptr<trace::Span> span_;
};

}  // namespace fanout::internal
