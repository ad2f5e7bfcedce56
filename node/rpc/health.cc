#include "node/rpc/health.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace fanout {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

void HealthService::Serve(Server& server) {
  using S = grpc::health::v1::Health::AsyncService;
  server.ServeUnary(
      &service_, &S::RequestCheck,
      [this](grpc::ServerContext&, const HealthCheckRequest& request) { return Check(request); });
  server.ServeServerStream(
      &service_, &S::RequestWatch,
      [this](grpc::ServerContext&, const HealthCheckRequest& request,
             ServerStreamWriter<HealthCheckResponse>& out) { return Watch(request, out); });
}

void HealthService::Offer(Watcher& watcher, ServingStatus status) {
  if (watcher.updates.TrySend(status).ok()) return;
  (void)watcher.updates.TryReceive();  // Full: the unsent status is stale.
  (void)watcher.updates.TrySend(status);
}

HealthService::ServingStatus HealthService::StatusLocked(const std::string& service) const {
  auto it = statuses_.find(service);
  return it == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN : it->second;
}

void HealthService::Set(std::string_view service, bool serving) {
  ServingStatus status = serving ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
  MutexLock lock(&mu_);
  if (shut_down_) return;
  auto [it, added] = statuses_.try_emplace(std::string(service), status);
  if (!added && it->second == status) return;
  it->second = status;
  for (const auto& watcher : watchers_) {
    if (watcher->service == service) Offer(*watcher, status);
  }
}

void HealthService::Shutdown() {
  MutexLock lock(&mu_);
  if (shut_down_) return;
  shut_down_ = true;
  for (auto& [service, status] : statuses_) status = HealthCheckResponse::NOT_SERVING;
  for (const auto& watcher : watchers_) {
    Offer(*watcher, StatusLocked(watcher->service));
    watcher->updates.Close();
  }
}

Task<absl::StatusOr<HealthCheckResponse>> HealthService::Check(const HealthCheckRequest& request) {
  HealthCheckResponse response;
  {
    MutexLock lock(&mu_);
    ServingStatus status = StatusLocked(request.service());
    if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
      co_return absl::NotFoundError(absl::StrCat("unknown service \"", request.service(), "\""));
    }
    response.set_status(status);
  }
  co_return response;
}

Task<absl::Status> HealthService::Watch(const HealthCheckRequest& request,
                                        ServerStreamWriter<HealthCheckResponse>& out) {
  auto watcher = std::make_shared<Watcher>(request.service());
  {
    MutexLock lock(&mu_);
    if (watchers_.size() >= options_.max_watchers) {
      co_return absl::ResourceExhaustedError(
          absl::StrCat("too many health watches open (max_watchers ", options_.max_watchers, ")"));
    }
    Offer(*watcher, StatusLocked(watcher->service));
    if (shut_down_) {
      watcher->updates.Close();
    } else {
      watchers_.push_back(watcher);
    }
  }
  absl::Status ended;
  for (;;) {
    absl::StatusOr<ServingStatus> status = co_await watcher->updates.Receive();
    if (!status.ok()) {
      // Closed by Shutdown after the last status went out: a clean end.
      if (!absl::IsOutOfRange(status.status())) ended = status.status();
      break;
    }
    HealthCheckResponse response;
    response.set_status(*status);
    if (ended = co_await out.Write(response); !ended.ok()) break;
  }
  MutexLock lock(&mu_);
  watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), watcher), watchers_.end());
  co_return ended;
}

size_t HealthService::watchers() const {
  MutexLock lock(&mu_);
  return watchers_.size();
}

}  // namespace fanout
