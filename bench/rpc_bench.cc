// rpc_bench: unary gRPC through the node runtime next to a raw
// completion-queue baseline, fan-out latency, and what 10,000 calls in
// flight cost one node. How to run and the latest numbers: bench/README.md.
//
//   rpc_bench --benchmark_filter='UnaryQps<' --benchmark_repetitions=3
//   rpc_bench --benchmark_filter=BM_FanOut       # one family
//   rpc_bench --help                             # the usage; Google Benchmark's --benchmark_* flags pass through
//
// BM_UnaryQps<Server, Client> runs Lab.Echo (delay 0, the same 64-byte
// message) over one channel on 127.0.0.1 with kConcurrency calls in flight:
// one server thread and one client thread, raw (bench/raw_echo.h) or fanout
// (Server + LabService, CallUnary from tasks on a one-loop LoopGroup). All
// four pairings run, so the runtime's cost splits into its server side and
// its client side. The CPU column is the whole process's CPU time. The
// summary printed at the end gives each pairing's median QPS and CPU time
// per call, and both divided by raw/raw's.
//
// Every server listens on 127.0.0.1:0; every call carries a deadline, so a
// broken run ends on its own.
#include <benchmark/benchmark.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "bench/raw_echo.h"
#include "fanout/lab/v1/lab.grpc.pb.h"
#include "node/async/gather.h"
#include "node/base/status_macros.h"
#include "node/program/program.h"
#include "node/rpc/client.h"
#include "node/rpc/server.h"
#include "services/lab/lab_service.h"

namespace fanout::bench {
namespace {

using lab::v1::EchoRequest;
using lab::v1::EchoResponse;
using lab::v1::Lab;

constexpr int kConcurrency = 64;
constexpr int64_t kCallsPerIteration = 1000;
constexpr absl::Duration kCallDeadline = absl::Seconds(10);
constexpr char kRawPair[] = "BM_UnaryQps<RawEchoServer, RawEchoClient>";

EchoRequest MakeRequest(int64_t delay_ms = 0) {
  EchoRequest request;
  request.set_message(std::string(64, 'm'));  // The same 64 bytes everywhere.
  request.set_delay_ms(delay_ms);
  return request;
}

std::shared_ptr<grpc::Channel> Connect(int port) {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
}

Task<absl::StatusOr<EchoResponse>> Echo(Lab::Stub* stub, const EchoRequest& request,
                                        absl::Duration deadline = kCallDeadline) {
  co_return co_await CallUnary(stub, &Lab::Stub::PrepareAsyncEcho, request,
                               CallOptions{.deadline = absl::Now() + deadline});
}

// --- The runtime's side, shaped like raw_echo.h ---------------------------

// A node serving LabService on 127.0.0.1:0. Start and destroy it from a
// thread that is not one of its loops.
class FanoutEchoServer {
 public:
  explicit FanoutEchoServer(int num_loops = 1)
      : server_({.listen_addresses = {"127.0.0.1:0"}, .num_loops = num_loops}),
        lab_({.name = "lab"}) {}
  ~FanoutEchoServer() { server_.Shutdown(absl::Seconds(1)); }

  absl::Status Start() {
    lab_.Register(server_);
    FANOUT_RETURN_IF_ERROR(server_.Start());
    lab_.Serve(server_);
    return absl::OkStatus();
  }
  int port() const { return server_.port(); }
  Server& server() { return server_; }
  const lab::LabService& lab() const { return lab_; }

 private:
  Server server_;
  lab::LabService lab_;
};

// Keeps `concurrency` calls in flight from tasks on its own loop: that many
// workers, each making calls one after another until the batch is done.
// Run() from one non-loop thread at a time.
class FanoutEchoClient {
 public:
  FanoutEchoClient(const std::shared_ptr<grpc::Channel>& channel, EchoRequest request,
                   int concurrency)
      : loops_({.num_loops = 1}),
        stub_(Lab::NewStub(channel)),
        request_(std::move(request)),
        concurrency_(concurrency) {}
  ~FanoutEchoClient() { loops_.Stop(absl::Now() + absl::Seconds(5)); }

  absl::Status Run(int64_t calls) { return BlockOn(loop(), RunCalls(calls)); }
  EventLoop& loop() { return loops_.At(0); }
  Lab::Stub* stub() { return stub_.get(); }

