// ServiceProxy: the gateway's transparent gRPC proxy. A call no route
// claims goes to the backend that serves its service (backends.*.services,
// gateway.services, or a route calling it), bytes in, bytes out:
//
//   - a unary method the gateway has a descriptor for: one message each way,
//     through the backend's bulkhead and breaker like a routed call, with
//     the gateway's default deadline when the caller set none;
//   - anything else (streams, methods of unknown shape): relayed as a
//     generic stream (ProxyCall, grpc_proxy.h), no deadline of its own.
//
//   ServiceProxy proxy(state, {.local_services = {"fanout.users.v1.Users"}});
//   return proxy.Serve(call, std::move(identity));   // GrpcDoor, past auth
//
// Unary calls take a slot of the gateway's max_in_flight; streams one of
// their own pool (max_streams), so idle watch streams cannot shed other
// requests. A service this node serves itself is never proxied (to what
// may be this very node): UNIMPLEMENTED. The caller's allowlisted metadata
// and verified identity go on; the backend's come back.
//
// Loop-affine per call: Serve runs on the call's loop; one proxy serves all
// loops (its state is atomic or immutable).
#pragma once

#include <optional>
#include <set>
#include <string>

#include "gateway/admission.h"
#include "gateway/auth.h"
#include "gateway/gateway_state.h"
#include "node/async/task.h"
#include "node/rpc/server_call.h"

namespace fanout::gateway {

class ServiceProxy {
 public:
  struct Options {
    // gRPC services this node serves itself: a call to one that reaches the
    // proxy names a method the service lacks.
    std::set<std::string> local_services;
    int64_t max_streams = 1000;  // gateway.max_streams
  };
  // `state` must outlive the proxy.
  ServiceProxy(GatewayState& state, Options options);

  // Proxies `call` for the caller `identity` (already authenticated by the
  // door; nullopt: anonymous); returns the status the call ends with.
  Task<absl::Status> Serve(GenericCall& call, std::optional<Identity> identity);

  // What a proxied call of `method` needs before its backend is called,
  // whichever door took it (here, or the frame relay of grpc_relay.h): the
  // backend serving its service and a slot (the gateway's for a unary
  // method it has a descriptor for, else one of max_streams). UNIMPLEMENTED
  // when this node serves the service or no backend does; UNAVAILABLE when
  // shed (the door notes that on its span: GatewayState::NoteShed).
  struct Admitted {
    std::string backend;
    bool unary = false;
    AdmissionLimiter::Ticket ticket;
  };
  absl::StatusOr<Admitted> Admit(const std::string& method);

 private:
  // Holds `ticket` until the backend has answered.
  Task<absl::Status> ProxyUnary(GenericCall& call, Backend& backend,
                                AdmissionLimiter::Ticket ticket, const ProxyOptions& options);

  GatewayState& state_;
  const std::set<std::string> local_services_;
  AdmissionLimiter stream_admission_;  // Proxied streams (gateway.max_streams).
};

}  // namespace fanout::gateway
