// million_orders: one order for each of N distinct users (a million by
// default) through a real node's orders service, printing the process's RSS
// at the start, its maximum and at the end, beside the live user actors. It
// shows whether memory stays flat as distinct ids pass through: without
// eviction every user would keep an actor for the life of the process.
//
//   build/bench/million_orders                         # 1,000,000 ids, SQLite in /dev/shm
//   build/bench/million_orders --ids=200000 --max-actors=2000000   # no eviction, to compare
//   build/bench/million_orders --help
//
// Honest about the users: the N users exist in the users service's own
// database before the run (seeded in one SQL statement, since creating a
// million over gRPC would measure SQLite's fsyncs, not orders), and orders
// asks the users service (GetUser, over gRPC) for each one, as it must
// for a user it has no actor for. The node is the real one (fanoutd's
// Node: users and orders roles, all calls over gRPC on loopback); the
// driver keeps `--concurrency` CreateOrder calls in flight from one loop.
// The data directory is on tmpfs (/dev/shm) by default: this measures
// memory, not the disk. Not a ctest: it runs for minutes.
#include <grpcpp/create_channel.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "node/async/gather.h"
#include "node/async/spawn.h"
#include "node/base/status_macros.h"
#include "node/program/program.h"
#include "node/rpc/client.h"
#include "services/fanoutd/node.h"
#include "services/store/sqlite.h"
#include "services/users/users_store.h"

ABSL_FLAG(int64_t, ids, 1'000'000, "Distinct users, one order each; at least 1.");
ABSL_FLAG(int, concurrency, 64, "CreateOrder calls kept in flight; at least 1.");
ABSL_FLAG(int, max_actors, 0,
          "orders.max_user_actors for the node. 0: the node's default (10000, so idle "
          "actors are evicted); a number above --ids keeps every actor, to compare.");
ABSL_FLAG(std::string, dir, "/dev/shm",
          "Where the run's SQLite files go (a directory of its own is made and removed); "
          "tmpfs by default, so this measures memory, not the disk.");

namespace fanout {
namespace {

// The command line's values, checked (the flags above).
struct Flags {
  int64_t ids = 0;
  int concurrency = 0;
  int max_actors = 0;  // 0: the node's default.
  std::string dir;
};

// VmRSS of this process, in MiB.
double RssMiB() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (absl::StartsWith(line, "VmRSS:")) {
      int64_t kib = 0;
      (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(6, line.size() - 6 - 3)), &kib);
      return kib / 1024.0;
    }
  }
  return 0;
}

// Users 1..n, in one statement (ids are given in order on a fresh database).
absl::Status SeedUsers(const std::string& path, int64_t n) {
  FANOUT_RETURN_IF_ERROR(users::UsersStore::Open(path).status());
  FANOUT_ASSIGN_OR_RETURN(std::unique_ptr<Sqlite> db, Sqlite::Open(path));
  return db->Exec(absl::StrCat(
      "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ", n,
      ") INSERT INTO users (name, email) SELECT 'user' || n, 'user' || n || '@bench.example' "
      "FROM seq"));
}

struct Progress {
  int64_t done = 0, errors = 0;
  double max_rss = 0;
};

Task<absl::Status> Drive(orders::v1::Orders::Stub* orders, const Flags& flags, Progress* p) {
  std::atomic<int64_t> next{1};
  const int64_t report_every = std::max<int64_t>(flags.ids / 10, 1);
  auto worker = [&]() -> Task<absl::Status> {
    for (int64_t user = next++; user <= flags.ids; user = next++) {
      orders::v1::CreateOrderRequest r;
      r.set_user_id(user);
      r.set_item("item-1");
      r.set_quantity(1);
      absl::StatusOr<orders::v1::Order> order = co_await CallUnary(
          orders, &orders::v1::Orders::Stub::PrepareAsyncCreateOrder, std::move(r));
      if (!order.ok() && ++p->errors == 1) {
        std::fprintf(stderr, "first error (user %lld): %s\n", static_cast<long long>(user),
                     order.status().ToString().c_str());
      }
      if (++p->done % report_every == 0) {
        double rss = RssMiB();
        p->max_rss = std::max(p->max_rss, rss);
        std::printf("%10lld orders  RSS %7.1f MiB  live user actors %zu\n",
                    static_cast<long long>(p->done), rss,
                    internal::ActorMetricsFor("orders/user").live());
        std::fflush(stdout);
      } else if (p->done % 1000 == 0) {
        p->max_rss = std::max(p->max_rss, RssMiB());
      }
    }
    co_return absl::OkStatus();
  };
  std::vector<Task<absl::Status>> workers;
  for (int i = 0; i < flags.concurrency; ++i) workers.push_back(worker());
  co_return co_await Gather(std::move(workers));
}

