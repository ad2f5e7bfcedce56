// Users and orders on a real PostgreSQL server, where SQLite has no
// counterpart: two orders replicas writing the same users, a watch that
// sees another replica's orders (as often as orders.watch_poll_ms says),
// and the server restarting under load.
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <map>
#include <set>
#include <thread>

#include "node/async/as_completed.h"
#include "node/async/gather.h"
#include "node/async/with_deadline.h"
#include "node/base/status_macros.h"
#include "node/config/yaml_proto.h"
#include "node/rpc/client.h"
#include "services/orders/orders_service.h"
#include "services/users/users_service.h"
#include "tests/support/eventually.h"
#include "tests/support/postgres_server.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_store.h"

namespace fanout {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::PostgresServer;
using ::fanout::testing::StoreKind;
using ::fanout::testing::TestStore;
using orders::v1::Orders;
using users::v1::Users;

#define FANOUT_REQUIRE_POSTGRES()                                                   \
  if (PostgresServer::BinDir().empty()) {                                           \
    GTEST_SKIP() << "no PostgreSQL server binaries: install Debian's `postgresql`"; \
  }

// One orders replica: its own server, store (connection pool) and threads.
class OrdersReplica {
 public:
  OrdersReplica(PostgresOptions options, const std::string& users_target,
                orders::OrdersService::Options service_options = {}) {
    auto store = orders::OrdersStore::OpenPostgres(std::move(options));
    EXPECT_THAT(store, IsOk());
    if (!store.ok()) return;
    store_ = std::move(*store);
    service_ = std::make_unique<orders::OrdersService>(store_.get(), &pool_, server_.loops(),
                                                       service_options);
    service_->Register(server_);
    EXPECT_THAT(server_.Start(), IsOk());
    users_ = Users::NewStub(grpc::CreateChannel(users_target, grpc::InsecureChannelCredentials()));
    service_->set_users(users_.get());
    service_->Serve(server_);
    stub_ = Orders::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_.port()),
                                                grpc::InsecureChannelCredentials()));
  }
  ~OrdersReplica() {
    if (service_) server_.Shutdown(absl::Seconds(1));
  }
  bool ok() const { return service_ != nullptr; }
  Orders::Stub* stub() { return stub_.get(); }
  orders::OrdersStore& store() { return *store_; }
  orders::OrdersService& service() { return *service_; }
  EventLoop& loop() { return server_.loops().At(0); }

 private:
  Server server_{{.listen_addresses = {"127.0.0.1:0"}, .num_loops = 2}};
  OffloadPool pool_{{.threads = 4}};
  std::unique_ptr<orders::OrdersStore> store_;
  std::unique_ptr<orders::OrdersService> service_;
  std::unique_ptr<Users::Stub> users_;
  std::unique_ptr<Orders::Stub> stub_;
};

// The users service on its own server.
class UsersReplica {
 public:
  explicit UsersReplica(PostgresOptions options) {
    auto store = users::UsersStore::OpenPostgres(std::move(options));
    EXPECT_THAT(store, IsOk());
    if (!store.ok()) return;
    store_ = std::move(*store);
    service_ = std::make_unique<users::UsersService>(store_.get(), &pool_);
    service_->Register(server_);
    EXPECT_THAT(server_.Start(), IsOk());
    service_->Serve(server_);
    stub_ = Users::NewStub(grpc::CreateChannel(target(), grpc::InsecureChannelCredentials()));
  }
  ~UsersReplica() {
    if (service_) server_.Shutdown(absl::Seconds(1));
  }
  bool ok() const { return service_ != nullptr; }
  std::string target() const { return absl::StrCat("127.0.0.1:", server_.port()); }
  EventLoop& loop() { return server_.loops().At(0); }

  Task<absl::StatusOr<users::v1::User>> Create(int64_t i) {
    users::v1::CreateUserRequest r;
    r.set_name(absl::StrCat("user", i));
    r.set_email(absl::StrCat("user", i, "@example.com"));
    co_return co_await CallUnary(stub_.get(), &Users::Stub::PrepareAsyncCreateUser, std::move(r));
  }
  Task<absl::StatusOr<users::v1::User>> Get(int64_t id) {
    users::v1::GetUserRequest r;
    r.set_id(id);
    co_return co_await CallUnary(stub_.get(), &Users::Stub::PrepareAsyncGetUser, std::move(r));
  }

