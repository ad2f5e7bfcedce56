#include "node/rpc/server_limits_config.h"

namespace fanout {

Server::Options::Limits ServerLimitsFromConfig(const config::v1::GrpcServer& config) {
  Server::Options::Limits limits;
  if (config.max_concurrent_streams() > 0) {
    limits.max_concurrent_streams = config.max_concurrent_streams();
  }
  if (config.max_metadata_bytes() > 0) limits.max_metadata_bytes = config.max_metadata_bytes();
  if (config.min_ping_interval_ms() > 0) {
    limits.min_ping_interval = absl::Milliseconds(config.min_ping_interval_ms());
  }
  if (config.max_ping_strikes() > 0) limits.max_ping_strikes = config.max_ping_strikes();
  limits.permit_keepalive_without_calls = config.permit_keepalive_without_calls();
  if (config.max_connection_age_ms() > 0) {
    limits.max_connection_age = absl::Milliseconds(config.max_connection_age_ms());
  }
  if (config.max_connection_age_grace_ms() > 0) {
    limits.max_connection_age_grace = absl::Milliseconds(config.max_connection_age_grace_ms());
  }
  if (config.max_connection_idle_ms() > 0) {
    limits.max_connection_idle = absl::Milliseconds(config.max_connection_idle_ms());
  }
  return limits;
}

}  // namespace fanout
