// service_load: closed-loop load on each backend service of a fanoutd node,
// reporting QPS and p50/p99 latency at a few concurrency levels.
//
//   build/bench/service_load                  # in-process node on 127.0.0.1:0, 2 s per level
//   build/bench/service_load --seconds=5 --concurrency=1,16,64
//   build/bench/service_load --help
//   build/bench/service_load --postgres_dsn="host=127.0.0.1 port=5433 dbname=bench"   # PostgreSQL store
//   build/bench/service_load --postgres_dsn=... --replicas=1,2   # and users+orders on 2 nodes
//
// The node is the real one (fanoutd's Node: every role, SQLite in a temp
// directory, all calls over gRPC on loopback). The driver is a separate
// one-loop LoopGroup keeping N calls in flight per method. With
// --replicas, more nodes (users and orders only) share the PostgreSQL
// database, and each users/orders level runs once per replica count in
// turn, call i going to replica i % count: the counts interleaved in one
// run, so the machine's load is the same for each.
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
ABSL_FLAG(fanout::IntList, replicas, (fanout::IntList{{1}}),
          "Users and orders nodes sharing --postgres_dsn's database, comma-separated counts, each "
          "run in turn at every level (more than 1 needs --postgres_dsn).");
ABSL_FLAG(fanout::IntList, concurrency, (fanout::IntList{{1, 16, 64}}),
          "Calls kept in flight, one run per level, comma-separated; each at least 1.");

namespace fanout {
namespace {

// Call number `i`, with users and orders spread over `replicas` nodes.
using Call = std::function<Task<absl::Status>(int64_t i, int replicas)>;

struct Result {
  double qps;
  absl::Duration p50, p99;
  int64_t errors;
};

// `concurrency` workers call `call` back to back until `until`.
Task<Result> Drive(const Call& call, int replicas, int concurrency, absl::Duration length) {
  std::vector<absl::Duration> latencies;
  int64_t errors = 0, next = 0;
  absl::Time start = absl::Now(), until = start + length;
  auto worker = [&]() -> Task<absl::Status> {
    while (absl::Now() < until) {
      absl::Time t0 = absl::Now();
      absl::Status s = co_await call(next++, replicas);
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
  const std::string dsn = absl::GetFlag(FLAGS_postgres_dsn);
  const std::vector<int> replica_counts =
      GetValidFlag(
          FLAGS_replicas,
          [&](const IntList& l) {
            return std::all_of(l.values.begin(), l.values.end(),
                               [&](int n) { return n >= 1 && n <= 8 && (n == 1 || !dsn.empty()); });
          },
          "counts from 1 to 8, more than 1 only with --postgres_dsn")
          .values;
  SetLogLevel(LogLevel::kWarning);
  auto dir = std::filesystem::temp_directory_path() / absl::StrCat("fanout-load-", ::getpid());
  // Node 0 runs every role; the others users and orders on the same database.
  std::vector<std::unique_ptr<fanoutd::Node>> nodes;
  const int most_replicas = *std::max_element(replica_counts.begin(), replica_counts.end());
  for (int n = 0; n < most_replicas; ++n) {
    fanoutd::NodeConfig config = fanoutd::DefaultNodeConfig();
    config.set_grpc_address("127.0.0.1:0");
    config.set_data_dir((dir / absl::StrCat(n)).string());
    if (!dsn.empty()) {
      config.mutable_store()->mutable_postgres()->set_dsn(dsn);
      config.mutable_store()->mutable_postgres()->set_pool_size(absl::GetFlag(FLAGS_postgres_pool));
    }
    if (n == 0) {
      config.mutable_roles()->set_lab(true);  // lab.Echo: the runtime's floor
    } else {
      *config.mutable_roles() = {};
      config.mutable_roles()->set_users(true);
      config.mutable_roles()->set_orders(true);
    }
    auto& node = nodes.emplace_back(std::make_unique<fanoutd::Node>(config));
    if (absl::Status s = node->Start(); !s.ok()) {
      std::fprintf(stderr, "node %d: %s\n", n, s.ToString().c_str());
      return 1;
    }
  }
  std::vector<std::unique_ptr<users::v1::Users::Stub>> users_at;
  std::vector<std::unique_ptr<orders::v1::Orders::Stub>> orders_at;
  for (const auto& node : nodes) {
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", node->grpc_port()),
                                       grpc::InsecureChannelCredentials());
    users_at.push_back(users::v1::Users::NewStub(channel));
    orders_at.push_back(orders::v1::Orders::NewStub(channel));
  }
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", nodes[0]->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  users::v1::Users::Stub* users = users_at[0].get();
  orders::v1::Orders::Stub* orders = orders_at[0].get();
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
          (co_await CallUnary(users, &users::v1::Users::Stub::PrepareAsyncCreateUser, u)).status());
      for (int k = 0; k < 3; ++k) {
        orders::v1::CreateOrderRequest o;
        o.set_user_id(i);
        o.set_item(absl::StrCat("item-", i * 7 + k));
        o.set_quantity(1);
        FANOUT_CO_RETURN_IF_ERROR(
            (co_await CallUnary(orders, &orders::v1::Orders::Stub::PrepareAsyncCreateOrder, o))
                .status());
      }
    }
    co_return absl::OkStatus();
  };
  if (absl::Status s = BlockOn(loops.At(0), seed()); !s.ok()) {
    std::fprintf(stderr, "seed: %s\n", s.ToString().c_str());
    return 1;
  }

