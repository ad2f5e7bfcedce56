#include "gateway/service_proxy.h"

#include "absl/strings/str_cat.h"
#include "gateway/grpc_proxy.h"
#include "node/rpc/client.h"

namespace fanout::gateway {

ServiceProxy::ServiceProxy(GatewayState& state, Options options)
    : state_(state),
      local_services_(std::move(options.local_services)),
      stream_admission_(options.max_streams) {}

absl::StatusOr<ServiceProxy::Admitted> ServiceProxy::Admit(const std::string& method) {
  std::string service = ServiceOf(method);
  if (local_services_.contains(service)) {
    return absl::UnimplementedError(absl::StrCat("method ", method, ": this node serves ", service,
                                                 ", which has no such method"));
  }
  std::string backend = state_.BackendFor(service);
  if (backend.empty()) {
    return absl::UnimplementedError(
        absl::StrCat("method ", method, ": no backend serves ", service));
  }
  const google::protobuf::MethodDescriptor* known = state_.descriptors().FindMethod(method);
  const bool unary = known && !known->client_streaming() && !known->server_streaming();
  // Streams (and methods of unknown shape) are admitted apart: a stream may
  // sit idle for hours and must not hold a slot unary requests need.
  std::optional<AdmissionLimiter::Ticket> ticket =
      unary ? state_.admission().TryAdmit() : stream_admission_.TryAdmit();
  if (!ticket) {
    return absl::UnavailableError(unary ? "gateway overloaded: retry later"
                                        : "gateway at its limit of proxied streams "
                                          "(gateway.max_streams): retry later");
  }
  return Admitted{std::move(backend), unary, *std::move(ticket)};
}

Task<absl::Status> ServiceProxy::Serve(GenericCall& call, std::optional<Identity> identity) {
  absl::StatusOr<Admitted> admitted = Admit(call.method());
  if (!admitted.ok()) {
    // The call's context only when shed: copying it costs every call.
    if (absl::IsUnavailable(admitted.status())) {
      GatewayState::NoteShed((co_await CurrentContext()).span.get(), call.method());
    }
    co_return admitted.status();
  }
  // The caller's identity rides on a copy of the options; anonymous calls share them.
  const ProxyOptions* options = &state_.proxy_options();
  ProxyOptions with_identity;
  if (identity) {
    with_identity = state_.proxy_options();
    with_identity.added_metadata = IdentityMetadata(*identity);
    options = &with_identity;
  }
  Backend& backend = state_.backend(admitted->backend);
  if (admitted->unary) {
    co_return co_await ProxyUnary(call, backend, std::move(admitted->ticket), *options);
  }
  co_return co_await ProxyCall(call, backend.stub(), *options);
}

// A unary method the gateway knows: one message each way, through the
// backend's bulkhead and breaker like any routed call (and cheaper than a
// generic stream).
Task<absl::Status> ServiceProxy::ProxyUnary(GenericCall& call, Backend& backend,
                                            AdmissionLimiter::Ticket ticket,
                                            const ProxyOptions& options) {
  std::optional<Bytes> request = co_await call.Read();
  if (!request) co_return NoRequest(call);
  ServerMetadata answered;
  CallPolicy policy{.metadata = ForwardedMetadata(call.context().client_metadata(), options),
                    .server_metadata = &answered};
  // A caller that set no deadline gets the gateway's default: a backend
  // that never answers must not hold the call (and its slot) forever.
  if (call.context().deadline() == std::chrono::system_clock::time_point::max()) {
    policy.attempt_timeout = state_.default_timeout();
  }
  absl::StatusOr<Bytes> reply =
      co_await backend.Call(call.method(), *std::move(request), std::move(policy));
  // The backend's own metadata comes back, as through ProxyCall.
  PassBackMetadata(answered.initial, MetadataPart::kInitial, call);
  PassBackMetadata(answered.trailing, MetadataPart::kTrailing, call);
  if (!reply.ok()) co_return reply.status();
  // The slot goes back before the caller can see the answer: its next call
  // must not be shed by this one.
  { AdmissionLimiter::Ticket done = std::move(ticket); }
  if (!co_await call.WriteAndFinish(*reply)) co_return absl::CancelledError("the caller left");
  co_return absl::OkStatus();
}

}  // namespace fanout::gateway
