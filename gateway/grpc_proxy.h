// ProxyCall: the transparent gRPC path of the gateway. One generic server
// call is forwarded, as bytes, to a backend that serves the same method.
//
//   server.ServeGeneric(&generic, [&](GenericCall& call) -> Task<absl::Status> {
//     grpc::GenericStub* backend = backends.For(call.method());   // the gateway's routing
//     if (backend == nullptr) co_return absl::UnimplementedError(call.method());
//     co_return co_await ProxyCall(call, backend, proxy_options);
//   });
//
// Every call shape is one: client messages go upstream as they come, backend
// messages downstream as they come (unary, client-, server- and
// bidi-streaming alike), until both directions have ended.
//
// - Deadline: the backend call's deadline is the handler task's, which
//   Server gives the client call's deadline (grpc-timeout), so the backend
//   sees the budget that remains.
// - Cancellation both ways: a client that cancels (or whose deadline passes)
//   cancels the backend call; a backend that fails ends the client call with
//   the backend's status, even while the client is still sending.
// - Metadata: client metadata whose key is in the allowlist goes to the
//   backend; the backend's initial and trailing metadata come back to the
//   client. Reserved keys (grpc-*, pseudo-headers ':...', content-type, te,
//   user-agent) are never copied either way.
// - Status: the backend's, or UNAVAILABLE when it cannot be reached; a
//   method the backend lacks is its UNIMPLEMENTED.
// - A tighter budget (a route's timeout) is a deadline on the task:
//   `co_await WithTimeout(ProxyCall(call, backend, options), route_timeout)`
//   sends the earlier deadline to the backend, and at the deadline cancels
//   it and ends the client call with DEADLINE_EXCEEDED.
//
// ProxyCall finishes the client call itself (GenericCall::Finish, the only
// way to end a client read still pending when the backend is done) and
// returns the status it sent: returning it from the handler is harmless,
// and trailing metadata must be added before ProxyCall, not after.
//
// Loop-affine: runs on the call's loop. `call`, `backend` and `options`
// must outlive the returned task.
#pragma once

#include <grpcpp/generic/generic_stub.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "gateway/proxy_metadata.h"
#include "node/async/task.h"
#include "node/rpc/server_call.h"

namespace fanout::gateway {

struct ProxyOptions {
  // Lower-case client metadata keys forwarded to the backend, each once.
  std::vector<std::string> metadata_allowlist;
  // Set by the gateway itself (the verified caller, x-fanout-subject ...);
  // keys starting x-fanout- never come from the client.
  std::vector<std::pair<std::string, std::string>> added_metadata;
};

// Forwards `call` to `backend` until both directions end; returns the
// status the client call was finished with. A null `backend` is UNAVAILABLE.
Task<absl::Status> ProxyCall(GenericCall& call, grpc::GenericStub* backend,
                             const ProxyOptions& options);

// Why a unary call's request never came: the client sent none (a bad
// call, INVALID_ARGUMENT), or the call broke first (CANCELLED: a caller that
// cancelled; h2load's streams when it stops), which is not the caller's
// mistake to report.
absl::Status NoRequest(const GenericCall& call);

// What a proxied call sends on (ForwardedMetadata in proxy_metadata.h).
inline MetadataList ForwardedMetadata(
    const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata,
    const ProxyOptions& options) {
  MetadataList out = ForwardedMetadata(client_metadata, options.metadata_allowlist);
  out.insert(out.end(), options.added_metadata.begin(), options.added_metadata.end());
  return out;
}

// Copies a backend's metadata (key/value pairs: views or strings) onto
// `call`'s initial or trailing metadata, reserved keys left out.
enum class MetadataPart { kInitial, kTrailing };
template <typename Metadata>
void PassBackMetadata(const Metadata& from, MetadataPart part, GenericCall& call) {
  for (const auto& [name, text] : PassedBackMetadata(from)) {
    if (part == MetadataPart::kInitial) {
      call.context().AddInitialMetadata(name, text);
    } else {
      call.context().AddTrailingMetadata(name, text);
    }
  }
}

}  // namespace fanout::gateway
