#include "node/rpc/server.h"

#include <grpcpp/security/server_credentials.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "node/base/log.h"
#include "node/rpc/tls_credentials.h"

namespace fanout {
namespace {

// gRPC takes durations as int milliseconds: longer ones (and infinity) are
// INT_MAX, which it reads as "never".
int ToIntMs(absl::Duration d) {
  return static_cast<int>(
      std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 0, std::numeric_limits<int>::max()));
}

void ApplyLimits(const Server::Options::Limits& limits, grpc::ServerBuilder* builder) {
  builder->AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams);
  builder->AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, limits.max_metadata_bytes);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                              ToIntMs(limits.min_ping_interval));
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, limits.max_ping_strikes);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS,
                              limits.permit_keepalive_without_calls ? 1 : 0);
  builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, ToIntMs(limits.max_connection_age));
  builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                              ToIntMs(limits.max_connection_age_grace));
  builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, ToIntMs(limits.max_connection_idle));
}

}  // namespace

Server::Server(Options options) : options_(std::move(options)) {
  builder_.SetMaxReceiveMessageSize(options_.max_message_bytes);
  builder_.SetMaxSendMessageSize(options_.max_message_bytes);
  ApplyLimits(options_.limits, &builder_);
  // The loops exist from the start, so services can be built on them (actors,
  // clients) before the server listens.
  loops_ =
      std::make_unique<LoopGroup>(LoopGroup::Options{.num_loops = options_.num_loops}, &builder_);
}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

absl::Status Server::Start() {
  if (options_.listen_addresses.empty()) {
    return absl::InvalidArgumentError("server: listen_addresses is empty");
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentialsFor(options_.tls);
  if (!credentials.ok()) {
    Shutdown(absl::ZeroDuration());
    return absl::Status(
        credentials.status().code(),
        absl::StrCat("server: TLS on ", absl::StrJoin(options_.listen_addresses, ", "), ": ",
                     credentials.status().message()));
  }
  ports_.assign(options_.listen_addresses.size(), 0);
  for (size_t i = 0; i < options_.listen_addresses.size(); ++i) {
    builder_.AddListeningPort(options_.listen_addresses[i], *credentials, &ports_[i]);
  }
  server_ = builder_.BuildAndStart();
  if (server_ == nullptr) {
    Shutdown(absl::ZeroDuration());
    return absl::UnavailableError(absl::StrCat("server: could not start listening on ",
                                               absl::StrJoin(options_.listen_addresses, ", ")));
  }
  for (size_t i = 0; i < ports_.size(); ++i) {
    if (ports_[i] == 0) {
      Shutdown(absl::ZeroDuration());
      return absl::UnavailableError(
          absl::StrCat("server: could not bind ", options_.listen_addresses[i]));
    }
  }
  return absl::OkStatus();
}

void Server::ServeGeneric(grpc::AsyncGenericService* service, GenericHandler handler) {
  auto shared = std::make_shared<GenericHandler>(std::move(handler));
  SpawnAcceptors([&](EventLoop* loop) { return internal::AcceptGeneric(loop, service, shared); });
}

void Server::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  // From a non-loop thread: the loops keep polling while gRPC drains calls.
  if (server_) server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  loops_->Stop(absl::Now() + absl::Seconds(5));
  if (server_) server_->Wait();
}

}  // namespace fanout
