// The gateway's metrics: read from its live state (admission limiters,
// backend stats, bulkheads, breakers) when /metrics is scraped, so the
// request path pays nothing for them beyond the atomics it already keeps.
//
//   std::vector<metrics::CallbackHandle> handles = ExportGatewayMetrics(state);
//
// fanout_gateway_backend_*_total, fanout_gateway_bulkhead_*,
// fanout_gateway_circuit_state (by backend); fanout_gateway_in_flight,
// fanout_gateway_shed_total; fanout_gateway_route_in_flight,
// fanout_gateway_route_shed_total (by route).
//
// Thread-safe: scrapes read atomics. The handles unregister the callbacks:
// drop them before `state` dies.
#pragma once

#include <vector>

#include "gateway/gateway_state.h"
#include "node/telemetry/metrics.h"

namespace fanout::gateway {

// Registers the callbacks in metrics::DefaultRegistry(). The backends are
// read at each scrape: those connected later are counted too.
std::vector<metrics::CallbackHandle> ExportGatewayMetrics(const GatewayState& state);

}  // namespace fanout::gateway