 private:
  Server server_{{.listen_addresses = {"127.0.0.1:0"}, .num_loops = 2}};
  OffloadPool pool_{{.threads = 4}};
  std::unique_ptr<users::UsersStore> store_;
  std::unique_ptr<users::UsersService> service_;
  std::unique_ptr<Users::Stub> stub_;
};

Task<absl::StatusOr<orders::v1::Order>> CreateOrder(Orders::Stub* stub, int64_t user,
                                                    std::string item) {
  orders::v1::CreateOrderRequest r;
  r.set_user_id(user);
  r.set_item(std::move(item));
  r.set_quantity(1);
  r.set_amount_cents(100);
  co_return co_await CallUnary(stub, &Orders::Stub::PrepareAsyncCreateOrder, std::move(r));
}

// The orders service's options as a node config's `orders` block sets them.
orders::OrdersService::Options FromConfig(const std::string& yaml) {
  config::v1::Orders config;
  EXPECT_THAT(YamlTextToMessage(yaml, "test", &config), IsOk());
  return orders::OrdersService::OptionsFromConfig(config);
}

// Watches `user`'s orders on `watched`, runs `write` once the watch is
// registered, and returns the first `count` orders the watch sees as
// "item#sequence", or an error if they do not come within `timeout`.
absl::StatusOr<std::vector<std::string>> WatchWhile(OrdersReplica& watched, int64_t user,
                                                    size_t count,
                                                    std::function<Task<absl::Status>()> write,
                                                    absl::Duration timeout) {
  auto run = [&]() -> Task<absl::StatusOr<std::vector<std::string>>> {
    orders::v1::WatchOrdersRequest watch;
    watch.set_user_id(user);
    ServerStreamCall<orders::v1::Order> stream(watched.stub(),
                                               &Orders::Stub::PrepareAsyncWatchOrders, watch);
    auto writer = [&]() -> Task<absl::Status> {
      while (watched.service().watchers() == 0) {
        FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Milliseconds(1)));
      }
      co_return co_await write();
    };
    auto reader = [&]() -> Task<absl::StatusOr<std::vector<std::string>>> {
      std::vector<std::string> seen;
      while (seen.size() < count) {
        FANOUT_CO_ASSIGN_OR_RETURN(auto order, co_await stream.Read());
        if (!order) co_return absl::InternalError("stream ended early");
        seen.push_back(absl::StrCat(order->item(), "#", order->sequence()));
      }
      co_return seen;
    };
    auto [written, seen] = co_await GatherSettled(writer(), reader());
    FANOUT_CO_RETURN_IF_ERROR(written);
    co_await stream.Cancel();
    co_return seen;
  };
  auto bounded = [&]() -> Task<absl::StatusOr<std::vector<std::string>>> {
    co_return co_await WithTimeout(run(), timeout);
  };
  return BlockOn(watched.loop(), bounded());
}

class PostgresReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override { FANOUT_REQUIRE_STORE(store_); }
  // The users service holding users 1..n, and two orders replicas on it.
  void StartReplicas(int n, orders::OrdersService::Options a = {},
                     orders::OrdersService::Options b = {}) {
    users_ = std::make_unique<UsersReplica>(store_.postgres());
    ASSERT_TRUE(users_->ok());
    for (int i = 1; i <= n; ++i) ASSERT_THAT(BlockOn(users_->loop(), users_->Create(i)), IsOk());
    a_ = std::make_unique<OrdersReplica>(store_.postgres(), users_->target(), a);
    b_ = std::make_unique<OrdersReplica>(store_.postgres(), users_->target(), b);
    ASSERT_TRUE(a_->ok() && b_->ok());
  }
  TestStore store_{StoreKind::kPostgres};
  std::unique_ptr<UsersReplica> users_;
  std::unique_ptr<OrdersReplica> a_, b_;
};