  // Replicated: users and orders methods run once per replica count.
  struct Method {
    std::string name;
    bool replicated;
    Call call;
  };
  std::vector<Method> methods = {
      {"lab.Echo", false,
       [&](int64_t, int) -> Task<absl::Status> {
         lab::v1::EchoRequest r;
         r.set_message("hi");
         co_return (co_await CallUnary(lab.get(), &lab::v1::Lab::Stub::PrepareAsyncEcho, r))
             .status();
       }},
      {"users.GetUser", true,
       [&](int64_t i, int replicas) -> Task<absl::Status> {
         users::v1::GetUserRequest r;
         r.set_id(i % 100 + 1);
         co_return (co_await CallUnary(users_at[i % replicas].get(),
                                       &users::v1::Users::Stub::PrepareAsyncGetUser, r))
             .status();
       }},
      {"users.CreateUser", true,
       [&](int64_t i, int replicas) -> Task<absl::Status> {
         users::v1::CreateUserRequest r;
         r.set_name("load");
         r.set_email(absl::StrCat("load-", ::getpid(), "-", i, "-", absl::ToUnixNanos(absl::Now()),
                                  "@example.com"));
         co_return (co_await CallUnary(users_at[i % replicas].get(),
                                       &users::v1::Users::Stub::PrepareAsyncCreateUser, r))
             .status();
       }},
      {"orders.CreateOrder", true,
       [&](int64_t i, int replicas) -> Task<absl::Status> {
         orders::v1::CreateOrderRequest r;
         r.set_user_id(i % 100 + 1);
         r.set_item("item-1");
         r.set_quantity(1);
         co_return (co_await CallUnary(orders_at[i % replicas].get(),
                                       &orders::v1::Orders::Stub::PrepareAsyncCreateOrder, r))
             .status();
       }},
      {"orders.ListOrders", true,
       [&](int64_t i, int replicas) -> Task<absl::Status> {
         orders::v1::ListOrdersRequest r;
         r.set_user_id(i % 100 + 1);
         co_return (co_await CallUnary(orders_at[i % replicas].get(),
                                       &orders::v1::Orders::Stub::PrepareAsyncListOrders, r))
             .status();
       }},
      {"recommendations.Recommend", false,
       [&](int64_t i, int) -> Task<absl::Status> {
         recommendations::v1::RecommendRequest r;
         r.set_user_id(i % 100 + 1);
         co_return (
             co_await CallUnary(
                 recs.get(), &recommendations::v1::Recommendations::Stub::PrepareAsyncRecommend, r))
             .status();
       }},
  };
  std::printf("%-28s %6s %8s %10s %10s %10s %7s\n", "method", "conc", "replicas", "QPS", "p50",
              "p99", "errors");
  for (const Method& method : methods) {
    for (int level : levels) {
      for (int replicas : method.replicated ? replica_counts : std::vector<int>{1}) {
        Result r =
            BlockOn(loops.At(0), Drive(method.call, replicas, level, absl::Seconds(seconds)));
        std::printf("%-28s %6d %8d %10.0f %8.2fms %8.2fms %7lld\n", method.name.c_str(), level,
                    replicas, r.qps, absl::ToDoubleMilliseconds(r.p50),
                    absl::ToDoubleMilliseconds(r.p99), static_cast<long long>(r.errors));
        std::fflush(stdout);
      }
    }
  }
  loops.Stop(absl::Now() + absl::Seconds(2));
  for (auto& node : nodes) node->Drain();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace fanout

int main(int argc, char** argv) { return fanout::Main(argc, argv); }
