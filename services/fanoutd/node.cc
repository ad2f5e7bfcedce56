#include "services/fanoutd/node.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "node/base/log.h"
#include "node/base/status_macros.h"
#include "node/config/tls_config.h"
#include "node/otlp/otlp_exporter.h"
#include "node/otlp/tracing_config.h"
#include "node/rpc/server_limits_config.h"

namespace fanout::fanoutd {
namespace {

// A local role is called through the node's own port.
std::string LoopbackTarget(const std::string& address, int port) {
  if (absl::StartsWith(address, "unix:")) return address;
  return absl::StrCat("127.0.0.1:", port);
}

// Serves gRPC server reflection on the node's server, or keeps it off,
// whatever the plugins that linking libgrpc++_reflection registers for
// every server in the process.
class ReflectionOption final : public grpc::ServerBuilderOption {
 public:
  explicit ReflectionOption(bool on) : on_(on) {}
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    std::erase_if(*plugins, [](const std::unique_ptr<grpc::ServerBuilderPlugin>& plugin) {
      return plugin->name() == "proto_server_reflection";
    });
    if (on_) plugins->push_back(std::make_unique<grpc::reflection::ProtoServerReflectionPlugin>());
  }

 private:
  const bool on_;
};

}  // namespace

Node::Node(NodeConfig config) : config_(std::move(config)) {
  server_ = std::make_unique<Server>(
      Server::Options{.listen_addresses = {config_.grpc_address()},
                      .num_loops = config_.loops(),
                      .tls = TlsOptionsFromConfig(config_.grpc_tls()),
                      .limits = ServerLimitsFromConfig(config_.grpc_server())});
  health_.Register(*server_);
  pool_ = std::make_unique<OffloadPool>(OffloadPool::Options{
      .threads = config_.offload().threads() > 0 ? config_.offload().threads() : 2,
      .queue_capacity = config_.offload().queue_capacity() > 0
                            ? static_cast<size_t>(config_.offload().queue_capacity())
                            : 1024});
  bool reflection = !config_.grpc_server().has_reflection() || config_.grpc_server().reflection();
  server_->builder().SetOption(std::make_unique<ReflectionOption>(reflection));
  // Reflection is a synchronous service: keep its thread pool small.
  server_->builder().SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
  server_->builder().SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 1);
}

Node::~Node() { Drain(); }

absl::Status Node::OpenStores() {
  const auto& roles = config_.roles();
  if (!roles.users() && !roles.orders()) return absl::OkStatus();
  if (config_.store().has_postgres()) {
    PostgresOptions options = PostgresOptionsFromConfig(config_.store().postgres());
    auto store_pool = [&](const char* name) {
      return std::make_unique<OffloadPool>(
          OffloadPool::Options{.threads = options.pool_size, .name = name});
    };
    if (roles.users()) {
      FANOUT_ASSIGN_OR_RETURN(users_store_, users::UsersStore::OpenPostgres(options));
      users_store_pool_ = store_pool("users-postgres");
    }
    if (roles.orders()) {
      FANOUT_ASSIGN_OR_RETURN(orders_store_, orders::OrdersStore::OpenPostgres(options));
      orders_store_pool_ = store_pool("orders-postgres");
    }
    FANOUT_LOG(INFO) << "store: PostgreSQL, " << options.pool_size << " connections per data role";
    return absl::OkStatus();
  }
  std::error_code error;
  std::filesystem::create_directories(config_.data_dir(), error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("data_dir \"", config_.data_dir(), "\": ", error.message()));
  }
  if (roles.users()) {
    FANOUT_ASSIGN_OR_RETURN(users_store_,
                            users::UsersStore::Open(config_.data_dir() + "/users.db"));
  }
  if (roles.orders()) {
    FANOUT_ASSIGN_OR_RETURN(orders_store_,
                            orders::OrdersStore::Open(config_.data_dir() + "/orders.db"));
  }
  return absl::OkStatus();
}