TEST_F(PostgresReplicasTest, TwoOrdersReplicasKeepEachUsersSequenceExact) {
  constexpr int kUsers = 4, kOrders = 120;
  ASSERT_NO_FATAL_FAILURE(StartReplicas(kUsers));
  OrdersReplica &a = *a_, &b = *b_;
  // Every user's orders are split over both replicas, all in flight at once.
  auto run = [&]() -> Task<absl::StatusOr<std::vector<orders::v1::Order>>> {
    std::vector<Task<absl::StatusOr<orders::v1::Order>>> writes;
    for (int i = 0; i < kOrders; ++i) {
      writes.push_back(
          CreateOrder((i / kUsers) % 2 ? a.stub() : b.stub(), i % kUsers + 1, absl::StrCat(i)));
    }
    co_return co_await Gather(std::move(writes));
  };
  auto written = BlockOn(a.loop(), run());
  ASSERT_THAT(written, IsOk());
  std::map<int64_t, std::set<int64_t>> sequences;
  for (const auto& o : *written) sequences[o.user_id()].insert(o.sequence());
  for (int user = 1; user <= kUsers; ++user) {
    // 1..30 for each user: no gap, no duplicate (a set of 30 from 1 to 30).
    EXPECT_EQ(sequences[user].size(), size_t{kOrders / kUsers}) << "user " << user;
    EXPECT_EQ(*sequences[user].begin(), 1) << "user " << user;
    EXPECT_EQ(*sequences[user].rbegin(), kOrders / kUsers) << "user " << user;
  }
  // And that is what either replica reads back.
  orders::v1::ListOrdersRequest list;
  list.set_user_id(1);
  list.set_limit(100);
  auto listed = BlockOn(b.loop(), CallUnary(b.stub(), &Orders::Stub::PrepareAsyncListOrders, list));
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->orders_size(), kOrders / kUsers);
  for (int i = 0; i < listed->orders_size(); ++i) {
    EXPECT_EQ(listed->orders(i).sequence(), kOrders / kUsers - i);
  }
}

TEST_F(PostgresReplicasTest, AWatchSeesOrdersWrittenByAnotherReplica) {
  ASSERT_NO_FATAL_FAILURE(StartReplicas(1));
  OrdersReplica &a = *a_, &b = *b_;
  EXPECT_TRUE(a.service().watches_every_replica());
  auto seen = WatchWhile(
      a, 1, 2,
      [&]() -> Task<absl::Status> {
        FANOUT_CO_RETURN_IF_ERROR((co_await CreateOrder(b.stub(), 1, "from b")).status());
        co_return (co_await CreateOrder(a.stub(), 1, "from a")).status();
      },
      absl::Seconds(10));
  EXPECT_THAT(seen,
              ::fanout::testing::IsOkAndHolds(::testing::ElementsAre("from b#1", "from a#2")));
}

// One user watched on a, which polls every 20 ms, and on b, which polls
// every minute (the most the config allows; its first poll is a minute
// after it started); a third replica, c, writes three orders, each once a's
// watch has had the one before. a's watch sees all three, and b's none by
// then. (Were the key ignored, both would poll every 50 ms, the default,
// and b's would see the first order before a's saw the third.)
// proves: orders.watch_poll_ms
TEST_F(PostgresReplicasTest, AWatchSeesOtherReplicasOrdersAsOftenAsItsReplicaPolls) {
  ASSERT_NO_FATAL_FAILURE(
      StartReplicas(1, FromConfig("watch_poll_ms: 20"), FromConfig("watch_poll_ms: 60000")));
  OrdersReplica &a = *a_, &b = *b_;
  OrdersReplica c(store_.postgres(), users_->target());
  ASSERT_TRUE(c.ok());
  constexpr int kOrders = 3;
  // What each watch saw, as "a: order 1".
  std::vector<std::string> seen;
  auto run = [&]() -> Task<absl::Status> {
    orders::v1::WatchOrdersRequest watch;
    watch.set_user_id(1);
    ServerStreamCall<orders::v1::Order> on_a(a.stub(), &Orders::Stub::PrepareAsyncWatchOrders,
                                             watch);
    ServerStreamCall<orders::v1::Order> on_b(b.stub(), &Orders::Stub::PrepareAsyncWatchOrders,
                                             watch);
    int a_saw = 0;
    auto read = [&](ServerStreamCall<orders::v1::Order>& stream, std::string name,
                    int count) -> Task<absl::Status> {
      for (int i = 0; i < count; ++i) {
        FANOUT_CO_ASSIGN_OR_RETURN(auto order, co_await stream.Read());
        if (!order) co_return absl::InternalError(absl::StrCat(name, "'s watch ended"));
        seen.push_back(absl::StrCat(name, ": ", order->item()));
        if (name == "a") ++a_saw;
      }
      co_return absl::OkStatus();
    };
    auto write = [&]() -> Task<absl::Status> {
      // Both watches registered (each past its first look at the store).
      while (a.service().watchers() == 0 || b.service().watchers() == 0) {
        FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Milliseconds(1)));
      }
      for (int i = 1; i <= kOrders; ++i) {
        FANOUT_CO_RETURN_IF_ERROR(
            (co_await CreateOrder(c.stub(), 1, absl::StrCat("order ", i))).status());
        while (a_saw < i) {
          FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Milliseconds(1)));
        }
      }
      co_return absl::OkStatus();
    };
    std::vector<Task<absl::Status>> tasks;
    tasks.push_back(write());
    tasks.push_back(read(on_a, "a", kOrders));
    tasks.push_back(read(on_b, "b", 1));
    AsCompleted<absl::Status> done(std::move(tasks));
    // The writer and a's watch; b's, if it saw an order, is in `seen`.
    absl::Status first_two;
    for (int i = 0; i < 2 && first_two.ok(); ++i) first_two = (co_await done.Next())->result;
    done.Cancel(absl::CancelledError("a's watch has seen every order"));
    while (co_await done.Next()) {
    }
    (void)co_await on_a.Cancel();
    co_return first_two;
  };
  auto bounded = [&]() -> Task<absl::Status> {
    co_return co_await WithTimeout(run(), absl::Seconds(30));
  };
  ASSERT_THAT(BlockOn(a.loop(), bounded()), IsOk());
  EXPECT_THAT(seen, ::testing::ElementsAre("a: order 1", "a: order 2", "a: order 3"));
}

