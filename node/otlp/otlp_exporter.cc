#include "node/otlp/otlp_exporter.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "node/rpc/client.h"
#include "node/rpc/status.h"
#include "node/rpc/tls_credentials.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace fanout::trace {
namespace {

using opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;
using opentelemetry::proto::collector::trace::v1::TraceService;

class OtlpGrpcExporter final : public SpanExporter {
 public:
  OtlpGrpcExporter(const std::string& endpoint, std::shared_ptr<grpc::Channel> channel,
                   std::vector<std::pair<std::string, std::string>> headers)
      : endpoint_(endpoint),
        stub_(TraceService::NewStub(std::move(channel))),
        headers_(std::move(headers)) {}

  absl::StatusOr<int64_t> Export(const ExportTraceServiceRequest& request,
                                 absl::Time deadline) override {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(deadline));
    for (const auto& [key, value] : headers_) context.AddMetadata(key, value);
    ExportTraceServiceResponse response;
    grpc::Status status = stub_->Export(&context, request, &response);
    if (!status.ok()) return ToAbslStatus(status);
    return response.partial_success().rejected_spans();
  }

  std::string Describe() const override { return absl::StrCat("OTLP collector ", endpoint_); }

 private:
  std::string endpoint_;
  std::unique_ptr<TraceService::Stub> stub_;
  const std::vector<std::pair<std::string, std::string>> headers_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SpanExporter>> NewOtlpGrpcExporter(const OtlpOptions& otlp) {
  if (otlp.endpoint.empty()) return absl::InvalidArgumentError("OTLP endpoint must not be empty");
  for (const auto& [key, value] : otlp.headers) {
    // gRPC 1.51 aborts on metadata it cannot send; the message must not
    // carry the value.
    if (!CheckMetadata(key, "").ok() || !CheckMetadata(key, value).ok() ||
        absl::StartsWith(key, "grpc-")) {
      return absl::InvalidArgumentError(
          absl::StrCat("header \"", absl::CHexEscape(key),
                       "\": keys are 0-9 a-z - _ . and not grpc-*; values printable ASCII"));
    }
  }
  absl::StatusOr<ChannelSecurity> security = ChannelSecurityFor(otlp.tls);
  if (!security.ok()) return security.status();
  grpc::ChannelArguments args;
  security->Apply(&args);
  return std::make_unique<OtlpGrpcExporter>(
      otlp.endpoint, grpc::CreateCustomChannel(otlp.endpoint, security->credentials, args),
      otlp.headers);
}

absl::StatusOr<std::unique_ptr<Tracer>> NewOtlpTracer(const OtlpOptions& otlp,
                                                      Tracer::Options options) {
  absl::StatusOr<std::unique_ptr<SpanExporter>> exporter = NewOtlpGrpcExporter(otlp);
  if (!exporter.ok()) return exporter.status();
  options.exporter = *std::move(exporter);
  return Tracer::Create(std::move(options));
}

}  // namespace fanout::trace
