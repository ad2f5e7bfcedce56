#include "gateway/gateway_config.h"

#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/auth.h"
#include "gateway/cors.h"
#include "gateway/default_routes.h"
#include "gateway/descriptors.h"
#include "gateway/proxy_metadata.h"
#include "gateway/rate_limit.h"
#include "gateway/route_compile.h"
#include "node/base/status_macros.h"
#include "node/rpc/client.h"

namespace fanout::gateway {
namespace {

// Forwarded to backends unless the config names its own list.
const char* const kDefaultAllowlist[] = {"authorization", "x-request-id", "traceparent",
                                         "tracestate",    "x-user-id",    "x-tenant-id"};

// A request's start line and headers are held whole while they are read.
constexpr int32_t kMostHeaderBytes = 1 << 20;

RouteContext MakeRouteContext(const config::v1::GatewayConfig& config,
                              const std::set<std::string>& backends,
                              const DescriptorRegistry* descriptors) {
  RouteContext context;
  context.backends = backends;
  context.find_method = [descriptors](absl::string_view method) {
    return descriptors->FindMethod(method);
  };
  context.allow_unknown_methods = config.use_reflection();
  context.default_timeout = DefaultTimeout(config);
  return context;
}

absl::Status LoadDescriptorSets(const config::v1::GatewayConfig& config,
                                DescriptorRegistry* descriptors) {
  for (const std::string& path : config.descriptor_sets()) {
    absl::Status added = descriptors->AddDescriptorSetFile(path);
    if (!added.ok()) {
      return absl::Status(added.code(), absl::StrCat("gateway.descriptor_sets: ", added.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTopLevel(const config::v1::GatewayConfig& config) {
  auto bad = [](absl::string_view key, auto value) {
    return absl::InvalidArgumentError(absl::StrCat("gateway.", key, ": must be >= 0, got ", value));
  };
  if (config.http_threads() < 0) return bad("http_threads", config.http_threads());
  if (config.max_body_bytes() < 0) return bad("max_body_bytes", config.max_body_bytes());
  if (config.max_in_flight() < 0) return bad("max_in_flight", config.max_in_flight());
  if (config.default_timeout_ms() < 0)
    return bad("default_timeout_ms", config.default_timeout_ms());
  if (config.max_headers() < 0) return bad("max_headers", config.max_headers());
  if (config.max_streams() < 0) return bad("max_streams", config.max_streams());
  if (config.max_header_bytes() < 0 || config.max_header_bytes() > kMostHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat("gateway.max_header_bytes: must be 0 (8192) to ",
                                                   kMostHeaderBytes, ", got ",
                                                   config.max_header_bytes()));
  }
  if (config.read_timeout_ms() < 0) return bad("read_timeout_ms", config.read_timeout_ms());
  if (config.idle_timeout_ms() < 0) return bad("idle_timeout_ms", config.idle_timeout_ms());
  if (config.max_requests_per_connection() < 0) {
    return bad("max_requests_per_connection", config.max_requests_per_connection());
  }
  if (config.max_connections() < 0) return bad("max_connections", config.max_connections());
  const config::v1::JsonLimits& json = config.json();
  if (json.max_depth() < 0 || json.max_depth() > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("gateway.json.max_depth: must be 0 (64) to 1000, got ", json.max_depth()));
  }
  if (json.max_elements() < 0) return bad("json.max_elements", json.max_elements());
  if (json.max_string_bytes() < 0) return bad("json.max_string_bytes", json.max_string_bytes());
  if (json.offload_bytes() < 0) return bad("json.offload_bytes", json.offload_bytes());
  FANOUT_RETURN_IF_ERROR(CallerRateLimits::Create(config.rate_limiting(), &Clock::Real()).status());
  FANOUT_RETURN_IF_ERROR(CorsPolicy::FromConfig(config.cors(), "gateway.cors").status());
  return absl::OkStatus();
}

// Keys gRPC can carry, and none the gateway sets itself or that are not the
// call's to forward (CheckAllowlistKey).
absl::Status ValidateAllowlist(const config::v1::GatewayConfig& config, bool auth_configured) {
  for (int i = 0; i < config.metadata_allowlist_size(); ++i) {
    std::string key = absl::AsciiStrToLower(config.metadata_allowlist(i));
    absl::Status checked = CheckAllowlistKey(key, auth_configured);
    if (checked.ok()) checked = CheckMetadata(key, "");
    if (!checked.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("gateway.metadata_allowlist[", i, "]: ", checked.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<CompiledRoute>> CompileGatewayRoutes(
    const config::v1::GatewayConfig& config, const std::set<std::string>& backends,
    DescriptorRegistry* descriptors) {
  FANOUT_RETURN_IF_ERROR(ValidateTopLevel(config));
  FANOUT_RETURN_IF_ERROR(LoadDescriptorSets(config, descriptors));
  config::v1::GatewayConfig effective = config;
  if (effective.routes().empty()) FANOUT_RETURN_IF_ERROR(AddDefaultRoutes(&effective, &backends));
  FANOUT_ASSIGN_OR_RETURN(
      std::vector<CompiledRoute> routes,
      CompileRoutes(effective, MakeRouteContext(effective, backends, descriptors)));
  // The routes' demands, against the credentials configured.
  FANOUT_ASSIGN_OR_RETURN(auto auth, Authenticator::Create(config.auth(), &Clock::Real()));
  FANOUT_RETURN_IF_ERROR(ValidateAllowlist(config, auth->configured()));
  FANOUT_RETURN_IF_ERROR(auth->CheckPolicy(RouteAuthPolicy{}));
  for (const CompiledRoute& route : routes) FANOUT_RETURN_IF_ERROR(auth->CheckPolicy(route.auth));
  return routes;
}

absl::Status CheckGatewayConfig(const config::v1::GatewayConfig& config,
                                const std::set<std::string>& backends) {
  DescriptorRegistry descriptors;
  return CompileGatewayRoutes(config, backends, &descriptors).status();
}

JsonLimits BodyLimits(const config::v1::JsonLimits& config) {
  JsonLimits limits;
  if (config.max_depth() > 0) limits.max_depth = config.max_depth();
  if (config.max_elements() > 0) limits.max_elements = config.max_elements();
  if (config.max_string_bytes() > 0) limits.max_string_bytes = config.max_string_bytes();
  return limits;
}

absl::Duration DefaultTimeout(const config::v1::GatewayConfig& config) {
  return config.default_timeout_ms() > 0 ? absl::Milliseconds(config.default_timeout_ms())
                                         : absl::Seconds(10);
}

std::vector<std::string> MetadataAllowlist(const config::v1::GatewayConfig& config,
                                           bool auth_configured) {
  std::set<std::string> allowlist;
  if (config.metadata_allowlist().empty()) {
    allowlist.insert(std::begin(kDefaultAllowlist), std::end(kDefaultAllowlist));
  }
  for (const std::string& key : config.metadata_allowlist()) {
    allowlist.insert(absl::AsciiStrToLower(key));
  }
  // Once the gateway verifies callers, a caller-sent user id is an
  // unverified claim: backends read x-fanout-subject instead.
  if (auth_configured) allowlist.erase("x-user-id");
  return {allowlist.begin(), allowlist.end()};
}

}  // namespace fanout::gateway
