// trace_bench: what a span costs the request that makes it.
//
//   trace_bench                                   # ~5 s
//   trace_bench --benchmark_filter=Sampled
//
// One iteration is StartSpan + four SetAttribute + End. The exporter points
// at an address where nothing listens, so sampled spans go through the whole
// caller-side path (build the OTLP proto, queue it) and are then dropped by
// the failed export or the full queue: the figure is what a request pays
// while the collector is down, which is also its cost while it is up (the
// export runs on the tracer's own thread). Unsampled spans build nothing.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "node/otlp/otlp_exporter.h"
#include "node/telemetry/trace.h"

namespace fanout::trace {
namespace {

// Nothing listens on port 1 of the loopback address: connections are refused.
constexpr char kDownCollector[] = "127.0.0.1:1";

std::unique_ptr<Tracer> MakeTracer(double sample_ratio) {
  absl::StatusOr<std::unique_ptr<Tracer>> tracer = NewOtlpTracer(
      {.endpoint = kDownCollector}, {.sample_ratio = sample_ratio, .service_name = "bench"});
  return tracer.ok() ? *std::move(tracer) : nullptr;
}

void RunSpans(benchmark::State& state, double sample_ratio) {
  std::unique_ptr<Tracer> tracer = MakeTracer(sample_ratio);
  if (tracer == nullptr) {
    state.SkipWithError("NewOtlpTracer failed");
    return;
  }
  SpanContext parent = *ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  parent.flags = sample_ratio > 0 ? kSampledFlag : 0;
  int64_t i = 0;
  for (auto _ : state) {
    std::shared_ptr<Span> span =
        tracer->StartSpan("fanout.users.v1.Users/GetUser", SpanKind::kClient, &parent);
    span->SetAttribute(attr::kRpcSystem, "grpc");
    span->SetAttribute(attr::kRpcService, "fanout.users.v1.Users");
    span->SetAttribute(attr::kRpcMethod, "GetUser");
    span->SetAttribute(attr::kRpcGrpcStatusCode, ++i & 7);
    span->End();
  }
  Tracer::Stats stats = tracer->stats();
  state.counters["dropped"] = static_cast<double>(stats.dropped);
  state.SetItemsProcessed(state.iterations());
}

void BM_SpanSampled(benchmark::State& state) { RunSpans(state, 1.0); }
void BM_SpanUnsampled(benchmark::State& state) { RunSpans(state, 0.0); }

// The same from both cores at once: the queue's lock is the shared part.
void BM_SpanSampledThreads(benchmark::State& state) {
  static std::unique_ptr<Tracer> tracer;
  if (state.thread_index() == 0) tracer = MakeTracer(1.0);
  // Google Benchmark starts every thread's timing loop together, after setup.
  SpanContext parent = *ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  for (auto _ : state) {
    std::shared_ptr<Span> span =
        tracer->StartSpan("fanout.users.v1.Users/GetUser", SpanKind::kClient, &parent);
    span->SetAttribute(attr::kRpcSystem, "grpc");
    span->SetAttribute(attr::kRpcService, "fanout.users.v1.Users");
    span->SetAttribute(attr::kRpcMethod, "GetUser");
    span->SetAttribute(attr::kRpcGrpcStatusCode, 0);
    span->End();
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) tracer.reset();
}

BENCHMARK(BM_SpanSampled);
BENCHMARK(BM_SpanUnsampled);
BENCHMARK(BM_SpanSampledThreads)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace fanout::trace

BENCHMARK_MAIN();
