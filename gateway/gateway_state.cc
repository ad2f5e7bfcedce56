#include "gateway/gateway_state.h"

#include <iterator>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "gateway/gateway_config.h"
#include "gateway/proxy_metadata.h"
#include "node/base/status_macros.h"
#include "node/telemetry/trace.h"

namespace fanout::gateway {

GatewayState::GatewayState(Options options)
    : options_(std::move(options)),
      default_timeout_(DefaultTimeout(options_.config)),
      descriptors_(std::make_unique<DescriptorRegistry>()),
      admission_(options_.config.max_in_flight() > 0 ? options_.config.max_in_flight()
                                                     : kDefaultGatewayMaxInFlight) {}

absl::StatusOr<std::unique_ptr<GatewayState>> GatewayState::Create(Options options) {
  std::unique_ptr<GatewayState> state(new GatewayState(std::move(options)));
  const config::v1::GatewayConfig& config = state->options_.config;
  std::set<std::string> names;
  for (const auto& [name, backend] : state->options_.backends) names.insert(name);
  FANOUT_ASSIGN_OR_RETURN(state->routes_,
                          CompileGatewayRoutes(config, names, state->descriptors_.get()));
  FANOUT_ASSIGN_OR_RETURN(state->rate_limits_,
                          CallerRateLimits::Create(config.rate_limiting(), state->options_.clock));
  FANOUT_ASSIGN_OR_RETURN(state->auth_,
                          Authenticator::Create(config.auth(), state->options_.clock));
  for (const CompiledRoute& route : state->routes_) {
    state->route_limits_.push_back(std::make_unique<AdmissionLimiter>(route.max_in_flight));
  }
  for (const auto& [name, backend] : state->options_.backends) {
    for (const std::string& service : backend.services()) state->services_[service] = name;
  }
  for (const auto& [service, backend] : config.services()) {
    if (!names.contains(backend)) {
      return absl::InvalidArgumentError(absl::StrCat("gateway.services.", service, ": backend \"",
                                                     backend, "\" is not configured"));
    }
    state->services_[service] = backend;
  }
  // Routes tell which backend serves which service, too.
  for (const CompiledRoute& route : state->routes_) {
    for (const CompiledCall& call : route.calls) {
      state->services_.emplace(ServiceOf(call.method), call.backend);
    }
  }
  state->proxy_options_.metadata_allowlist = MetadataAllowlist(config, state->auth_->configured());
  GatewayState* self = state.get();
  state->env_.backends = &state->backends_;
  state->env_.new_message = [self](const google::protobuf::Descriptor* type) {
    return self->descriptors_->NewMessage(type);
  };
  state->env_.resolve = [self](const CompiledCall& call) { return self->Resolve(call); };
  return state;
}

void GatewayState::ConnectBackends(
    const std::function<std::shared_ptr<grpc::Channel>(const std::string&)>& channel) {
  for (const auto& [name, backend] : options_.backends) {
    backends_[name] = std::make_unique<Backend>(name, channel(name), backend, options_.clock);
  }
}

std::optional<std::vector<AdmissionLimiter::Ticket>> GatewayState::Admit(
    const CompiledRoute& route) {
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

void GatewayState::NoteShed(trace::Span* span, std::string_view route) {
  if (span == nullptr) return;
  span->AddEvent("admission.shed", {{"route", route}});
}

absl::Status GatewayState::CheckRateLimits(const CompiledRoute* route, absl::string_view peer,
                                           absl::string_view forwarded_for,
                                           CallerRateLimits::Headers* headers) {
  static const std::optional<RateLimiter::Limit> kNone;
  const std::optional<RateLimiter::Limit>& route_limit = route ? route->rate_limit : kNone;
  if (!rate_limits_->Applies(route_limit)) return absl::OkStatus();
  std::string caller = rate_limits_->trusted().Caller(peer, forwarded_for);
  return rate_limits_->Check(route ? route->name : "", route_limit, caller, headers);
}

absl::StatusOr<std::optional<Identity>> GatewayState::Authenticate(const RouteAuthPolicy& policy,
                                                                   absl::string_view authorization,
                                                                   absl::string_view api_key,
                                                                   std::string* challenge) {
  if (auth_->ModeOf(policy) == config::v1::RouteAuth::NONE) return std::nullopt;
  absl::StatusOr<std::optional<Identity>> who = auth_->Check(policy, authorization, api_key);
  *challenge = Challenge(who.status());
  return who;
}

MetadataList GatewayState::Forwarded(
    const std::vector<std::pair<std::string, std::string>>& headers, int hops,
    const std::optional<Identity>& identity) const {
  MetadataList out = ForwardedHeaders(headers, proxy_options_.metadata_allowlist, hops);
  if (identity) absl::c_move(IdentityMetadata(*identity), std::back_inserter(out));
  return out;
}

std::string GatewayState::BackendFor(absl::string_view service) const {
  auto it = services_.find(std::string(service));
  return it == services_.end() ? "" : it->second;
}

Task<absl::StatusOr<const google::protobuf::MethodDescriptor*>> GatewayState::Resolve(
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
