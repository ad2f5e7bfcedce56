#include "gateway/gateway.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/gateway_metrics.h"
#include "node/base/log.h"
#include "node/base/status_macros.h"

namespace fanout::gateway {

Gateway::Gateway(std::function<std::shared_ptr<grpc::Channel>(const std::string&)> channel,
                 std::unique_ptr<GatewayState> state, ServiceProxy::Options proxy)
    : channel_(std::move(channel)),
      state_(std::move(state)),
      proxy_(*state_, std::move(proxy)),
      grpc_(*state_, proxy_) {}

Gateway::~Gateway() { Stop(); }

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Create(Options options) {
  ServiceProxy::Options proxy{.local_services = std::move(options.local_services)};
  if (options.config.max_streams() > 0) proxy.max_streams = options.config.max_streams();
  auto channel = std::move(options.channel);
  GrpcRelay::Options relay{.backend_address = std::move(options.backend_address),
                           .backend_tls = std::move(options.backend_tls),
                           .tls = std::move(options.relay_tls)};
  FANOUT_ASSIGN_OR_RETURN(std::unique_ptr<GatewayState> state,
                          GatewayState::Create({.config = std::move(options.config),
                                                .backends = std::move(options.backends),
                                                .clock = options.clock}));
  std::unique_ptr<Gateway> gateway(
      new Gateway(std::move(channel), std::move(state), std::move(proxy)));
  const config::v1::GatewayConfig& config = gateway->state_->config();
  if (!config.rest_address().empty()) {
    FANOUT_ASSIGN_OR_RETURN(RestDoor::Options rest, RestDoor::OptionsFromConfig(config));
    gateway->rest_ = std::make_unique<RestDoor>(*gateway->state_, std::move(rest));
  }
  gateway->relay_options_ = std::move(relay);
  return gateway;
}

void Gateway::Register(Server& server) { server.RegisterGenericService(&generic_); }

absl::Status Gateway::Start(Server& server) {
  state_->ConnectBackends(channel_);
  metrics_ = ExportGatewayMetrics(*state_);
  server.ServeGeneric(&generic_, [door = &grpc_](GenericCall& call) { return door->Serve(call); });
  FANOUT_RETURN_IF_ERROR(StartRelay(server));
  if (rest_ == nullptr) return absl::OkStatus();
  const std::string& address = state_->config().rest_address();
  absl::Status started = rest_->Start(server.loops());
  if (!started.ok()) {
    return absl::Status(started.code(), absl::StrCat("gateway.rest_address: ", started.message()));
  }
  FANOUT_LOG(INFO) << "gateway: " << (rest_->tls() ? "HTTPS" : "REST") << " on " << address
                   << " (port " << rest_->port() << "), " << state_->routes().size()
                   << " routes, backends "
                   << absl::StrJoin(
                          state_->backends(), ", ",
                          [](std::string* out, const auto& entry) { out->append(entry.first); });
  return absl::OkStatus();
}

absl::Status Gateway::StartRelay(Server& server) {
  const config::v1::GatewayConfig& config = state_->config();
  if (config.grpc_relay_address().empty()) return absl::OkStatus();
  GrpcRelay::Options options = relay_options_;
  options.address = config.grpc_relay_address();
  options.threads = static_cast<int>(server.loops().size());
  relay_ = std::make_unique<GrpcRelay>(*state_, grpc_, proxy_, std::move(options));
  FANOUT_RETURN_IF_ERROR(relay_->Start());
  FANOUT_LOG(INFO) << "gateway: gRPC relay on " << config.grpc_relay_address() << " (port "
                   << relay_->port() << (relay_options_.tls.enabled() ? ", TLS" : "") << ")";
  return absl::OkStatus();
}

void Gateway::BeginDrain() {
  if (rest_) rest_->BeginDrain();
  if (relay_) relay_->BeginDrain();
}

bool Gateway::AwaitDrained(absl::Time deadline) {
  bool rest = rest_ == nullptr || rest_->AwaitDrained(deadline);
  return (relay_ == nullptr || relay_->AwaitDrained(deadline)) && rest;
}

void Gateway::Stop() {
  if (relay_) relay_->Stop();
  if (rest_) rest_->Stop();
}

int Gateway::rest_port() const { return rest_ ? rest_->port() : 0; }
int Gateway::relay_port() const { return relay_ ? relay_->port() : 0; }

}  // namespace fanout::gateway