TEST_F(PostgresReplicasTest, ABurstLargerThanAWatchersBufferArrivesOverSeveralPolls) {
  ASSERT_NO_FATAL_FAILURE(StartReplicas(1));
  OrdersReplica &a = *a_, &b = *b_;
  // 3x the buffer (64), committed by b faster than one poll interval.
  constexpr int kBurst = 192;
  auto seen = WatchWhile(
      a, 1, kBurst,
      [&]() -> Task<absl::Status> {
        std::atomic<bool> done{false};
        absl::Status written;
        std::thread burst([&] {
          orders::v1::CreateOrderRequest r;
          r.set_user_id(1);
          r.set_quantity(1);
          for (int i = 0; i < kBurst && written.ok(); ++i) {
            r.set_item(absl::StrCat(i));
            written = b.store().Insert(r).status();
          }
          done.store(true);
        });
        while (!done.load()) (void)co_await Sleep(absl::Milliseconds(5));
        burst.join();
        co_return written;
      },
      absl::Seconds(20));
  ASSERT_THAT(seen, IsOk());
  ASSERT_EQ(seen->size(), size_t{kBurst});
  for (int i = 0; i < kBurst; ++i) EXPECT_EQ((*seen)[i], absl::StrCat(i, "#", i + 1));
}

// A server of the test's own, since it is stopped and started again.
class PostgresRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FANOUT_REQUIRE_POSTGRES();
    auto server = PostgresServer::Start();
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
    auto dsn = server_->CreateDatabase();
    ASSERT_THAT(dsn, IsOk());
    dsn_ = *dsn;
  }
  PostgresOptions Options(int pool_size) const {
    return {.dsn = dsn_, .pool_size = pool_size, .pool_wait = absl::Seconds(10)};
  }
  using Call = std::function<Task<absl::Status>(int64_t i)>;
  void LoadThroughARestart(EventLoop& loop, const Call& call);
  std::unique_ptr<PostgresServer> server_;
  std::string dsn_;
};

TEST_F(PostgresRestartTest, AWatchLivesThroughARestartAndMissesNothing) {
  PostgresOptions options = Options(2);
  UsersReplica users(options);
  ASSERT_TRUE(users.ok());
  ASSERT_THAT(BlockOn(users.loop(), users.Create(1)), IsOk());
  OrdersReplica a(options, users.target()), b(options, users.target());
  ASSERT_TRUE(a.ok() && b.ok());
  auto seen = WatchWhile(
      a, 1, 2,
      [&]() -> Task<absl::Status> {
        FANOUT_CO_RETURN_IF_ERROR((co_await CreateOrder(b.stub(), 1, "before")).status());
        // Down for a few polls of a's watch; b's next write waits for the pool.
        server_->Stop();
        FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Milliseconds(300)));
        FANOUT_CO_RETURN_IF_ERROR(server_->StartAgain());
        co_return (co_await CreateOrder(b.stub(), 1, "after")).status();
      },
      absl::Seconds(20));
  EXPECT_THAT(seen, ::fanout::testing::IsOkAndHolds(::testing::ElementsAre("before#1", "after#2")));
}

