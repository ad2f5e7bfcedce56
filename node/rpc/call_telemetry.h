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
// Internal to node/rpc: server_call and client use it.
// Loop-affine: one object per call, on the call's loop.
#pragma once

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

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
}

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

// What a server and a client call measure alike: the method, the time, and
// the in-flight gauge held from start to Finish (or destruction).
class CallMeasure {
 public:
  CallMeasure(std::string_view method_path, bool server);
  ~CallMeasure();
  CallMeasure(const CallMeasure&) = delete;
  CallMeasure& operator=(const CallMeasure&) = delete;

  std::string_view service() const { return service_; }
  std::string_view method() const { return method_; }
  // Records the duration under `code` and leaves the in-flight gauge; the
  // time taken, or nullopt if the call was already finished.
  std::optional<absl::Duration> Finish(absl::StatusCode code);

 private:
  std::string_view service_, method_;
  bool server_;
  absl::Time start_;
  metrics::Gauge* in_flight_;  // Null once finished.
};

class ServerCallTelemetry {
 public:
  ServerCallTelemetry(std::string_view method_path, const grpc::ServerContextBase& context);
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
  ClientCallTelemetry(std::string_view method_path, const TaskContext& task,
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
