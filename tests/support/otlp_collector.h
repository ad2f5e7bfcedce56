// OtlpCollector: a real OTLP/gRPC trace collector for tests, on
// 127.0.0.1:<free port>. It keeps every span it receives with its
// resource's service.name, and can play a collector that is down
// (UNAVAILABLE) or stuck (answers nothing until the caller's deadline).
//
//   OtlpCollector collector;
//   auto tracer = trace::NewOtlpTracer({.endpoint = collector.address()}, {});
//   ... spans ...
//   ASSERT_TRUE(collector.WaitForSpans(3, absl::Seconds(10)));
//   EXPECT_EQ(collector.Spans()[0].service_name, "fanout");
//
// Thread-safe. The synchronous gRPC service API: its handlers run on gRPC's
// own threads, fine for a test helper.
#pragma once

#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_context.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "node/base/sync.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace fanout::testing {

class OtlpCollector final
    : public opentelemetry::proto::collector::trace::v1::TraceService::Service {
 public:
  using ExportRequest = opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
  using ExportResponse = opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;

  enum class Mode {
    kAccept,       // keep the spans, answer OK
    kUnavailable,  // answer UNAVAILABLE, keep nothing
    kHang,         // answer nothing until the call's deadline (or cancellation)
  };

  struct ReceivedSpan {
    std::string service_name;
    opentelemetry::proto::resource::v1::Resource resource;
    std::string scope_name;
    opentelemetry::proto::trace::v1::Span span;
  };

  // `credentials`: TLS for a collector behind TLS (tls_credentials.h).
  explicit OtlpCollector(
      std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials()) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", credentials, &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }

  ~OtlpCollector() {
    {
      MutexLock lock(&mu_);
      stopping_ = true;
      changed_.SignalAll();  // hanging handlers return now
    }
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    server_->Wait();
  }

  OtlpCollector(const OtlpCollector&) = delete;
  OtlpCollector& operator=(const OtlpCollector&) = delete;

  bool ok() const { return server_ != nullptr && port_ > 0; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  void set_mode(Mode mode) {
    MutexLock lock(&mu_);
    mode_ = mode;
    changed_.SignalAll();
  }

  std::vector<ReceivedSpan> Spans() const {
    MutexLock lock(&mu_);
    return spans_;
  }

  // The metadata the last Export call carried (key: value; gRPC's own left out).
  std::map<std::string, std::string> last_metadata() const {
    MutexLock lock(&mu_);
    return last_metadata_;
  }

  // Export calls answered, in any mode.
  int export_calls() const {
    MutexLock lock(&mu_);
    return export_calls_;
  }

  // True once at least `n` spans arrived; false after `timeout`.
  bool WaitForSpans(size_t n, absl::Duration timeout) const {
    absl::Time deadline = absl::Now() + timeout;
    MutexLock lock(&mu_);
    while (spans_.size() < n) {
      if (!changed_.WaitWithDeadline(&mu_, deadline) && spans_.size() < n) return false;
    }
    return true;
  }

  grpc::Status Export(grpc::ServerContext* context, const ExportRequest* request,
                      ExportResponse* response) override {
    MutexLock lock(&mu_);
    ++export_calls_;
    last_metadata_.clear();
    for (const auto& [key, value] : context->client_metadata()) {
      std::string name(key.data(), key.size());
      if (!name.starts_with("grpc-") && name != "user-agent") {
        last_metadata_[name] = std::string(value.data(), value.size());
      }
    }
    if (mode_ == Mode::kHang) Hang(context);
    if (stopping_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "collector stopping");
    if (mode_ == Mode::kUnavailable) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "collector told to be down");
    }
    if (mode_ == Mode::kHang) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "collector hung");
    }
    Keep(*request);
    changed_.SignalAll();
    return grpc::Status::OK;
  }

 private:
  // Waits (mu_ held) until the caller's deadline, cancellation, a mode change
  // or shutdown; polls for cancellation because nothing signals it.
  void Hang(grpc::ServerContext* context) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    absl::Time deadline = absl::FromChrono(context->deadline());
    while (mode_ == Mode::kHang && !stopping_ && !context->IsCancelled() &&
           absl::Now() < deadline) {
      changed_.WaitWithDeadline(&mu_, std::min(deadline, absl::Now() + absl::Milliseconds(20)));
    }
  }

  void Keep(const ExportRequest& request) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const auto& resource_spans : request.resource_spans()) {
      std::string service_name;
      for (const auto& attribute : resource_spans.resource().attributes()) {
        if (attribute.key() == "service.name") service_name = attribute.value().string_value();
      }
      for (const auto& scope_spans : resource_spans.scope_spans()) {
        for (const auto& span : scope_spans.spans()) {
          spans_.push_back(
              {service_name, resource_spans.resource(), scope_spans.scope().name(), span});
        }
      }
    }
  }

  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  mutable Mutex mu_;
  mutable CondVar changed_;
  Mode mode_ ABSL_GUARDED_BY(mu_) = Mode::kAccept;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int export_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::string> last_metadata_ ABSL_GUARDED_BY(mu_);
  std::vector<ReceivedSpan> spans_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fanout::testing
