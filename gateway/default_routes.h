// The built-in routes: what a gateway serves when `gateway.routes` lists
// none (`fanoutd --print-default-config` prints them). Written in the
// config's own YAML form in default_routes.cc: copy them into
// `gateway.routes` to change them.
//
//   config::v1::GatewayConfig effective = config;
//   if (effective.routes().empty()) FANOUT_RETURN_IF_ERROR(AddDefaultRoutes(&effective, &backends));
//
// Thread-safe: a pure function of its arguments.
#pragma once

#include <set>
#include <string>

#include "absl/status/status.h"
#include "fanout/config/v1/gateway_config.pb.h"

namespace fanout::gateway {

// Appends the built-in routes (dashboard, the services' calls, lab; listing
// and deleting users only with config->admin_routes()); with `available`,
// only those whose backends are all in it (so lab routes only where a lab
// backend or role is).
absl::Status AddDefaultRoutes(config::v1::GatewayConfig* config,
                              const std::set<std::string>* available = nullptr);

}  // namespace fanout::gateway
