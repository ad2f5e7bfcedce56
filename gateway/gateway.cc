#include "gateway/gateway.h"

#include <google/protobuf/descriptor.h>

#include <iterator>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/descriptors.h"
#include "gateway/gateway_config.h"
#include "gateway/proxy_metadata.h"
#include "node/base/log.h"
#include "node/base/status_macros.h"
#include "node/config/tls_config.h"
#include "node/http/http_server.h"
#include "node/rpc/client.h"
#include "node/telemetry/trace.h"

namespace fanout::gateway {

Gateway::Gateway(Options options)
    : options_(std::move(options)),
      admission_(options_.config.max_in_flight() > 0 ? options_.config.max_in_flight()
                                                     : kDefaultGatewayMaxInFlight),
      stream_admission_(options_.config.max_streams() > 0 ? options_.config.max_streams() : 1000),
      body_limits_(BodyLimits(options_.config.json())),
      offload_bytes_(options_.config.json().offload_bytes() > 0
                         ? options_.config.json().offload_bytes()
                         : 64 * 1024),
      descriptors_(std::make_unique<DescriptorRegistry>()) {}

Gateway::~Gateway() { Stop(); }

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Create(Options options) {
  std::unique_ptr<Gateway> gateway(new Gateway(std::move(options)));
  const config::v1::GatewayConfig& config = gateway->options_.config;
  std::set<std::string> names;
  for (const auto& [name, backend] : gateway->options_.backends) names.insert(name);
  FANOUT_ASSIGN_OR_RETURN(gateway->routes_,
                          CompileGatewayRoutes(config, names, gateway->descriptors_.get()));
  FANOUT_ASSIGN_OR_RETURN(gateway->rate_limits_, CallerRateLimits::Create(config.rate_limiting(),
                                                                          gateway->options_.clock));
  FANOUT_ASSIGN_OR_RETURN(gateway->cors_, CorsPolicy::FromConfig(config.cors(), "gateway.cors"));
  FANOUT_ASSIGN_OR_RETURN(gateway->auth_,
                          Authenticator::Create(config.auth(), gateway->options_.clock));
  for (const CompiledRoute& route : gateway->routes_) {
    gateway->route_limits_.push_back(std::make_unique<AdmissionLimiter>(route.max_in_flight));
    if (!route.grpc_method.empty()) gateway->grpc_routes_[route.grpc_method] = &route;
  }
  for (const auto& [name, backend] : gateway->options_.backends) {
    for (const std::string& service : backend.services()) gateway->services_[service] = name;
  }
  for (const auto& [service, backend] : config.services()) {
    if (!names.contains(backend)) {
      return absl::InvalidArgumentError(absl::StrCat("gateway.services.", service, ": backend \"",
                                                     backend, "\" is not configured"));
    }
    gateway->services_[service] = backend;
  }
  // Routes tell which backend serves which service, too.
  for (const CompiledRoute& route : gateway->routes_) {
    for (const CompiledCall& call : route.calls) {
      gateway->services_.emplace(ServiceOf(call.method), call.backend);
    }
  }
  gateway->proxy_options_.metadata_allowlist =
      MetadataAllowlist(config, gateway->auth_->configured());
  Gateway* self = gateway.get();
  gateway->env_.backends = &gateway->backends_;
  gateway->env_.new_message = [self](const google::protobuf::Descriptor* type) {
    return self->descriptors_->NewMessage(type);
  };
  gateway->env_.resolve = [self](const CompiledCall& call) { return self->Resolve(call); };
  return gateway;
}

void Gateway::Register(Server& server) { server.RegisterGenericService(&generic_); }

absl::Status Gateway::Start(Server& server) {
  loops_ = &server.loops();
  for (const auto& [name, backend] : options_.backends) {
    backends_[name] =
        std::make_unique<Backend>(name, options_.channel(name), backend, options_.clock);
  }
  ExportMetrics();
  if (trace::Tracer* tracer = trace::GlobalTracer()) {
    trace_resource_ = tracer->ResourceOfGrpcService("fanout.gateway.v1.Gateway");
  }
  server.ServeGeneric(&generic_, [this](GenericCall& call) { return ServeGrpc(call); });
  const config::v1::GatewayConfig& config = options_.config;
  if (config.rest_address().empty()) return absl::OkStatus();
  // One thread and a short queue: large bodies are rare, and a flood of
  // them is refused (RESOURCE_EXHAUSTED) rather than queued without bound.
  parse_pool_ = std::make_unique<OffloadPool>(
      OffloadPool::Options{.threads = 1, .queue_capacity = 64, .name = "gateway-json"});
  HttpServer::Options http{.address = config.rest_address()};
  if (config.http_threads() > 0) http.threads = config.http_threads();
  if (config.max_body_bytes() > 0) http.max_body_bytes = config.max_body_bytes();
  if (config.max_headers() > 0) http.max_headers = config.max_headers();
  if (config.max_header_bytes() > 0) http.max_header_bytes = config.max_header_bytes();
  if (config.read_timeout_ms() > 0) {
    http.read_timeout = absl::Milliseconds(config.read_timeout_ms());
  }
  if (config.idle_timeout_ms() > 0) {
    http.idle_timeout = absl::Milliseconds(config.idle_timeout_ms());
  }
  http.max_requests_per_connection = config.max_requests_per_connection();
  if (config.max_connections() > 0) http.max_connections = config.max_connections();
  http.tls = TlsOptionsFromConfig(config.rest_tls());
  http_ = std::make_unique<HttpServer>(
      http, [this](std::shared_ptr<HttpExchange> exchange) { HandleHttp(std::move(exchange)); });
  absl::Status started = http_->Start();
  if (!started.ok()) {
    return absl::Status(started.code(), absl::StrCat("gateway.rest_address: ", started.message()));
  }
  FANOUT_LOG(INFO) << "gateway: " << (http.tls.enabled() ? "HTTPS" : "REST") << " on "
                   << config.rest_address() << " (port " << http_->port() << "), " << routes_.size()
                   << " routes, backends "
                   << absl::StrJoin(backends_, ", ", [](std::string* out, const auto& entry) {
                        out->append(entry.first);
                      });
  return absl::OkStatus();
}

void Gateway::BeginDrain() {
  if (http_) http_->BeginDrain();
}

bool Gateway::AwaitDrained(absl::Time deadline) {
  return http_ == nullptr || http_->AwaitIdle(deadline);
}

void Gateway::Stop() {
  if (!http_) return;
  // Answers of requests cancelled as the loops stopped (503) are on their way.
  http_->AwaitIdle(absl::Now() + absl::Seconds(1));
  http_->Stop();
}

absl::Duration Gateway::default_timeout() const { return DefaultTimeout(options_.config); }

int Gateway::rest_port() const { return http_ ? http_->port() : 0; }

std::optional<std::vector<AdmissionLimiter::Ticket>> Gateway::Admit(const CompiledRoute& route) {
  std::vector<AdmissionLimiter::Ticket> tickets;
  std::optional<AdmissionLimiter::Ticket> global = admission_.TryAdmit();
  if (!global) return std::nullopt;
  tickets.push_back(*std::move(global));
  int index = RouteIndex(route);
  if (index >= 0) {
    std::optional<AdmissionLimiter::Ticket> own = route_limits_[index]->TryAdmit();
    if (!own) return std::nullopt;
    tickets.push_back(*std::move(own));
  }
  return tickets;
}

void Gateway::NoteShed(trace::Span* span, std::string_view route) {
  if (span == nullptr) return;
  span->AddEvent("admission.shed", {{"route", route}});
}

std::vector<std::pair<std::string, std::string>> Gateway::Forwarded(
    const std::vector<std::pair<std::string, std::string>>& headers, int hops,
    const std::optional<Identity>& identity) const {
  MetadataList out = ForwardedHeaders(headers, proxy_options_.metadata_allowlist, hops);
  if (identity) absl::c_move(IdentityMetadata(*identity), std::back_inserter(out));
  return out;
}

std::string Gateway::BackendFor(absl::string_view service) const {
  auto it = services_.find(std::string(service));
  return it == services_.end() ? "" : it->second;
}

Task<absl::StatusOr<const google::protobuf::MethodDescriptor*>> Gateway::Resolve(
    const CompiledCall& call) {
  if (const auto* found = descriptors_->FindMethod(call.method)) co_return found;
  absl::Status loaded = co_await descriptors_->LoadFromReflection(
      backends_.at(call.backend)->stub(), ServiceOf(call.method));
  if (!loaded.ok()) {
    co_return absl::Status(
        loaded.code(), absl::StrCat("method ", call.method, " is unknown and backend \"",
                                    call.backend, "\" could not describe it: ", loaded.message()));
  }
  if (const auto* found = descriptors_->FindMethod(call.method)) co_return found;
  co_return absl::UnimplementedError(
      absl::StrCat("backend \"", call.backend, "\" has no method ", call.method));
}

}  // namespace fanout::gateway
