// Server: a gRPC server whose calls are coroutines on the node's loops.
//
//   Server server({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 2});
//   lab::v1::Lab::AsyncService lab;
//   server.RegisterService(&lab);
//   FANOUT_RETURN_IF_ERROR(server.Start());
//   server.ServeUnary(&lab, &lab::v1::Lab::AsyncService::RequestEcho,
//       [](grpc::ServerContext& ctx, const EchoRequest& req) -> Task<absl::StatusOr<EchoResponse>>
//       {
//         ...co_await backend calls; they inherit this call's deadline and cancellation...
//       });
//   ...
//   server.Shutdown(absl::Seconds(5));
//
// Each loop accepts calls on its own queue, and a call is handled on the loop
// it arrived on. The handler's task carries the call's deadline, and is
// cancelled when the client cancels or the deadline passes, so everything it
// awaits (backend calls included) is cancelled with it.
//
// Thread-safe: Start/Serve*/Shutdown from one controlling thread (not a loop).
#pragma once

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_context.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "node/async/spawn.h"
#include "node/base/tls_files.h"
#include "node/loop/event_loop.h"
#include "node/rpc/server_call.h"

namespace fanout {

class Server {
 public:
  struct Options {
    std::vector<std::string> listen_addresses = {"127.0.0.1:0"};
    int num_loops = 0;  // 0: one per core.
    int max_message_bytes = 4 << 20;
    // TLS on every listen address when tls.cert_file is set (mTLS with
    // ca_file and require_client_cert), reloaded from the files every
    // tls.reload_interval (tls_credentials.h). Default: plaintext.
    TlsOptions tls;
    // What one client connection may hold and how long it lives. gRPC's own
    // defaults leave most of these unlimited; these are bounded (the config
    // keys in node_config.proto's GrpcServer say why each value).
    struct Limits {
      // Calls open at once on one connection; a client's further calls
      // wait in its transport until one ends.
      int max_concurrent_streams = 1000;
      // Metadata bytes a call may send; more: refused, RESOURCE_EXHAUSTED.
      int max_metadata_bytes = 8 * 1024;
      // A ping sooner than this after the last, with no data between, is a
      // strike; past max_ping_strikes the connection gets GOAWAY.
      absl::Duration min_ping_interval = absl::Seconds(10);
      int max_ping_strikes = 2;
      // Pings with no call open allowed at that rate too (else a strike
      // unless two hours apart).
      bool permit_keepalive_without_calls = false;
      // GOAWAY after this (with 10% jitter), so clients reconnect and
      // spread over new replicas; calls still open after a further
      // max_connection_age_grace are cut. InfiniteDuration(): never.
      absl::Duration max_connection_age = absl::Minutes(5);
      absl::Duration max_connection_age_grace = absl::Minutes(1);
      // GOAWAY to a connection with no call open for this long.
      absl::Duration max_connection_idle = absl::Minutes(2);
    };
    Limits limits;
  };

  explicit Server(Options options);
  ~Server();  // Shuts down with no grace if Shutdown() was not called.

  // Before Start().
  void RegisterService(grpc::Service* service) { builder_.RegisterService(service); }
  void RegisterGenericService(grpc::AsyncGenericService* service) {
    builder_.RegisterAsyncGenericService(service);
  }
  grpc::ServerBuilder& builder() { return builder_; }

  // Binds and starts serving. UNAVAILABLE naming the address that could not
  // be bound; INVALID_ARGUMENT naming a TLS file that does not load.
  absl::Status Start();
  // After Start(): the port bound for listen_addresses[i] (resolves port 0).
  int port(size_t i = 0) const { return ports_[i]; }
  // Running from construction: build services on them before Start().
  LoopGroup& loops() { return *loops_; }
  grpc::Server* grpc_server() { return server_.get(); }

  // After Start(). `request` is the generated AsyncService::Request<Method>.
  template <typename Method, typename Handler, typename Traits = internal::MethodTraits<Method>>
  void ServeUnary(typename Traits::Service* service, Method request, Handler handler) {
    using Request = typename Traits::Request;
    using Response = typename Traits::Response;
    auto shared = std::make_shared<UnaryHandler<Request, Response>>(std::move(handler));
    SpawnAcceptors([&](EventLoop* loop) {
      return internal::AcceptUnary<typename Traits::Service, Request, Response>(loop, service,
                                                                                request, shared);
    });
  }

  template <typename Method, typename Handler, typename Traits = internal::MethodTraits<Method>>
  void ServeServerStream(typename Traits::Service* service, Method request, Handler handler) {
    using Request = typename Traits::Request;
    using Response = typename Traits::Response;
    auto shared = std::make_shared<StreamHandler<Request, Response>>(std::move(handler));
    SpawnAcceptors([&](EventLoop* loop) {
      return internal::AcceptServerStream<typename Traits::Service, Request, Response>(
          loop, service, request, shared);
    });
  }

  // Every method no registered service has: the proxy path.
  void ServeGeneric(grpc::AsyncGenericService* service, GenericHandler handler);

  // Stops accepting, lets calls in flight finish until `grace` has passed,
  // cancels the rest, then stops the loops. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  // One acceptor per loop: each loop takes calls from its own queue.
  template <typename MakeAcceptor>
  void SpawnAcceptors(MakeAcceptor make) {
    for (int i = 0; i < loops_->size(); ++i) Spawn(loops_->At(i), make(&loops_->At(i)), "acceptor");
  }

  Options options_;
  grpc::ServerBuilder builder_;
  std::vector<int> ports_;
  std::unique_ptr<LoopGroup> loops_;
  std::unique_ptr<grpc::Server> server_;
  bool shut_down_ = false;
};

}  // namespace fanout
