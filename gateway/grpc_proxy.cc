#include "gateway/grpc_proxy.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "node/async/task_group.h"
#include "node/rpc/generic_stream.h"

namespace fanout::gateway {
namespace {

// The two directions of one proxied call.
class Relay {
 public:
  Relay(GenericCall& call, GenericClientStream& backend) : call_(call), backend_(backend) {}

  // Runs both directions; the backend's status (or why the client is gone).
  Task<absl::Status> Run() {
    TaskGroup requests(co_await CurrentContext());
    requests.Spawn(ForwardRequests());
    absl::Status written = co_await ForwardResponses();
    backend_done_ = true;
    absl::Status status = co_await backend_.Finish();
    if (!written.ok()) status = written;
    if (backend_.finished()) {  // Else its metadata never came (the loop is stopping).
      ForwardInitialMetadata();
      PassBackMetadata(backend_.context().GetServerTrailingMetadata(), MetadataPart::kTrailing,
                       call_);
    }
    // Ends a client read still pending, so the request direction ends too.
    co_await call_.Finish(status);
    co_await requests.Wait();
    co_return status;
  }

 private:
  // Client to backend, then the half-close. A client stream that broke is
  // not a half-close: the backend call is cancelled, never told that the
  // requests are complete (it might commit half an upload).
  Task<absl::Status> ForwardRequests() {
    while (!backend_done_) {
      std::optional<Bytes> message = co_await call_.Read();
      if (!message) break;
      if (!co_await backend_.Write(*message)) co_return absl::OkStatus();
    }
    if (backend_done_) co_return absl::OkStatus();
    if (call_.half_closed()) {
      co_await backend_.WritesDone();
    } else {
      backend_.TryCancel();
    }
    co_return absl::OkStatus();
  }

  // Backend to client, until the backend's stream ends.
  Task<absl::Status> ForwardResponses() {
    while (std::optional<Bytes> message = co_await backend_.Read()) {
      ForwardInitialMetadata();
      absl::Status written = co_await call_.Write(*message);
      if (!written.ok()) {
        backend_.TryCancel();
        co_return written;
      }
    }
    co_return absl::OkStatus();
  }

  // Before the first message or the status, while the client has had none.
  void ForwardInitialMetadata() {
    if (std::exchange(initial_metadata_sent_, true)) return;
    PassBackMetadata(backend_.context().GetServerInitialMetadata(), MetadataPart::kInitial, call_);
  }

  GenericCall& call_;
  GenericClientStream& backend_;
  bool backend_done_ = false;
  bool initial_metadata_sent_ = false;
};

}  // namespace

Task<absl::Status> ProxyCall(GenericCall& call, grpc::GenericStub* backend,
                             const ProxyOptions& options) {
  if (backend == nullptr) {
    absl::Status none = absl::UnavailableError(call.method() + ": no backend to proxy to");
    co_await call.Finish(none);
    co_return none;
  }
  GenericClientStream upstream(
      backend, call.method(),
      CallOptions{.metadata = ForwardedMetadata(call.context().client_metadata(), options)});
  absl::Status status = co_await upstream.Start();
  if (status.ok()) {
    Relay relay(call, upstream);
    status = co_await relay.Run();
  } else {
    PassBackMetadata(upstream.context().GetServerTrailingMetadata(), MetadataPart::kTrailing, call);
    co_await call.Finish(status);
  }
  co_return status;
}

absl::Status NoRequest(const GenericCall& call) {
  if (call.half_closed()) return absl::InvalidArgumentError("the call carried no request message");
  return absl::CancelledError("the call ended before its request message arrived");
}

}  // namespace fanout::gateway
