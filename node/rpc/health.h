// HealthService: grpc.health.v1 (Check and Watch) served on the node's
// loops, the protocol Kubernetes' gRPC probes, grpc_health_probe and load
// balancers speak.
//
//   HealthService health;
//   health.Register(server);          // before server.Start()
//   server.Start();
//   health.Serve(server);
//   health.Set("", true);             // "" is the server as a whole
//   health.Set("fanout.users.v1.Users", true);
//   ...
//   health.Shutdown();                // every status NOT_SERVING, watches end
//   server.Shutdown(grace);
//
// Why not gRPC's default health service: it runs on the callback API, which
// on this gRPC (the epoll1 poller) starts two "nexting" threads that poll the
// same epoll set as the loops and take their I/O from them. With it on, a
// node served about a third fewer calls (bench/README.md).
//
// Check answers NOT_FOUND for a service never Set. Watch sends the status
// now (SERVICE_UNKNOWN for such a service), then each change; a watcher
// that falls behind sees only the latest. At most `max_watchers` watches are
// open at once; more are refused with RESOURCE_EXHAUSTED.
//
// Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "node/async/channel.h"
#include "node/base/sync.h"
#include "node/rpc/server.h"

namespace fanout {

class HealthService {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;
  struct Options {
    size_t max_watchers = 1000;
  };

  HealthService() : HealthService(Options{}) {}
  explicit HealthService(Options options) : options_(options) {}

  void Register(Server& server) { server.RegisterService(&service_); }
  void Serve(Server& server);

  // Sets `service`'s status; watchers of it see the change. Ignored after
  // Shutdown.
  void Set(std::string_view service, bool serving);
  // Every service NOT_SERVING from now on; open watches are sent that and
  // end (so they do not hold a draining server until its grace runs out).
  void Shutdown();

  Task<absl::StatusOr<grpc::health::v1::HealthCheckResponse>> Check(
      const grpc::health::v1::HealthCheckRequest& request);
  Task<absl::Status> Watch(const grpc::health::v1::HealthCheckRequest& request,
                           ServerStreamWriter<grpc::health::v1::HealthCheckResponse>& out);

  size_t watchers() const;

 private:
  struct Watcher {
    explicit Watcher(std::string s) : service(std::move(s)) {}
    const std::string service;
    Channel<ServingStatus> updates{1};  // The latest status not yet sent.
  };

  // Replaces what `watcher` has not sent yet with `status`. Under mu_.
  static void Offer(Watcher& watcher, ServingStatus status);
  ServingStatus StatusLocked(const std::string& service) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  grpc::health::v1::Health::AsyncService service_;
  mutable Mutex mu_;
  absl::flat_hash_map<std::string, ServingStatus> statuses_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Watcher>> watchers_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace fanout
