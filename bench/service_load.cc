// service_load: closed-loop load on each backend service of a fanoutd node,
// reporting QPS and p50/p99 latency at a few concurrency levels.
//
//   build/bench/service_load                  # in-process node on 127.0.0.1:0, 2 s per level
//   build/bench/service_load --seconds=5 --concurrency=1,16,64
//   build/bench/service_load --help
//   build/bench/service_load --postgres_dsn="host=127.0.0.1 port=5433 dbname=bench"   # PostgreSQL store
//
// The node is the real one (fanoutd's Node: every role, SQLite in a temp
// directory, all calls over gRPC on loopback). The driver is a separate
// one-loop LoopGroup keeping N calls in flight per method.
#include <grpcpp/create_channel.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "node/async/gather.h"
#include "node/async/spawn.h"
#include "node/base/status_macros.h"
#include "node/program/program.h"
#include "node/rpc/client.h"
#include "services/fanoutd/node.h"

ABSL_FLAG(double, seconds, 2, "How long each method runs at each level, in seconds; more than 0.");
ABSL_FLAG(std::string, postgres_dsn, "",
          "Users and orders on this PostgreSQL database (store.postgres) instead of SQLite; "
          "its tables are created if missing and keep what earlier runs wrote.");
ABSL_FLAG(int, postgres_pool, 8, "store.postgres.pool_size with --postgres_dsn.");
ABSL_FLAG(fanout::IntList, concurrency, (fanout::IntList{{1, 16, 64}}),
          "Calls kept in flight, one run per level, comma-separated; each at least 1.");

namespace fanout {
namespace {

using Call = std::function<Task<absl::Status>(int64_t i)>;

struct Result {
  double qps;
  absl::Duration p50, p99;
  int64_t errors;
};

// `concurrency` workers call `call` back to back until `until`.
Task<Result> Drive(const Call& call, int concurrency, absl::Duration length) {
  std::vector<absl::Duration> latencies;
  int64_t errors = 0, next = 0;
  absl::Time start = absl::Now(), until = start + length;
  auto worker = [&]() -> Task<absl::Status> {
    while (absl::Now() < until) {
      absl::Time t0 = absl::Now();
      absl::Status s = co_await call(next++);
      latencies.push_back(absl::Now() - t0);
      if (!s.ok() && ++errors == 1)
        std::fprintf(stderr, "  first error: %s\n", s.ToString().c_str());
    }
    co_return absl::OkStatus();
  };
  std::vector<Task<absl::Status>> workers;
  for (int i = 0; i < concurrency; ++i) workers.push_back(worker());
  (void)co_await Gather(std::move(workers));
  double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::sort(latencies.begin(), latencies.end());
  auto at = [&](double q) { return latencies[static_cast<size_t>(q * (latencies.size() - 1))]; };
  co_return Result{latencies.size() / seconds, at(0.50), at(0.99), errors};
}

constexpr char kUsage[] =
    "service_load: closed-loop load on each backend method of a real fanoutd node in this "
    "process (every role, SQLite in a temporary directory, gRPC on loopback), reporting "
    "QPS and p50/p99 latency at each level of concurrency.\n"
    "  service_load --seconds=5 --concurrency=1,16,64";

int Main(int argc, char** argv) {
  ParseFlags(argc, argv, {.usage = kUsage});
  const double seconds = GetValidFlag(
      FLAGS_seconds, [](double s) { return s > 0; }, "> 0");
  const std::vector<int> levels =
      GetValidFlag(
          FLAGS_concurrency,
          [](const IntList& l) {
            return std::all_of(l.values.begin(), l.values.end(), [](int n) { return n >= 1; });
          },
          "levels of at least 1")
          .values;
  SetLogLevel(LogLevel::kWarning);
  auto dir = std::filesystem::temp_directory_path() / absl::StrCat("fanout-load-", ::getpid());
  fanoutd::NodeConfig config = fanoutd::DefaultNodeConfig();
  config.set_grpc_address("127.0.0.1:0");
  config.set_data_dir(dir.string());
  if (const std::string dsn = absl::GetFlag(FLAGS_postgres_dsn); !dsn.empty()) {
    config.mutable_store()->mutable_postgres()->set_dsn(dsn);
    config.mutable_store()->mutable_postgres()->set_pool_size(absl::GetFlag(FLAGS_postgres_pool));
  }
  config.mutable_roles()->set_lab(true);  // lab.Echo: the runtime's floor
  fanoutd::Node node(config);
  if (absl::Status s = node.Start(); !s.ok()) {
    std::fprintf(stderr, "node: %s\n", s.ToString().c_str());
    return 1;
  }
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", node.grpc_port()),
                                     grpc::InsecureChannelCredentials());
  auto users = users::v1::Users::NewStub(channel);
  auto orders = orders::v1::Orders::NewStub(channel);
  auto recs = recommendations::v1::Recommendations::NewStub(channel);
  auto lab = lab::v1::Lab::NewStub(channel);
  LoopGroup loops({.num_loops = 1});