 private:
  Task<absl::Status> RunCalls(int64_t calls) {
    int64_t remaining = calls;  // Shared by the workers: one loop, no lock.
    std::vector<Task<absl::Status>> workers;
    for (int i = 0; i < concurrency_; ++i) workers.push_back(Worker(&remaining));
    co_return co_await Gather(std::move(workers));
  }
  Task<absl::Status> Worker(int64_t* remaining) {
    while (*remaining > 0) {
      --*remaining;
      absl::StatusOr<EchoResponse> reply =
          co_await CallUnary(stub_.get(), &Lab::Stub::PrepareAsyncEcho, request_,
                             CallOptions{.deadline = absl::Now() + kCallDeadline});
      if (!reply.ok()) co_return reply.status();
    }
    co_return absl::OkStatus();
  }

  LoopGroup loops_;
  std::unique_ptr<Lab::Stub> stub_;
  const EchoRequest request_;
  const int concurrency_;
};

// Ends the timing loop with an error (SkipWithError must precede `break`).
void Fail(benchmark::State& state, const absl::Status& status) {
  state.SkipWithError(status.ToString().c_str());
}

// --- Unary QPS: runtime vs raw -------------------------------------------

// A server and a client calling it over one channel, connected and warmed up
// by Start().
template <typename EchoServer, typename EchoClient>
class EchoPair {
 public:
  absl::Status Start() {
    FANOUT_RETURN_IF_ERROR(server_.Start());
    client_.emplace(Connect(server_.port()), MakeRequest(), kConcurrency);
    return client_->Run(10 * kConcurrency);
  }
  absl::Status Run(int64_t calls) { return client_->Run(calls); }

 private:
  EchoServer server_;
  std::optional<EchoClient> client_;  // Destroyed before the server.
};

template <typename EchoServer, typename EchoClient>
void BM_UnaryQps(benchmark::State& state) {
  EchoPair<EchoServer, EchoClient> pair;
  if (absl::Status started = pair.Start(); !started.ok()) return Fail(state, started);
  for (auto _ : state) {
    if (absl::Status status = pair.Run(kCallsPerIteration); !status.ok()) {
      Fail(state, status);
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kCallsPerIteration);
  state.counters["in_flight"] = kConcurrency;
}
BENCHMARK_TEMPLATE(BM_UnaryQps, RawEchoServer, RawEchoClient)
    ->UseRealTime()
    ->MeasureProcessCPUTime();
BENCHMARK_TEMPLATE(BM_UnaryQps, FanoutEchoServer, FanoutEchoClient)
    ->UseRealTime()
    ->MeasureProcessCPUTime();
BENCHMARK_TEMPLATE(BM_UnaryQps, FanoutEchoServer, RawEchoClient)
    ->UseRealTime()
    ->MeasureProcessCPUTime();
BENCHMARK_TEMPLATE(BM_UnaryQps, RawEchoServer, FanoutEchoClient)
    ->UseRealTime()
    ->MeasureProcessCPUTime();

// --- Fan-out latency ------------------------------------------------------

// One iteration: a Gather of state.range(0) Echo calls, as a handler fanning
// out to backends does. The request outlives the Gather: CallUnary keeps a
// reference to it.
Task<void> FanOutLoop(benchmark::State& state, Lab::Stub* stub, const EchoRequest& request) {
  const int64_t fan_out = state.range(0);
  for (auto _ : state) {
    std::vector<Task<absl::StatusOr<EchoResponse>>> calls;
    calls.reserve(fan_out);
    for (int64_t i = 0; i < fan_out; ++i) calls.push_back(Echo(stub, request));
    absl::StatusOr<std::vector<EchoResponse>> replies = co_await Gather(std::move(calls));
    if (!replies.ok()) {
      Fail(state, replies.status());
      break;
    }
  }
}

void BM_FanOutLatency(benchmark::State& state) {
  FanoutEchoServer backend;
  if (absl::Status started = backend.Start(); !started.ok()) return Fail(state, started);
  const EchoRequest request = MakeRequest();
  FanoutEchoClient node(Connect(backend.port()), request, kConcurrency);
  if (absl::Status warm = node.Run(10 * kConcurrency); !warm.ok()) return Fail(state, warm);
  BlockOn(node.loop(), FanOutLoop(state, node.stub(), request));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_FanOutLatency)
    ->ArgName("calls")
    ->Arg(1)
    ->Arg(4)
    ->Arg(16)
    ->Arg(64)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMicrosecond);

// --- 10,000 calls in flight -------------------------------------------------

struct ProcessSample {
  int64_t threads = 0;     // Entries in /proc/self/task.
  int64_t rss_bytes = 0;   // VmRSS of /proc/self/status.
  int64_t heap_bytes = 0;  // malloc'd and not freed (glibc mallinfo2).
};

ProcessSample SampleProcess() {
  ProcessSample sample;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    (void)entry;
    ++sample.threads;
  }
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) sample.rss_bytes = std::stoll(line.substr(6)) * 1024;
  }
  struct mallinfo2 heap = mallinfo2();
  sample.heap_bytes = static_cast<int64_t>(heap.uordblks + heap.hblkhd);
  return sample;
}

