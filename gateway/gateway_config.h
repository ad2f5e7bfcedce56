// The gateway section of the config (`gateway:`), checked whole: the door
// limits, the JSON limits, rate limiting, CORS, auth, the metadata
// allowlist, the descriptor sets and the routes (the built-in ones when it
// lists none). What fanoutd --check-config runs, and the first thing
// Gateway::Create does; errors name the key, e.g.
// `gateway.metadata_allowlist[1]: "te" cannot be forwarded: ...`.
//
//   DescriptorRegistry descriptors;
//   FANOUT_ASSIGN_OR_RETURN(std::vector<CompiledRoute> routes,
//                           CompileGatewayRoutes(config, {"users", "orders"}, &descriptors));
//
// Thread-safe: functions of their arguments (CompileGatewayRoutes reads the
// descriptor set files and adds them to `descriptors`).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fanout/config/v1/gateway_config.pb.h"
#include "gateway/json_parse.h"
#include "gateway/route.h"

namespace fanout::gateway {

class DescriptorRegistry;

// What fanoutd --check-config runs: the routes compile against these backends.
absl::Status CheckGatewayConfig(const config::v1::GatewayConfig& config,
                                const std::set<std::string>& backends);

// The routes a config asks for (the built-in ones when it lists none),
// compiled against these backends and descriptors (the config's
// descriptor_sets are added to them); the rest of the section is checked too.
absl::StatusOr<std::vector<CompiledRoute>> CompileGatewayRoutes(
    const config::v1::GatewayConfig& config, const std::set<std::string>& backends,
    DescriptorRegistry* descriptors);

// A route's deadline when it sets none (default_timeout_ms; 0: 10 s).
absl::Duration DefaultTimeout(const config::v1::GatewayConfig& config);

// The limits on one REST body (gateway.json; 0 keeps json_parse.h's default).
JsonLimits BodyLimits(const config::v1::JsonLimits& config);

// The caller's metadata keys forwarded to backends, lower-case, sorted, each
// once: metadata_allowlist, or the default list when it names none; never
// x-user-id once `auth_configured` (backends read x-fanout-subject).
std::vector<std::string> MetadataAllowlist(const config::v1::GatewayConfig& config,
                                           bool auth_configured);

}  // namespace fanout::gateway