absl::Status Node::PrepareChannelSecurity() {
  TlsOptions door = TlsOptionsFromConfig(config_.grpc_tls());
  for (const std::string& name : BackendNames(config_)) {
    TlsOptions tls;
    std::string key = absl::StrCat("backends.", name, ".tls");
    if (auto it = config_.backends().find(name); it != config_.backends().end()) {
      tls = TlsOptionsFromConfig(it->second.tls());
    } else if (door.enabled()) {
      // Validation asks for ca_file only where the node calls itself.
      if (door.ca_file.empty()) continue;
      key = "grpc_tls (calling this node's own door)";
      tls = door;
      tls.require_client_cert = false;
      FANOUT_ASSIGN_OR_RETURN(tls.server_name_override, CertificateName(door.cert_file));
    }
    absl::StatusOr<ChannelSecurity> security = ChannelSecurityFor(tls);
    if (!security.ok()) {
      return absl::Status(security.status().code(),
                          absl::StrCat(key, ": ", security.status().message()));
    }
    backend_security_[name] = {.tls = std::move(tls), .channel = *std::move(security)};
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> Node::BackendChannel(const std::string& name) {
  std::string target;
  std::string lb = "round_robin";
  if (auto it = config_.backends().find(name); it != config_.backends().end()) {
    target = it->second.target();
    if (!it->second.load_balancing().empty()) lb = it->second.load_balancing();
  } else {
    target = LoopbackTarget(config_.grpc_address(), server_->port());
  }
  grpc::ChannelArguments args;
  // Retries and hedging are ours (Retry, the gateway's policies); gRPC's own
  // retry filter would only copy every message for nothing.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  // A backend that restarts (a pod rescheduled) is called again within a few
  // seconds: gRPC's reconnect backoff would otherwise grow to 120 s.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  args.SetServiceConfigJSON(absl::StrCat(R"({"loadBalancingConfig": [{")", lb, R"(": {}}]})"));
  // Prepared at Start (PrepareChannelSecurity) for every backend name but a
  // local role behind a TLS door without grpc_tls.ca_file, which validation
  // lets through only where nothing calls it. Should that change, the call
  // fails its handshake (the system's CAs) rather than going out plaintext.
  auto found = backend_security_.find(name);
  ChannelSecurity security =
      found != backend_security_.end()
          ? found->second.channel
          : ChannelSecurity{.credentials = grpc::SslCredentials({}), .tls = true};
  security.Apply(&args);
  FANOUT_LOG(INFO) << "backend " << name << " -> " << target << " (" << lb
                   << (security.tls ? ", TLS" : "") << ")";
  return grpc::CreateCustomChannel(target, security.credentials, args);
}

absl::Status Node::StartAdmin() {
  if (config_.admin_address().empty()) return absl::OkStatus();
  admin_ = std::make_unique<AdminServer>(AdminServer::Options{.address = config_.admin_address()});
  admin_->Handle("/healthz", [] { return HttpReply{200, "ok\n"}; });
  admin_->Handle("/readyz", [this] {
    return ready_.load() ? HttpReply{200, "ready\n"} : HttpReply{503, "not ready\n"};
  });
  std::string effective = RedactedConfigText(config_);
  admin_->Handle("/config", [effective] { return HttpReply{200, effective, "application/json"}; });
  FANOUT_RETURN_IF_ERROR(admin_->Start());
  FANOUT_LOG(INFO) << "admin HTTP on " << config_.admin_address() << " (port " << admin_->port()
                   << "): /healthz /readyz /config /metrics";
  return absl::OkStatus();
}

absl::Status Node::StartTracing() {
  const config::v1::Tracing& t = config_.tracing();
  if (t.otlp_endpoint().empty()) return absl::OkStatus();
  std::vector<std::pair<std::string, std::string>> roles = RoleServices(config_.roles());
  trace::TracingOptions tracing = trace::TracingOptionsFromConfig(t);
  trace::Tracer::Options& options = tracing.tracer;
  // One role: its name is the process's; several: "fanout" for what no
  // role owns (a proxied call of a service served elsewhere).
  options.service_name = roles.size() == 1 ? "fanout-" + roles[0].first : "fanout";
  options.service_version = FANOUT_VERSION;
  const trace::OtlpOptions& otlp = tracing.otlp;
  absl::StatusOr<std::unique_ptr<trace::Tracer>> tracer = trace::NewOtlpTracer(otlp, options);
  if (!tracer.ok()) {
    return absl::Status(tracer.status().code(),
                        absl::StrCat("tracing: ", tracer.status().message()));
  }
  tracer_ = *std::move(tracer);
  for (const auto& [role, service] : roles) {
    tracer_->MapGrpcService(service,
                            roles.size() == 1 ? 0 : tracer_->AddResource("fanout-" + role));
  }
  trace::SetGlobalTracer(tracer_.get());
  FANOUT_LOG(INFO) << "tracing: OTLP to " << t.otlp_endpoint()
                   << (otlp.tls.enabled() ? " over TLS" : "") << ", sampling "
                   << options.sample_ratio << " of new traces";
  return absl::OkStatus();
}

absl::Status Node::CreateGateway() {
  gateway::Gateway::Options options{.config = config_.gateway()};
  for (const std::string& name : BackendNames(config_)) {
    auto it = config_.backends().find(name);
    options.backends[name] = it == config_.backends().end() ? config::v1::Backend() : it->second;
  }
  // Channels are made when the gateway starts, after the port is bound
  // (a local role is reached through it).
  options.channel = [this](const std::string& name) { return BackendChannel(name); };
  options.backend_address = [this](const std::string& name) {
    auto it = config_.backends().find(name);
    return it != config_.backends().end() ? it->second.target()
                                          : LoopbackTarget(config_.grpc_address(), server_->port());
  };
  // The relay's TLS is the gRPC door's, and a backend's its channel's.
  options.backend_tls = [this](const std::string& name) {
    auto it = backend_security_.find(name);
    return it == backend_security_.end() ? TlsOptions() : it->second.tls;
  };
  options.relay_tls = TlsOptionsFromConfig(config_.grpc_tls());
  for (const auto& [role, service] : RoleServices(config_.roles())) {
    options.local_services.insert(service);
  }
  FANOUT_ASSIGN_OR_RETURN(gateway_, gateway::Gateway::Create(std::move(options)));
  gateway_->Register(*server_);
  return absl::OkStatus();
}

absl::Status Node::Start() {
  for (const auto& [role, service] : RoleServices(config_.roles())) services_.push_back(service);
  FANOUT_RETURN_IF_ERROR(StartTracing());
  FANOUT_RETURN_IF_ERROR(StartAdmin());
  FANOUT_RETURN_IF_ERROR(OpenStores());
  const auto& roles = config_.roles();
  if (roles.lab()) {
    lab_ = std::make_unique<lab::LabService>(lab::LabService::Options{.name = config_.node_name()});
    lab_->Register(*server_);
  }
  if (roles.users()) {
    users_ = std::make_unique<users::UsersService>(
        users_store_.get(), users_store_pool_ ? users_store_pool_.get() : pool_.get());
    users_->Register(*server_);
  }
  if (roles.orders()) {
    // The users stub is bound once the port is known (see below).
    orders_ = std::make_unique<orders::OrdersService>(
        orders_store_.get(), orders_store_pool_ ? orders_store_pool_.get() : pool_.get(),
        server_->loops(), orders::OrdersService::OptionsFromConfig(config_.orders()));
    orders_->Register(*server_);
  }
  if (roles.recommendations()) {
    // The stub is bound once the port is known (see below); register now.
    recommendations_ = std::make_unique<recommendations::RecommendationsService>(
        nullptr, pool_.get(), recommendations::RecommendationsService::Options{});
    recommendations_->Register(*server_);
  }
  FANOUT_RETURN_IF_ERROR(PrepareChannelSecurity());
  if (roles.gateway()) FANOUT_RETURN_IF_ERROR(CreateGateway());
  FANOUT_RETURN_IF_ERROR(server_->Start());
  health_.Serve(*server_);
  SetServing(false);
  if (orders_) {
    users_stub_ = users::v1::Users::NewStub(BackendChannel("users"));
    orders_->set_users(users_stub_.get());
  }
  if (recommendations_) {
    orders_stub_ = orders::v1::Orders::NewStub(BackendChannel("orders"));
    recommendations_->set_orders(orders_stub_.get());
  }
  if (lab_) lab_->Serve(*server_);
  if (users_) users_->Serve(*server_);
  if (orders_) orders_->Serve(*server_);
  if (recommendations_) recommendations_->Serve(*server_);
  if (gateway_) FANOUT_RETURN_IF_ERROR(gateway_->Start(*server_));
  SetServing(true);
  for (const auto& service : services_) {
    FANOUT_LOG(INFO) << "serving " << service << " on " << config_.grpc_address() << " (port "
                     << server_->port() << ")";
  }
  return absl::OkStatus();
}

void Node::SetServing(bool serving) {
  ready_.store(serving);
  health_.Set("", serving);
  for (const auto& service : services_) health_.Set(service, serving);
}

void Node::Drain() {
  if (!server_) return;
  ready_.store(false);
  health_.Shutdown();
  absl::Duration grace = absl::Milliseconds(config_.shutdown().grace_ms());
  absl::Time deadline = absl::Now() + grace;
  FANOUT_LOG(INFO) << "draining: in-flight calls have " << grace << " to finish";
  if (gateway_) {
    // REST first, while the gRPC server still takes calls: in the all-in-one
    // node a REST request's backend calls come back in through it.
    gateway_->BeginDrain();
    if (!gateway_->AwaitDrained(deadline)) {
      FANOUT_LOG(WARNING) << "draining: REST requests still running at the grace deadline "
                             "are answered 503";
    }
  }
  // gRPC calls in flight finish until the deadline; then the loops stop and
  // cancel what is left with UNAVAILABLE.
  server_->Shutdown(std::max(deadline - absl::Now(), absl::ZeroDuration()));
  if (gateway_) gateway_->Stop();
  if (admin_) admin_->Stop();
  server_.reset();
  if (tracer_) {
    trace::SetGlobalTracer(nullptr);
    tracer_.reset();  // Exports what is still queued.
  }
  FANOUT_LOG(INFO) << "stopped";
}

}  // namespace fanout::fanoutd