  // Seed: 100 users, each with a few orders.
  auto seed = [&]() -> Task<absl::Status> {
    for (int i = 1; i <= 100; ++i) {
      users::v1::CreateUserRequest u;
      u.set_name(absl::StrCat("user", i));
      u.set_email(absl::StrCat("user", i, "@example.com"));
      FANOUT_CO_RETURN_IF_ERROR(
          (co_await CallUnary(users.get(), &users::v1::Users::Stub::PrepareAsyncCreateUser, u))
              .status());
      for (int k = 0; k < 3; ++k) {
        orders::v1::CreateOrderRequest o;
        o.set_user_id(i);
        o.set_item(absl::StrCat("item-", i * 7 + k));
        o.set_quantity(1);
        FANOUT_CO_RETURN_IF_ERROR(
            (co_await CallUnary(orders.get(), &orders::v1::Orders::Stub::PrepareAsyncCreateOrder,
                                o))
                .status());
      }
    }
    co_return absl::OkStatus();
  };
  if (absl::Status s = BlockOn(loops.At(0), seed()); !s.ok()) {
    std::fprintf(stderr, "seed: %s\n", s.ToString().c_str());
    return 1;
  }

  std::vector<std::pair<std::string, Call>> methods = {
      {"lab.Echo",
       [&](int64_t) -> Task<absl::Status> {
         lab::v1::EchoRequest r;
         r.set_message("hi");
         co_return (co_await CallUnary(lab.get(), &lab::v1::Lab::Stub::PrepareAsyncEcho, r))
             .status();
       }},
      {"users.GetUser",
       [&](int64_t i) -> Task<absl::Status> {
         users::v1::GetUserRequest r;
         r.set_id(i % 100 + 1);
         co_return (
             co_await CallUnary(users.get(), &users::v1::Users::Stub::PrepareAsyncGetUser, r))
             .status();
       }},
      {"users.CreateUser",
       [&](int64_t i) -> Task<absl::Status> {
         users::v1::CreateUserRequest r;
         r.set_name("load");
         r.set_email(absl::StrCat("load-", ::getpid(), "-", i, "-", absl::ToUnixNanos(absl::Now()),
                                  "@example.com"));
         co_return (
             co_await CallUnary(users.get(), &users::v1::Users::Stub::PrepareAsyncCreateUser, r))
             .status();
       }},
      {"orders.CreateOrder",
       [&](int64_t i) -> Task<absl::Status> {
         orders::v1::CreateOrderRequest r;
         r.set_user_id(i % 100 + 1);
         r.set_item("item-1");
         r.set_quantity(1);
         co_return (co_await CallUnary(orders.get(),
                                       &orders::v1::Orders::Stub::PrepareAsyncCreateOrder, r))
             .status();
       }},
      {"orders.ListOrders",
       [&](int64_t i) -> Task<absl::Status> {
         orders::v1::ListOrdersRequest r;
         r.set_user_id(i % 100 + 1);
         co_return (
             co_await CallUnary(orders.get(), &orders::v1::Orders::Stub::PrepareAsyncListOrders, r))
             .status();
       }},
      {"recommendations.Recommend",
       [&](int64_t i) -> Task<absl::Status> {
         recommendations::v1::RecommendRequest r;
         r.set_user_id(i % 100 + 1);
         co_return (
             co_await CallUnary(
                 recs.get(), &recommendations::v1::Recommendations::Stub::PrepareAsyncRecommend, r))
             .status();
       }},
  };
  std::printf("%-28s %6s %10s %10s %10s %7s\n", "method", "conc", "QPS", "p50", "p99", "errors");
  for (const auto& [name, call] : methods) {
    for (int level : levels) {
      Result r = BlockOn(loops.At(0), Drive(call, level, absl::Seconds(seconds)));
      std::printf("%-28s %6d %10.0f %8.2fms %8.2fms %7lld\n", name.c_str(), level, r.qps,
                  absl::ToDoubleMilliseconds(r.p50), absl::ToDoubleMilliseconds(r.p99),
                  static_cast<long long>(r.errors));
      std::fflush(stdout);
    }
  }
  loops.Stop(absl::Now() + absl::Seconds(2));
  node.Drain();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace fanout

int main(int argc, char** argv) { return fanout::Main(argc, argv); }
