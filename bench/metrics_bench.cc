// metrics_bench: what recording a metric costs on the request path.
//
//   metrics_bench                                  # everything, a few seconds
//   metrics_bench --benchmark_filter=With          # the labelled lookup only
//
// ->Threads(2) runs the same update from two threads on one shared child:
// the contended case (every loop counting into one series).
#include <benchmark/benchmark.h>

#include <string>

#include "node/telemetry/metrics.h"

namespace fanout::metrics {
namespace {

Registry& BenchRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

void BM_CounterIncrement(benchmark::State& state) {
  Counter& counter = BenchRegistry().AddCounter("bench_counter_total", "C.").With({});
  for (auto _ : state) counter.Increment();
}
BENCHMARK(BM_CounterIncrement)->Threads(1)->Threads(2);

// A method x code lookup among 60 children, then the increment: what an RPC
// interceptor does per call without caching the child.
void BM_FamilyWithIncrement(benchmark::State& state) {
  Family<Counter>& calls =
      BenchRegistry().AddCounter("bench_calls_total", "C.", {"method", "code"});
  for (int m = 0; m < 20; ++m) {
    for (const char* code : {"OK", "UNAVAILABLE", "DEADLINE_EXCEEDED"}) {
      calls.With({"/fanout.users.v1.Users/Method" + std::to_string(m), code});
    }
  }
  const std::string method = "/fanout.users.v1.Users/Method7";
  for (auto _ : state) calls.With({method, "OK"}).Increment();
}
BENCHMARK(BM_FamilyWithIncrement)->Threads(1)->Threads(2);

void BM_HistogramObserve(benchmark::State& state) {
  Histogram& latency = BenchRegistry().AddHistogram("bench_seconds", "H.").With({});
  double v = 0.0001;
  for (auto _ : state) {
    latency.Observe(v);
    v = v < 5 ? v * 1.7 : 0.0001;  // Walk the buckets.
  }
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2);

// A scrape of 20 histograms x 10 children and 200 counters.
void BM_Render(benchmark::State& state) {
  Registry registry;
  for (int f = 0; f < 20; ++f) {
    auto& h = registry.AddHistogram("bench_h" + std::to_string(f) + "_seconds", "H.", {"m"});
    auto& c = registry.AddCounter("bench_c" + std::to_string(f) + "_total", "C.", {"m"});
    for (int m = 0; m < 10; ++m) {
      h.With({std::to_string(m)}).Observe(0.01 * m);
      c.With({std::to_string(m)}).Increment(m);
    }
  }
  size_t bytes = 0;
  for (auto _ : state) bytes = registry.Render().size();
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Render);

}  // namespace
}  // namespace fanout::metrics

BENCHMARK_MAIN();