// The calls of one in-flight run, and how they ended. Lives on the
// benchmark's stack until `done`.
struct InFlightRun {
  Lab::Stub* stub = nullptr;
  EchoRequest request;
  int calls = 0;
  std::atomic<int64_t> finished{0};
  absl::Status result;
  absl::Notification done;
};

Task<absl::Status> CountedEcho(InFlightRun* run) {
  absl::StatusOr<EchoResponse> reply = co_await Echo(run->stub, run->request, absl::Seconds(30));
  run->finished.fetch_add(1, std::memory_order_relaxed);
  co_return reply.status();
}

Task<absl::Status> GatherInFlight(InFlightRun* run) {
  std::vector<Task<absl::Status>> calls;
  calls.reserve(run->calls);
  for (int i = 0; i < run->calls; ++i) calls.push_back(CountedEcho(run));
  run->result = co_await Gather(std::move(calls));
  run->done.Notify();
  co_return absl::OkStatus();  // The run reports its own result.
}

// Polls until the backend has started `target` calls or `timeout` passed.
bool AwaitCallsStarted(const lab::LabService& lab, int64_t target, absl::Duration timeout) {
  absl::Time give_up = absl::Now() + timeout;
  while (lab.calls() < target && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  return lab.calls() >= target;
}

void ReportInFlight(benchmark::State& state, const ProcessSample& before,
                    const ProcessSample& during, int64_t in_flight) {
  state.counters["in_flight"] = static_cast<double>(in_flight);
  state.counters["threads_before"] = static_cast<double>(before.threads);
  state.counters["threads_during"] = static_cast<double>(during.threads);
  state.counters["rss_before_MiB"] = before.rss_bytes / (1024.0 * 1024.0);
  state.counters["rss_during_MiB"] = during.rss_bytes / (1024.0 * 1024.0);
  const double calls = static_cast<double>(std::max<int64_t>(in_flight, 1));
  state.counters["rss_bytes_per_call"] = (during.rss_bytes - before.rss_bytes) / calls;
  state.counters["heap_bytes_per_call"] = (during.heap_bytes - before.heap_bytes) / calls;
}

// One node (default loops) calls its own lab service 10,000 times at once,
// each call held for state.range(0) ms. Sampled once every call has reached
// the backend: the thread count (it must not grow) and the resident memory
// per call in flight, client and server side together.
void BM_InFlightCalls(benchmark::State& state) {
  constexpr int kCalls = 10000;
  FanoutEchoServer node(/*num_loops=*/0);
  if (absl::Status started = node.Start(); !started.ok()) return Fail(state, started);
  auto channel = Connect(node.port());
  auto stub = Lab::NewStub(channel);
  EventLoop& loop = node.server().loops().At(0);
  if (absl::Status warm = BlockOn(loop, Echo(stub.get(), MakeRequest())).status(); !warm.ok()) {
    return Fail(state, warm);
  }
  for (auto _ : state) {
    malloc_trim(0);  // Freed heap from earlier runs must not hide the growth.
    const ProcessSample before = SampleProcess();
    const int64_t started_before = node.lab().calls();
    InFlightRun run{.stub = stub.get(), .request = MakeRequest(state.range(0)), .calls = kCalls};
    absl::Time issue_start = absl::Now();
    Spawn(loop, GatherInFlight(&run), "in-flight calls");
    bool all_started = AwaitCallsStarted(node.lab(), started_before + kCalls, absl::Seconds(20));
    absl::Duration issue_time = absl::Now() - issue_start;
    const ProcessSample during = SampleProcess();
    const int64_t in_flight = node.lab().calls() - started_before - run.finished.load();
    run.done.WaitForNotification();  // Every call has a 30 s deadline.
    if (!all_started || !run.result.ok()) {
      Fail(state, all_started ? run.result : absl::DeadlineExceededError("calls never started"));
      break;
    }
    ReportInFlight(state, before, during, in_flight);
    state.counters["issue_ms"] = absl::ToDoubleMilliseconds(issue_time);
  }
}
BENCHMARK(BM_InFlightCalls)
    ->ArgName("delay_ms")
    ->Arg(3000)
    ->Iterations(1)
    ->Repetitions(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// --- The ratio --------------------------------------------------------------

// The console report, then medians over the repetitions: each BM_UnaryQps
// pairing's QPS and process CPU time per call, and both against raw/raw's.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  using ConsoleReporter::ConsoleReporter;

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
      const std::string& name = run.run_name.function_name;
      auto qps = run.counters.find("items_per_second");
      if (name.rfind("BM_UnaryQps<", 0) != 0 || qps == run.counters.end()) continue;
      pairings_[name].qps.push_back(qps->second.value);
      // Process CPU time per iteration (one batch), in ns, the default unit.
      pairings_[name].cpu_us.push_back(run.GetAdjustedCPUTime() / 1e3 / kCallsPerIteration);
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::ostream& out = GetOutputStream();
    if (!pairings_.empty()) PrintPairings(out);
    out.flush();
  }

 private:
  struct Samples {
    std::vector<double> qps;
    std::vector<double> cpu_us;  // Process CPU time per call.
  };

  static double Median(std::vector<double> values) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    size_t n = values.size();
    return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  }

  void PrintPairings(std::ostream& out) {
    auto raw = pairings_.find(kRawPair);
    out << "\nUnary, " << kConcurrency
        << " in flight, medians:  QPS (vs raw)  CPU us/call (vs raw)\n";
    for (auto& [name, samples] : pairings_) {
      double qps = Median(samples.qps), cpu = Median(samples.cpu_us);
      out << absl::StrFormat("  %-50s %8.0f", name, qps);
      if (raw != pairings_.end()) out << absl::StrFormat(" (%.3f)", qps / Median(raw->second.qps));
      out << absl::StrFormat("  %6.2f", cpu);
      if (raw != pairings_.end())
        out << absl::StrFormat(" (%.3f)", cpu / Median(raw->second.cpu_us));
      out << absl::StrFormat("  [%d runs]\n", samples.qps.size());
    }
  }

  std::map<std::string, Samples> pairings_;
};

