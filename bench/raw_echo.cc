#include "bench/raw_echo.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_context.h>

#include <chrono>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "node/rpc/status.h"

namespace fanout::bench {
namespace {

using lab::v1::EchoRequest;
using lab::v1::EchoResponse;
using lab::v1::Lab;

// The same per-call deadline the runtime client sets, so both sides pay for
// the same timers.
constexpr std::chrono::seconds kCallDeadline(10);

// What LabService::Echo answers to a request with no delay and no error.
EchoResponse Answer(const grpc::ServerContext& context, const EchoRequest& request) {
  EchoResponse response;
  absl::Time deadline = absl::FromChrono(context.deadline());
  bool has_deadline = deadline - absl::Now() <= absl::Hours(24 * 365);
  response.set_deadline_remaining_ms(
      has_deadline ? absl::ToInt64Milliseconds(deadline - absl::Now()) : -1);
  response.set_message(request.message());
  response.set_served_by("lab");
  return response;
}

}  // namespace

// One Echo call: requested, answered, then freed. Every queue event of the
// call comes back to Proceed().
class RawEchoServer::CallData {
 public:
  CallData(Lab::AsyncService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq), responder_(&context_) {
    service_->RequestEcho(&context_, &request_, &responder_, cq_, cq_, this);
  }

  void Proceed(bool ok) {
    // Not ok: the server is shutting down (or the reply could not be sent).
    if (!ok || finishing_) {
      delete this;
      return;
    }
    new CallData(service_, cq_);  // Accept the next call while this one is answered.
    finishing_ = true;
    // LabService::Echo's metadata both ways, so both servers send the same bytes.
    context_.AddInitialMetadata("x-lab-served-by", "lab");
    context_.AddTrailingMetadata("x-lab-code", "0");
    responder_.Finish(Answer(context_, request_), grpc::Status::OK, this);
  }

 private:
  Lab::AsyncService* service_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext context_;
  EchoRequest request_;
  grpc::ServerAsyncResponseWriter<EchoResponse> responder_;
  bool finishing_ = false;
};

absl::Status RawEchoServer::Start() {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(&service_);
  cq_ = builder.AddCompletionQueue();
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError("raw echo server: could not listen on 127.0.0.1:0");
  }
  new CallData(&service_, cq_.get());
  thread_ = std::thread([this] { Serve(); });
  return absl::OkStatus();
}

RawEchoServer::~RawEchoServer() {
  if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now() + kCallDeadline);
  if (cq_ != nullptr) cq_->Shutdown();
  if (thread_.joinable()) {
    thread_.join();
  } else if (cq_ != nullptr) {
    Serve();  // Never started: drain the queue here.
  }
}

void RawEchoServer::Serve() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_->Next(&tag, &ok)) static_cast<CallData*>(tag)->Proceed(ok);
}

struct RawEchoClient::Call {
  grpc::ClientContext context;
  EchoResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<EchoResponse>> reader;
};

RawEchoClient::RawEchoClient(const std::shared_ptr<grpc::Channel>& channel, EchoRequest request,
                             int concurrency)
    : stub_(Lab::NewStub(channel)),
      request_(std::move(request)),
      concurrency_(concurrency),
      thread_([this] { Poll(); }) {}

RawEchoClient::~RawEchoClient() {
  cq_.Shutdown();
  thread_.join();
}

absl::Status RawEchoClient::Run(int64_t calls) {
  if (calls <= 0) return absl::OkStatus();
  {
    absl::MutexLock lock(&mu_);
    finished_ = false;
    error_ = absl::OkStatus();
  }
  to_start_.store(calls);
  to_finish_.store(calls);
  for (int i = 0; i < concurrency_; ++i) StartCall();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&finished_));
  return error_;
}

void RawEchoClient::StartCall() {
  if (to_start_.fetch_sub(1, std::memory_order_relaxed) <= 0) return;
  auto* call = new Call;
  call->context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
  call->reader = stub_->PrepareAsyncEcho(&call->context, request_, &cq_);
  call->reader->StartCall();
  call->reader->Finish(&call->response, &call->status, call);
}

void RawEchoClient::Poll() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_.Next(&tag, &ok)) {
    std::unique_ptr<Call> call(static_cast<Call*>(tag));
    OnFinished(call->status);
  }
}

void RawEchoClient::OnFinished(const grpc::Status& status) {
  if (!status.ok()) {
    absl::MutexLock lock(&mu_);
    if (error_.ok()) error_ = ToAbslStatus(status);
  }
  if (to_finish_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    absl::MutexLock lock(&mu_);
    finished_ = true;
    return;
  }
  StartCall();
}

}  // namespace fanout::bench
