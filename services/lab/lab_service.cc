#include "services/lab/lab_service.h"

#include "absl/random/random.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "node/async/sleep.h"
#include "node/base/status_macros.h"
#include "node/rpc/server_call.h"
#include "node/rpc/status.h"

namespace fanout::lab {
namespace {

absl::Status Validate(const v1::EchoRequest& r, const LabService::Options& options) {
  if (r.delay_ms() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("delay_ms must be >= 0, got ", r.delay_ms()));
  }
  if (r.error_code() < 0 || r.error_code() > 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("error_code must be a gRPC code 0..16, got ", r.error_code()));
  }
  if (r.error_rate() < 0 || r.error_rate() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("error_rate must be in [0, 1], got ", r.error_rate()));
  }
  if (r.payload_bytes() < 0 || r.payload_bytes() > options.max_payload_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "payload_bytes must be in [0, ", options.max_payload_bytes, "], got ", r.payload_bytes()));
  }
  return absl::OkStatus();
}

bool ShouldFail(const v1::EchoRequest& r) {
  if (r.error_rate() > 0) {
    thread_local absl::BitGen gen;
    return absl::Bernoulli(gen, r.error_rate());
  }
  return r.error_code() != 0;
}

}  // namespace

void LabService::Serve(Server& server) {
  server.ServeUnary(
      &service_, &v1::Lab::AsyncService::RequestEcho,
      [this](grpc::ServerContext& c, const v1::EchoRequest& r) { return Echo(c, r); });
  server.ServeServerStream(
      &service_, &v1::Lab::AsyncService::RequestStream,
      [this](grpc::ServerContext& c, const v1::StreamRequest& r,
             ServerStreamWriter<v1::EchoResponse>& out) { return Stream(c, r, out); });
}

Task<absl::StatusOr<v1::EchoResponse>> LabService::Echo(grpc::ServerContext& context,
                                                        const v1::EchoRequest& request) {
  calls_.fetch_add(1, std::memory_order_relaxed);
  // Metadata both ways, so proxies can be seen passing it back.
  context.AddInitialMetadata("x-lab-served-by", options_.name);
  absl::StatusOr<v1::EchoResponse> answer = co_await Answer(context, request);
  context.AddTrailingMetadata("x-lab-code", absl::StrCat(static_cast<int>(answer.status().code())));
  co_return answer;
}

Task<absl::StatusOr<v1::EchoResponse>> LabService::Answer(grpc::ServerContext& context,
                                                          const v1::EchoRequest& request) {
  FANOUT_CO_RETURN_IF_ERROR(Validate(request, options_));
  v1::EchoResponse response;
  absl::Time deadline = internal::ServerDeadline(context);
  response.set_deadline_remaining_ms(
      deadline == absl::InfiniteFuture() ? -1 : absl::ToInt64Milliseconds(deadline - absl::Now()));
  if (request.delay_ms() > 0) {
    int64_t now = sleeping_.fetch_add(1) + 1;
    for (int64_t peak = peak_sleeping_.load(); now > peak;) {
      if (peak_sleeping_.compare_exchange_weak(peak, now)) break;
    }
    absl::Status slept = co_await Sleep(absl::Milliseconds(request.delay_ms()));
    sleeping_.fetch_sub(1);
    if (!slept.ok()) {
      interrupted_.fetch_add(1, std::memory_order_relaxed);
      co_return slept;
    }
  }
  if (ShouldFail(request)) {
    auto code = request.error_code() != 0 ? static_cast<absl::StatusCode>(request.error_code())
                                          : absl::StatusCode::kUnavailable;
    absl::Status failed(
        code, request.error_message().empty() ? "lab: requested error" : request.error_message());
    if (!request.error_details().empty()) {
      failed.SetPayload(kGrpcStatusDetailsUrl, absl::Cord(request.error_details()));
    }
    co_return failed;
  }
  response.set_message(request.message());
  response.set_served_by(options_.name);
  if (request.payload_bytes() > 0) response.mutable_payload()->assign(request.payload_bytes(), 'x');
  co_return response;
}

Task<absl::Status> LabService::Stream(grpc::ServerContext& context,
                                      const v1::StreamRequest& request,
                                      ServerStreamWriter<v1::EchoResponse>& out) {
  calls_.fetch_add(1, std::memory_order_relaxed);
  if (request.count() < 0 || request.count() > options_.max_stream_count) {
    co_return absl::InvalidArgumentError(absl::StrCat(
        "count must be in [0, ", options_.max_stream_count, "], got ", request.count()));
  }
  if (request.interval_ms() < 0) {
    co_return absl::InvalidArgumentError(
        absl::StrCat("interval_ms must be >= 0, got ", request.interval_ms()));
  }
  for (int i = 0; i < request.count(); ++i) {
    if (i > 0 && request.interval_ms() > 0) {
      absl::Status slept = co_await Sleep(absl::Milliseconds(request.interval_ms()));
      if (!slept.ok()) {
        interrupted_.fetch_add(1, std::memory_order_relaxed);
        co_return slept;
      }
    }
    v1::EchoResponse message;
    message.set_message(request.message());
    message.set_index(i);
    message.set_served_by(options_.name);
    FANOUT_CO_RETURN_IF_ERROR(co_await out.Write(message));
  }
  co_return absl::OkStatus();
}

}  // namespace fanout::lab
