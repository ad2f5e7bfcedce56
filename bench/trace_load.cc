// trace_load: what tracing costs. The dashboard (one gateway request, four
// backend calls, five services' spans) driven through a whole fanoutd node
// in this process, with tracing off and with every request sampled and
// exported over OTLP to a collector on 127.0.0.1, in alternating rounds.
//
//   build/bench/trace_load                       # 3 rounds of each, 3 s, 16 callers
//   build/bench/trace_load --seconds=5 --rounds=5 --callers=32
//   build/bench/trace_load --echo                # one trivial call: the worst case
//   build/bench/trace_load --help
//
// The collector (a real gRPC TraceService that counts and discards) shares
// the machine's cores with the node, as a Jaeger agent on the same host
// would. Callers are plain synchronous gRPC clients on threads of their own,
// so only the node's spans are recorded.
#include <grpcpp/create_channel.h>
#include <grpcpp/server_builder.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "fanout/gateway/v1/gateway.grpc.pb.h"
#include "fanout/lab/v1/lab.grpc.pb.h"
#include "fanout/users/v1/users.grpc.pb.h"
#include "node/base/log.h"
#include "node/program/program.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "services/fanoutd/node.h"

ABSL_FLAG(double, seconds, 3, "How long each round drives the node, in seconds; more than 0.");
ABSL_FLAG(int, rounds, 3, "Rounds of each kind (tracing off, every request traced); at least 1.");
ABSL_FLAG(int, callers, 16, "Synchronous gRPC callers, each on a thread of its own; at least 1.");
ABSL_FLAG(bool, echo, false,
          "Call the lab's Echo (one server span, tracing's worst case against the work) "
          "instead of the dashboard (one gateway request, four backend calls).");

namespace fanout {
namespace {

namespace otlp = opentelemetry::proto::collector::trace::v1;

// Counts the spans it is sent; keeps nothing.
class CountingCollector final : public otlp::TraceService::Service {
 public:
  CountingCollector() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~CountingCollector() override { server_->Shutdown(); }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  int64_t spans() const { return spans_.load(); }

  grpc::Status Export(grpc::ServerContext*, const otlp::ExportTraceServiceRequest* request,
                      otlp::ExportTraceServiceResponse*) override {
    int64_t n = 0;
    for (const auto& r : request->resource_spans())
      for (const auto& s : r.scope_spans()) n += s.spans_size();
    spans_ += n;
    return grpc::Status::OK;
  }

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::atomic<int64_t> spans_{0};
};

struct Round {
  double qps;
  double p50_ms, p99_ms;
  int64_t errors;
};

// One call of the workload: the dashboard (gateway + 4 backend calls), or
// the lab's Echo (one server span: tracing's worst case relative to work).
bool CallOnce(bool echo, gateway::v1::Gateway::Stub& gateway, lab::v1::Lab::Stub& lab) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  if (echo) {
    lab::v1::EchoRequest request;
    request.set_message("hi");
    lab::v1::EchoResponse reply;
    return lab.Echo(&context, request, &reply).ok();
  }
  gateway::v1::DashboardRequest request;
  request.set_id(1);
  gateway::v1::Dashboard reply;
  return gateway.GetDashboard(&context, request, &reply).ok() && reply.completed();
}

Round Drive(int port, bool echo, int callers, absl::Duration length) {
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  auto stub = gateway::v1::Gateway::NewStub(channel);
  auto lab = lab::v1::Lab::NewStub(channel);
  std::vector<std::vector<double>> latencies(callers);
  std::atomic<int64_t> errors{0};
  absl::Time start = absl::Now(), until = start + length;
  std::vector<std::thread> threads;
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      while (absl::Now() < until) {
        absl::Time t0 = absl::Now();
        bool ok = CallOnce(echo, *stub, *lab);
        latencies[c].push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
        if (!ok) ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto at = [&](double q) { return all[static_cast<size_t>(q * (all.size() - 1))]; };
  return {all.size() / absl::ToDoubleSeconds(absl::Now() - start), at(0.5), at(0.99),
          errors.load()};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

constexpr char kUsage[] =
    "trace_load: what tracing costs. A whole fanoutd node in this process is driven "
    "through its gateway in alternating rounds, with tracing off and with every request "
    "sampled and exported over OTLP to a collector on 127.0.0.1; the median req/s of "
    "each kind gives the cost.\n"
    "  trace_load --seconds=5 --rounds=5 --callers=32\n"
    "  trace_load --echo";

int Main(int argc, char** argv) {
  ParseFlags(argc, argv, {.usage = kUsage});
  const double seconds = GetValidFlag(
      FLAGS_seconds, [](double s) { return s > 0; }, "> 0");
  const int rounds = GetValidFlag(
      FLAGS_rounds, [](int n) { return n >= 1; }, ">= 1");
  const int callers = GetValidFlag(
      FLAGS_callers, [](int n) { return n >= 1; }, ">= 1");
  const bool echo = absl::GetFlag(FLAGS_echo);
  SetLogLevel(LogLevel::kWarning);
  CountingCollector collector;
  std::filesystem::path data =
      std::filesystem::temp_directory_path() / absl::StrCat("fanout-trace-load-", ::getpid());
  std::vector<double> qps[2];
  std::printf("%s over gRPC, %d callers, %.1f s per round\n", echo ? "Lab/Echo" : "dashboard",
              callers, seconds);
  for (int round = 0; round < 2 * rounds; ++round) {
    bool traced = round % 2 == 1;
    config::v1::NodeConfig config = fanoutd::DefaultNodeConfig();
    config.set_grpc_address("127.0.0.1:0");
    config.set_data_dir(data.string());
    config.mutable_gateway()->set_rest_address("");
    config.mutable_roles()->set_lab(echo);  // --echo calls the lab
    if (traced) config.mutable_tracing()->set_otlp_endpoint(collector.address());
    fanoutd::Node node(config);
    if (absl::Status s = node.Start(); !s.ok()) {
      std::fprintf(stderr, "trace_load: %s\n", s.ToString().c_str());
      return 1;
    }
    if (round == 0) {  // The user the dashboard shows.
      auto users = users::v1::Users::NewStub(grpc::CreateChannel(
          absl::StrCat("127.0.0.1:", node.grpc_port()), grpc::InsecureChannelCredentials()));
      grpc::ClientContext context;
      users::v1::CreateUserRequest create;
      create.set_name("Ada");
      create.set_email("ada@example.com");
      users::v1::User user;
      if (grpc::Status s = users->CreateUser(&context, create, &user); !s.ok()) {
        std::fprintf(stderr, "trace_load: CreateUser: %s\n", s.error_message().c_str());
        return 1;
      }
    }
    int64_t spans_before = collector.spans();
    Round r = Drive(node.grpc_port(), echo, callers, absl::Seconds(seconds));
    node.Drain();  // Exports what is queued.
    qps[traced].push_back(r.qps);
    std::printf("  %-18s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %lld  spans %lld\n",
                traced ? "tracing 100%" : "tracing off", r.qps, r.p50_ms, r.p99_ms,
                static_cast<long long>(r.errors),
                static_cast<long long>(collector.spans() - spans_before));
  }
  std::filesystem::remove_all(data);
  double off = Median(qps[0]), on = Median(qps[1]);
  std::printf(
      "median: off %.0f req/s, 100%% sampled %.0f req/s: tracing costs %.1f%% "
      "of throughput\n",
      off, on, 100.0 * (off - on) / off);
  return 0;
}

}  // namespace
}  // namespace fanout

int main(int argc, char** argv) { return fanout::Main(argc, argv); }