constexpr char kUsage[] =
    "million_orders: one order for each of N distinct users through a real node's orders "
    "service (users seeded in its users database first), printing the process's RSS at "
    "the start, its maximum and at the end, beside the live user actors: memory stays "
    "flat when idle actors are evicted. Runs for minutes.\n"
    "  million_orders\n"
    "  million_orders --ids=200000 --max-actors=2000000";

int Main(int argc, char** argv) {
  ParseFlags(argc, argv, {.usage = kUsage});
  Flags flags;
  flags.ids = GetValidFlag(
      FLAGS_ids, [](int64_t n) { return n >= 1; }, ">= 1");
  flags.concurrency = GetValidFlag(
      FLAGS_concurrency, [](int n) { return n >= 1; }, ">= 1");
  flags.max_actors = GetValidFlag(
      FLAGS_max_actors, [](int n) { return n >= 0; }, ">= 0");
  flags.dir = GetValidFlag(
      FLAGS_dir, [](const std::string& d) { return !d.empty(); }, "a directory");
  SetLogLevel(LogLevel::kWarning);
  auto dir = std::filesystem::path(flags.dir) / absl::StrCat("fanout-million-", ::getpid());
  std::filesystem::create_directories(dir);
  absl::Time t0 = absl::Now();
  if (absl::Status s = SeedUsers((dir / "users.db").string(), flags.ids); !s.ok()) {
    std::fprintf(stderr, "seeding users: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("seeded %lld users in %.1f s\n", static_cast<long long>(flags.ids),
              absl::ToDoubleSeconds(absl::Now() - t0));

  fanoutd::NodeConfig config = fanoutd::DefaultNodeConfig();
  config.set_grpc_address("127.0.0.1:0");
  config.set_data_dir(dir.string());
  config.clear_roles();
  config.mutable_roles()->set_users(true);
  config.mutable_roles()->set_orders(true);
  if (flags.max_actors > 0) config.mutable_orders()->set_max_user_actors(flags.max_actors);
  int rc = 0;
  {
    fanoutd::Node node(config);
    if (absl::Status s = node.Start(); !s.ok()) {
      std::fprintf(stderr, "node: %s\n", s.ToString().c_str());
      return 1;
    }
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", node.grpc_port()),
                                       grpc::InsecureChannelCredentials());
    auto orders = orders::v1::Orders::NewStub(channel);
    LoopGroup loops({.num_loops = 1});
    Progress progress;
    progress.max_rss = RssMiB();
    std::printf("start: RSS %.1f MiB; %lld orders, %d in flight, max_user_actors %s\n",
                progress.max_rss, static_cast<long long>(flags.ids), flags.concurrency,
                flags.max_actors > 0 ? absl::StrCat(flags.max_actors).c_str() : "default");
    std::fflush(stdout);
    t0 = absl::Now();
    absl::Status driven = BlockOn(loops.At(0), Drive(orders.get(), flags, &progress));
    double seconds = absl::ToDoubleSeconds(absl::Now() - t0);
    double end = RssMiB();
    progress.max_rss = std::max(progress.max_rss, end);
    std::printf(
        "end:   RSS %.1f MiB, max %.1f MiB; %lld orders in %.0f s (%.0f/s), %lld errors, "
        "live user actors %zu\n",
        end, progress.max_rss, static_cast<long long>(progress.done), seconds,
        progress.done / seconds, static_cast<long long>(progress.errors),
        internal::ActorMetricsFor("orders/user").live());
    if (!driven.ok() || progress.errors > 0) rc = 1;
    loops.Stop(absl::Now() + absl::Seconds(2));
    node.Drain();
  }
  std::filesystem::remove_all(dir);
  return rc;
}

}  // namespace
}  // namespace fanout

int main(int argc, char** argv) { return fanout::Main(argc, argv); }