constexpr char kUsage[] =
    "rpc_bench: unary gRPC through the node runtime next to a raw completion-queue "
    "baseline (all four server/client pairings, QPS and CPU per call, medians divided by "
    "raw/raw's in a summary), fan-out latency, and what 10,000 calls in flight cost one "
    "node. A Google Benchmark program: its --benchmark_* flags choose and repeat.\n"
    "  rpc_bench --benchmark_filter='UnaryQps<' --benchmark_repetitions=3\n"
    "  rpc_bench --benchmark_filter=InFlight";

constexpr char kBenchmarkFlags[] =
    "Google Benchmark's own flags pass through as they are, among them:\n"
    "  --benchmark_filter=REGEX  --benchmark_list_tests  --benchmark_repetitions=N\n"
    "  --benchmark_min_time=SECONDS  --benchmark_format=console|json|csv\n"
    "  --benchmark_out=FILE  --benchmark_out_format=json|console|csv\n"
    "  --benchmark_report_aggregates_only  --benchmark_counters_tabular\n"
    "An unknown one, or a bad value for one, exits 2.";

// The summary needs the console format; any other format gets the library's
// own reporter.
bool WantsConsoleFormat(const std::vector<char*>& args) {
  for (size_t i = 1; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg.rfind("--benchmark_format=", 0) == 0) return arg == "--benchmark_format=console";
  }
  return true;
}

}  // namespace
}  // namespace fanout::bench

int main(int argc, char** argv) {
  // Only --benchmark_* arguments come back; anything else was ours or an error.
  std::vector<char*> args = fanout::ParseFlags(argc, argv,
                                               {.usage = fanout::bench::kUsage,
                                                .pass_through_prefix = "--benchmark_",
                                                .more_help = fanout::bench::kBenchmarkFlags});
  const bool console = fanout::bench::WantsConsoleFormat(args);
  int benchmark_argc = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&benchmark_argc, args.data());
  if (benchmark::ReportUnrecognizedArguments(benchmark_argc, args.data())) return 2;
  if (console) {
    fanout::bench::RatioReporter reporter(isatty(STDOUT_FILENO)
                                              ? benchmark::ConsoleReporter::OO_Color
                                              : benchmark::ConsoleReporter::OO_None);
    benchmark::RunSpecifiedBenchmarks(&reporter);
  } else {
    benchmark::RunSpecifiedBenchmarks();
  }
  benchmark::Shutdown();
  return 0;
}
