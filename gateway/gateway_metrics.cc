#include "gateway/gateway_metrics.h"

namespace fanout::gateway {
namespace {

using metrics::Sample;
using metrics::Type;

// One sample per backend, from `value(backend)`.
template <typename Value>
std::function<std::vector<Sample>()> PerBackend(const BackendMap* backends, Value value) {
  return [backends, value] {
    std::vector<Sample> samples;
    for (const auto& [name, backend] : *backends) {
      samples.push_back({{name}, static_cast<double>(value(*backend))});
    }
    return samples;
  };
}

// One sample per backend whose limit is learnt (adaptive_concurrency), from
// `value(limit)`.
template <typename Value>
std::function<std::vector<Sample>()> PerAdaptiveBackend(const BackendMap* backends, Value value) {
  return [backends, value] {
    std::vector<Sample> samples;
    for (const auto& [name, backend] : *backends) {
      if (const AdaptiveLimit* limit = backend->adaptive()) {
        samples.push_back({{name}, static_cast<double>(value(*limit))});
      }
    }
    return samples;
  };
}

struct BackendCounter {
  const char* name;
  const char* help;
  std::atomic<int64_t> BackendStats::*field;
};

constexpr BackendCounter kBackendCounters[] = {
    {"fanout_gateway_backend_attempts_total", "Calls sent to the backend (each retry and hedge).",
     &BackendStats::attempts},
    {"fanout_gateway_backend_failures_total", "Calls to the backend that failed.",
     &BackendStats::failures},
    {"fanout_gateway_backend_retries_total", "Retries of failed calls to the backend.",
     &BackendStats::retries},
    {"fanout_gateway_backend_hedges_total", "Second copies sent after the hedge delay.",
     &BackendStats::hedges},
    {"fanout_gateway_backend_hedge_wins_total", "Second copies that answered first.",
     &BackendStats::hedge_wins},
    {"fanout_gateway_backend_bulkhead_rejected_total",
     "Calls refused because the backend's bulkhead and its queue were full.",
     &BackendStats::bulkhead_rejected},
    {"fanout_gateway_backend_breaker_rejected_total",
     "Calls refused because the backend's circuit breaker was open.",
     &BackendStats::breaker_rejected},
};

}  // namespace

std::vector<metrics::CallbackHandle> ExportGatewayMetrics(const GatewayState& state) {
  std::vector<metrics::CallbackHandle> handles;
  metrics::Registry& registry = metrics::DefaultRegistry();
  const BackendMap* backends = &state.backends();
  for (const BackendCounter& counter : kBackendCounters) {
    auto field = counter.field;
    handles.push_back(registry.AddCallback(
        counter.name, counter.help, Type::kCounter, {"backend"},
        PerBackend(backends, [field](const Backend& b) { return (b.stats().*field).load(); })));
  }
  handles.push_back(registry.AddCallback(
      "fanout_gateway_bulkhead_permits_in_use",
      "Calls in flight to the backend (bulkhead permits held).", Type::kGauge, {"backend"},
      PerBackend(backends, [](const Backend& b) { return b.bulkhead().in_use(); })));
  handles.push_back(registry.AddCallback(
      "fanout_gateway_bulkhead_permits",
      "The backend's bulkhead size: max_concurrent_calls, or the limit adaptive_concurrency "
      "learnt.",
      Type::kGauge, {"backend"},
      PerBackend(backends, [](const Backend& b) { return b.bulkhead().capacity(); })));
  handles.push_back(registry.AddCallback(
      "fanout_gateway_backend_min_rtt_seconds",
      "The backend's minimum latency as adaptive_concurrency last measured it.", Type::kGauge,
      {"backend"}, PerAdaptiveBackend(backends, [](const AdaptiveLimit& limit) {
        return absl::ToDoubleSeconds(limit.min_rtt());
      })));
  handles.push_back(registry.AddCallback(
      "fanout_gateway_backend_limit_cuts_total",
      "Times the backend's latency made adaptive_concurrency lower its limit.", Type::kCounter,
      {"backend"},
      PerAdaptiveBackend(backends, [](const AdaptiveLimit& limit) { return limit.cuts(); })));
  handles.push_back(registry.AddCallback(
      "fanout_gateway_bulkhead_waiters", "Calls waiting for a bulkhead permit.", Type::kGauge,
      {"backend"}, PerBackend(backends, [](const Backend& b) { return b.bulkhead().waiters(); })));
  handles.push_back(registry.AddCallback(
      "fanout_gateway_circuit_state",
      "The backend's circuit breaker: 1 for its current state (closed, open, half_open), else 0.",
      Type::kGauge, {"backend", "state"}, [backends] {
        std::vector<Sample> samples;
        for (const auto& [name, backend] : *backends) {
          CircuitBreaker::State now = backend->breaker().state();
          for (CircuitBreaker::State state :
               {CircuitBreaker::State::kClosed, CircuitBreaker::State::kOpen,
                CircuitBreaker::State::kHalfOpen}) {
            samples.push_back({{name, CircuitBreaker::StateName(state)}, now == state ? 1.0 : 0.0});
          }
        }
        return samples;
      }));
  const AdmissionLimiter* global = &state.admission();
  handles.push_back(registry.AddCallback(
      "fanout_gateway_in_flight", "Requests admitted and not yet answered (both doors).",
      Type::kGauge, {}, [global] {
        return std::vector<Sample>{{{}, double(global->in_flight())}};
      }));
  handles.push_back(
      registry.AddCallback("fanout_gateway_shed_total",
                           "Requests refused at the door because the gateway was at max_in_flight.",
                           Type::kCounter, {}, [global] {
                             return std::vector<Sample>{{{}, double(global->shed())}};
                           }));
  auto per_route = [&state](auto value) {
    return [&state, value] {
      std::vector<Sample> samples;
      for (size_t i = 0; i < state.routes().size(); ++i) {
        samples.push_back({{state.routes()[i].name},
                           static_cast<double>(value(state.route_limit(static_cast<int>(i))))});
      }
      return samples;
    };
  };
  handles.push_back(registry.AddCallback(
      "fanout_gateway_route_in_flight", "Requests of the route admitted and not yet answered.",
      Type::kGauge, {"route"},
      per_route([](const AdmissionLimiter& limit) { return limit.in_flight(); })));
  handles.push_back(registry.AddCallback(
      "fanout_gateway_route_shed_total",
      "Requests of the route refused because the route was at its max_in_flight.", Type::kCounter,
      {"route"}, per_route([](const AdmissionLimiter& limit) { return limit.shed(); })));
  return handles;
}

}  // namespace fanout::gateway