// Eight workers make `call(i)` back to back on `loop` while the server stops
// for 300 ms and starts again. Only calls on the server as it stopped fail
// (those already running, and any that took a connection as the server was
// closing it): at most two per worker, each UNAVAILABLE, none once the
// server is back; calls arriving while it is down wait for the pool to
// reconnect. Then every call succeeds again.
void PostgresRestartTest::LoadThroughARestart(EventLoop& loop, const Call& call) {
  constexpr int kWorkers = 8;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> next{0}, ok{0};
  std::vector<absl::Status> failures;
  std::vector<absl::Time> failed_at;
  std::atomic<int64_t> back_at_ns{std::numeric_limits<int64_t>::max()};
  auto worker = [&]() -> Task<absl::Status> {
    while (!stop.load()) {
      absl::Status status = co_await call(next.fetch_add(1));
      if (status.ok()) {
        ok.fetch_add(1);
      } else {
        failures.push_back(status);
        failed_at.push_back(absl::Now());
      }
    }
    co_return absl::OkStatus();
  };
  std::thread restart([&] {
    absl::SleepFor(absl::Milliseconds(700));
    server_->Stop();
    absl::SleepFor(absl::Milliseconds(300));  // Down a while: calls arriving now wait.
    EXPECT_THAT(server_->StartAgain(), IsOk());
    back_at_ns.store(absl::ToUnixNanos(absl::Now()));
    absl::SleepFor(absl::Milliseconds(1200));
    stop.store(true);
  });
  auto run = [&]() -> Task<absl::Status> {
    std::vector<Task<absl::Status>> workers;
    for (int i = 0; i < kWorkers; ++i) workers.push_back(worker());
    co_return co_await Gather(std::move(workers));
  };
  EXPECT_THAT(BlockOn(loop, run()), IsOk());
  restart.join();
  EXPECT_LE(failures.size(), size_t{2 * kWorkers});
  for (size_t i = 0; i < failures.size(); ++i) {
    EXPECT_EQ(failures[i].code(), absl::StatusCode::kUnavailable) << failures[i];
    EXPECT_LT(absl::ToUnixNanos(failed_at[i]), back_at_ns.load()) << failures[i];
  }
  for (int i = 0; i < 20; ++i) {
    absl::Status status = BlockOn(loop, call(next.fetch_add(1)));
    ASSERT_THAT(status, IsOk()) << "call " << i << " after the restart";
  }
  EXPECT_GT(ok.load(), 0);
  std::printf("restart: %lld calls ok, %zu failed (UNAVAILABLE)\n",
              static_cast<long long>(ok.load()), failures.size());
}

TEST_F(PostgresRestartTest, ARestartCostsOnlyTheCallsInFlightThenThePoolRecovers) {
  UsersReplica users(Options(4));
  ASSERT_TRUE(users.ok());
  LoadThroughARestart(users.loop(), [&](int64_t i) -> Task<absl::Status> {
    absl::StatusOr<users::v1::User> user = co_await users.Create(i);
    if (user.ok()) user = co_await users.Get(user->id());
    co_return user.status();
  });
}

TEST_F(PostgresRestartTest, OrdersLoseOnlyTheCallsInFlightAndKeepEachUsersSequence) {
  constexpr int kUsers = 8;
  UsersReplica users(Options(4));
  ASSERT_TRUE(users.ok());
  for (int i = 1; i <= kUsers; ++i) ASSERT_THAT(BlockOn(users.loop(), users.Create(i)), IsOk());
  OrdersReplica orders(Options(4), users.target());
  ASSERT_TRUE(orders.ok());
  LoadThroughARestart(orders.loop(), [&](int64_t i) -> Task<absl::Status> {
    co_return (co_await CreateOrder(orders.stub(), i % kUsers + 1, absl::StrCat(i))).status();
  });
  // A write that failed as the server stopped either committed whole or not
  // at all: each user's newest orders are still numbered without a gap.
  for (int user = 1; user <= kUsers; ++user) {
    orders::v1::ListOrdersRequest list;
    list.set_user_id(user);
    list.set_limit(100);
    auto listed = BlockOn(orders.loop(),
                          CallUnary(orders.stub(), &Orders::Stub::PrepareAsyncListOrders, list));
    ASSERT_THAT(listed, IsOk());
    for (int i = 0; i < listed->orders_size(); ++i) {
      EXPECT_EQ(listed->orders(i).sequence(), listed->orders(0).sequence() - i) << "user " << user;
    }
  }
}

}  // namespace
}  // namespace fanout
