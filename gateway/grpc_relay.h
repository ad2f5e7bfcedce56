// GrpcRelay: the gateway's transparent gRPC proxy as an HTTP/2 frame relay.
// It listens on gateway.grpc_relay_address and relays every call it takes
// to the backend serving the call's service, HEADERS, DATA and trailers as
// they come, without ending the call in gRPC core and making it again: about
// half the CPU per call of the proxy on the gRPC door (bench/README.md).
//
//   GrpcRelay relay(state, door, proxy, {.address = "0.0.0.0:8443", .threads = 2});
//   FANOUT_RETURN_IF_ERROR(relay.Start());
//   ... relay.BeginDrain(); relay.AwaitDrained(deadline); relay.Stop();
//
// Each call passes what a proxied call on the gRPC door passes (grpc_door.h,
// service_proxy.h), in order: the hop limit, the caller's rate limits,
// credentials (gateway.auth.default_mode), the service (UNIMPLEMENTED when
// this node serves it or no backend does), admission (gateway.max_in_flight
// for unary methods the gateway has a descriptor for, gateway.max_streams
// for the rest), and for a unary call its backend's breaker and bulkhead
// (Backend::Enter: waiting in the bulkhead's line when it is full, as the
// door's calls do) and timeout_ms. Then the call
// goes to the backend on a connection this relay thread keeps to one of
// its addresses (round_robin or pick_first, as its load_balancing says),
// with the allowlisted metadata, x-fanout-hops one more, the verified
// identity and the relay span's traceparent; the backend's metadata comes
// back but for gRPC's own. A unary call without a deadline gets the
// gateway's default; a deadline is enforced here too, so a backend that
// ignores it cannot hold the call. Either side resetting its
// stream resets the other; a backend connection lost mid-call ends its
// calls UNAVAILABLE. Flow control is end to end: DATA is acknowledged to
// one side only once the other has taken it, so a slow reader holds at
// most a stream window per call here.
//
// Methods of the gateway's routes and Aggregate are not relayed: they are
// answered UNIMPLEMENTED naming the gRPC door, which serves them. TLS on
// either side as Options say (ALPN h2; certificates reloaded when their
// files change, for new connections).
//
// Thread-safe: Start, BeginDrain, AwaitDrained and Stop from the controlling
// thread. Calls run on the relay's own I/O threads, a connection (and its
// calls) on one thread for its life.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/gateway_state.h"
#include "gateway/grpc_door.h"
#include "gateway/service_proxy.h"
#include "node/base/tls_files.h"

namespace fanout {
class TlsContext;
}  // namespace fanout

namespace fanout::gateway {

class GrpcRelay {
 public:
  struct Options {
    std::string address;  // "0.0.0.0:8443"; port 0 picks one.
    int threads = 1;      // I/O threads (each keeps its own backend connections).
    int max_connections = 10000;
    // Per client connection (SETTINGS_MAX_CONCURRENT_STREAMS).
    int max_streams_per_connection = 1000;
    // A call's header section, both pseudo-headers and metadata.
    int max_header_bytes = 16 * 1024;
    // A backend's target by name, asked once at Start after the relay
    // listens; default: its configured target ("dns:///orders:50051",
    // "orders:50051" or "ipv4:10.0.0.7:50051,...").
    std::function<std::string(const std::string& backend)> backend_address;
    // The addresses a backend's name resolves to ("10.0.0.7:50051",
    // "[fd00::7]:50051"), or why there are none. Each I/O thread asks it
    // for its own connections, at each resolution, and waits for the
    // answer: it must be thread-safe and answer at once (tests: a name
    // service whose answer changes). Default: the system's resolver
    // (getaddrinfo), off the I/O threads.
    std::function<absl::StatusOr<std::vector<std::string>>(const std::string& host, int port)>
        resolve;
    // TLS to a backend by name (a client's: ca_file, and cert_file for
    // mTLS); default: its backends.<name>.tls.
    std::function<TlsOptions(const std::string& backend)> backend_tls;
    // TLS for callers (a door's: cert_file, and ca_file to ask for client
    // certificates); default: plaintext.
    TlsOptions tls;
  };

  // `state`, `door` (which says what is not relayed) and `proxy` must
  // outlive the relay.
  GrpcRelay(GatewayState& state, const GrpcDoor& door, ServiceProxy& proxy, Options options);
  ~GrpcRelay();  // Stop()

  // Listens: INVALID_ARGUMENT naming what the relay cannot serve (TLS, an
  // address it cannot parse), or the bind error.
  absl::Status Start();
  // Takes no new connections or calls (GOAWAY); calls under way go on.
  void BeginDrain();
  // Until every call has ended, or `deadline`.
  bool AwaitDrained(absl::Time deadline);
  // Ends what is left UNAVAILABLE, closes every connection, joins the threads.
  void Stop();
  int port() const { return port_; }
  int64_t calls_in_flight() const { return calls_.load(std::memory_order_relaxed); }

 private:
  class Worker;
  class ClientSide;
  class BackendSide;
  class BackendPool;
  struct BackendPlan;
  struct Call;

  // Each backend's target, balancing and TLS, once the relay listens (a
  // backend_address may name the relay itself).
  absl::Status PlanBackends();
  void Accept();
  void Drain();      // BeginDrain's work.
  void ReloadTls();  // Every reload_interval, on the first worker.

  GatewayState& state_;
  const GrpcDoor& door_;
  ServiceProxy& proxy_;
  Options options_;
  // Built at Start: TLS for callers, and how to reach each backend.
  // Declared before workers_, whose connections use them to the end.
  std::unique_ptr<TlsContext> tls_;
  std::map<std::string, std::unique_ptr<BackendPlan>> backends_;
  std::vector<std::unique_ptr<Worker>> workers_;
  struct Listener;
  std::unique_ptr<Listener> listener_;
  const RouteAuthPolicy proxy_auth_{};  // gateway.auth.default_mode
  std::atomic<uint32_t> next_worker_{0};
  std::atomic<uint32_t> next_address_{0};  // Where a worker's round_robin starts.
  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> connections_{0};
  std::atomic<bool> draining_{false};
  int port_ = 0;
  bool started_ = false;
};

}  // namespace fanout::gateway
