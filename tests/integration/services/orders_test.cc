// The orders service through its real gRPC API, on a real SQLite file and on
// a real PostgreSQL server (each test runs on both stores).
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "node/async/gather.h"
#include "node/base/status_macros.h"
#include "node/config/yaml_proto.h"
#include "node/rpc/client.h"
#include "services/orders/orders_service.h"
#include "services/users/users_service.h"
#include "tests/support/eventually.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_store.h"

namespace fanout::orders {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::IsOkAndHolds;
using ::fanout::testing::StatusIs;
using ::fanout::testing::StoreKind;
using ::fanout::testing::TestStore;
using ::testing::HasSubstr;
using v1::Orders;

v1::CreateOrderRequest Order(int64_t user, std::string item, int32_t quantity = 1) {
  v1::CreateOrderRequest r;
  r.set_user_id(user);
  r.set_item(std::move(item));
  r.set_quantity(quantity);
  r.set_amount_cents(250);
  return r;
}

absl::StatusOr<std::unique_ptr<OrdersStore>> OpenOrders(const TestStore& store) {
  if (store.kind() == StoreKind::kSqlite) return OrdersStore::Open(store.SqlitePath("orders.db"));
  return OrdersStore::OpenPostgres(store.postgres());
}

absl::StatusOr<std::unique_ptr<users::UsersStore>> OpenUsers(const TestStore& store) {
  if (store.kind() == StoreKind::kSqlite) {
    return users::UsersStore::Open(store.SqlitePath("users.db"));
  }
  return users::UsersStore::OpenPostgres(store.postgres());
}

// An orders service and the users service it checks with, on one server
// (each on its own Offload pool, so a test can hold the orders writes alone).
class OrdersTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  explicit OrdersTest(OrdersService::Options options = {})
      : options_(options), pool_({.threads = 1}) {}
  void SetUp() override {
    FANOUT_REQUIRE_STORE(where_);
    auto store = OpenOrders(where_);
    ASSERT_THAT(store, IsOk());
    store_ = std::move(*store);
    auto users_store = OpenUsers(where_);
    ASSERT_THAT(users_store, IsOk());
    users_store_ = std::move(*users_store);
    users_ = std::make_unique<users::UsersService>(users_store_.get(), &users_pool_);
    service_ = std::make_unique<OrdersService>(store_.get(), &pool_, server_.loops(), options_);
  }
  ~OrdersTest() override {
    if (started_) server_.Shutdown(absl::Seconds(1));
  }

  template <typename T>
  T Run(Task<T> task) {
    return BlockOn(server_.loops().At(0), std::move(task));
  }
  Task<absl::StatusOr<v1::Order>> Create(v1::CreateOrderRequest r) {
    co_return co_await CallUnary(stub_.get(), &Orders::Stub::PrepareAsyncCreateOrder, std::move(r));
  }
  absl::StatusOr<v1::ListOrdersResponse> List(int64_t user) {
    v1::ListOrdersRequest list;
    list.set_user_id(user);
    return Run(CallUnary(stub_.get(), &Orders::Stub::PrepareAsyncListOrders, list));
  }
  void DeleteUser(int64_t id) {
    users::v1::DeleteUserRequest del;
    del.set_id(id);
    ASSERT_THAT(
        Run(CallUnary(users_stub_.get(), &users::v1::Users::Stub::PrepareAsyncDeleteUser, del)),
        IsOk());
  }
  // Users 1..n (ids are given in order on a fresh database).
  void AddUsers(int n) {
    for (int i = 1; i <= n; ++i) {
      users::v1::CreateUserRequest r;
      r.set_name(absl::StrCat("user", i));
      r.set_email(absl::StrCat("user", i, "@example.com"));
      auto user =
          Run(CallUnary(users_stub_.get(), &users::v1::Users::Stub::PrepareAsyncCreateUser, r));
      ASSERT_THAT(user, IsOk());
      ASSERT_EQ(user->id(), i);
    }
  }

  TestStore where_{GetParam()};
  const OrdersService::Options options_;
  bool started_ = false;
  Server server_{{.listen_addresses = {"127.0.0.1:0"}, .num_loops = 2}};
  OffloadPool pool_;  // The orders writes'.
  OffloadPool users_pool_{{.threads = 1}};
  std::unique_ptr<OrdersStore> store_;
  std::unique_ptr<users::UsersStore> users_store_;
  std::unique_ptr<users::UsersService> users_;
  std::unique_ptr<OrdersService> service_;
  std::unique_ptr<Orders::Stub> stub_;
  std::unique_ptr<users::v1::Users::Stub> users_stub_;
  // What orders calls as its users backend; `users_target` can move it.
  std::unique_ptr<users::v1::Users::Stub> orders_users_stub_;
};

class StartedOrdersTest : public OrdersTest {
 protected:
  // `users_target` empty: the users service beside orders.
  explicit StartedOrdersTest(OrdersService::Options options = {}, std::string users_target = "")
      : OrdersTest(options), users_target_(std::move(users_target)) {}
  void SetUp() override {
    OrdersTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    service_->Register(server_);
    users_->Register(server_);
    ASSERT_THAT(server_.Start(), IsOk());
    started_ = true;
    std::string here = absl::StrCat("127.0.0.1:", server_.port());
    auto channel = grpc::CreateChannel(here, grpc::InsecureChannelCredentials());
    orders_users_stub_ = users::v1::Users::NewStub(grpc::CreateChannel(
        users_target_.empty() ? here : users_target_, grpc::InsecureChannelCredentials()));
    service_->set_users(orders_users_stub_.get());
    service_->Serve(server_);
    users_->Serve(server_);
    stub_ = Orders::NewStub(channel);
    users_stub_ = users::v1::Users::NewStub(channel);
    AddUsers(8);
  }

  const std::string users_target_;
};

TEST_P(StartedOrdersTest, ConcurrentWritersGetOneSequencePerUser) {
  auto run = [&]() -> Task<absl::StatusOr<std::vector<v1::Order>>> {
    std::vector<Task<absl::StatusOr<v1::Order>>> writes;
    for (int i = 0; i < 40; ++i)
      writes.push_back(Create(Order(i % 2 + 1, absl::StrCat("item", i))));
    co_return co_await Gather(std::move(writes));
  };
  auto orders = Run(run());
  ASSERT_THAT(orders, IsOk());
  std::set<int64_t> user1, user2;
  for (const auto& o : *orders) (o.user_id() == 1 ? user1 : user2).insert(o.sequence());
  // Each user's 20 writes got 1..20, no gaps, no duplicates.
  EXPECT_EQ(user1.size(), 20u);
  EXPECT_EQ(*user1.begin(), 1);
  EXPECT_EQ(*user1.rbegin(), 20);
  EXPECT_EQ(user2.size(), 20u);
  EXPECT_EQ(*user2.rbegin(), 20);
}

TEST_P(StartedOrdersTest, ListIsNewestFirstAndValidated) {
  for (int i = 0; i < 3; ++i) ASSERT_THAT(Run(Create(Order(7, absl::StrCat("book", i)))), IsOk());
  v1::ListOrdersRequest list;
  list.set_user_id(7);
  list.set_limit(2);
  auto response = Run(CallUnary(stub_.get(), &Orders::Stub::PrepareAsyncListOrders, list));
  ASSERT_THAT(response, IsOk());
  ASSERT_EQ(response->orders_size(), 2);
  EXPECT_EQ(response->orders(0).item(), "book2");
  EXPECT_EQ(response->orders(1).sequence(), 2);
  list.set_limit(500);
  EXPECT_THAT(Run(CallUnary(stub_.get(), &Orders::Stub::PrepareAsyncListOrders, list)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
}

TEST_P(StartedOrdersTest, InvalidOrdersNameTheField) {
  EXPECT_THAT(Run(Create(Order(0, "x"))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("user_id")));
  EXPECT_THAT(Run(Create(Order(1, ""))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("item must not be empty")));
  EXPECT_THAT(Run(Create(Order(1, "x", 0))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("quantity")));
}

TEST_P(StartedOrdersTest, AWatchNamesItsUser) {
  auto run = [&](int64_t user) -> Task<absl::Status> {
    v1::WatchOrdersRequest watch;
    watch.set_user_id(user);
    ServerStreamCall<v1::Order> stream(stub_.get(), &Orders::Stub::PrepareAsyncWatchOrders, watch);
    co_return (co_await stream.Read()).status();
  };
  EXPECT_THAT(Run(run(0)), StatusIs(absl::StatusCode::kInvalidArgument,
                                    HasSubstr("user_id is required (> 0), got 0")));
  EXPECT_THAT(Run(run(-3)), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("got -3")));
}

TEST_P(StartedOrdersTest, WatchersSeeNewOrdersForTheirUser) {
  auto run = [&]() -> Task<absl::StatusOr<std::vector<std::string>>> {
    v1::WatchOrdersRequest watch;
    watch.set_user_id(5);
    ServerStreamCall<v1::Order> stream(stub_.get(), &Orders::Stub::PrepareAsyncWatchOrders, watch);
    // The watcher registers when the call starts; write once it is there.
    auto writer = [&]() -> Task<absl::Status> {
      while (service_->watchers() == 0)
        FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Milliseconds(1)));
      FANOUT_CO_RETURN_IF_ERROR((co_await Create(Order(6, "not mine"))).status());
      FANOUT_CO_RETURN_IF_ERROR((co_await Create(Order(5, "first"))).status());
      co_return (co_await Create(Order(5, "second"))).status();
    };
    auto reader = [&]() -> Task<absl::StatusOr<std::vector<std::string>>> {
      std::vector<std::string> seen;
      while (seen.size() < 2) {
        FANOUT_CO_ASSIGN_OR_RETURN(auto order, co_await stream.Read());
        if (!order) co_return absl::InternalError("stream ended early");
        seen.push_back(order->item());
      }
      co_return seen;
    };
    auto [written, seen] = co_await GatherSettled(writer(), reader());
    FANOUT_CO_RETURN_IF_ERROR(written);
    co_await stream.Cancel();
    co_return seen;
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(::testing::ElementsAre("first", "second")));
}

TEST_P(StartedOrdersTest, AnOrderForAnUnknownUserIsNotFoundAndNotWritten) {
  EXPECT_THAT(Run(Create(Order(999, "ghost"))),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("user_id 999: no such user")));
  auto listed = List(999);
  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(listed->orders_size(), 0);
  // Once the user exists, the order goes through (no negative answer is kept).
  users::v1::CreateUserRequest r;
  r.set_name("late");
  r.set_email("late@example.com");
  auto late = Run(CallUnary(users_stub_.get(), &users::v1::Users::Stub::PrepareAsyncCreateUser, r));
  ASSERT_THAT(late, IsOk());
  EXPECT_THAT(Run(Create(Order(late->id(), "first"))), IsOk());
}

TEST_P(StartedOrdersTest, AUserIsCheckedOncePerActorNotPerOrder) {
  ASSERT_THAT(Run(Create(Order(3, "a"))), IsOk());
  // Deleted now; the actor's check still holds (user_check_ttl, 1 min): the
  // documented staleness. A fresh actor would ask again.
  DeleteUser(3);
  EXPECT_THAT(Run(Create(Order(3, "b"))), IsOk());
}

// Orders' users backend is an address where nothing listens.
class UsersDownTest : public StartedOrdersTest {
 protected:
  UsersDownTest() : StartedOrdersTest({}, "127.0.0.1:1") {}
};

TEST_P(UsersDownTest, NoUsersServiceIsUnavailableNotASilentCreate) {
  EXPECT_THAT(Run(Create(Order(1, "x"))),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot check user_id 1")));
  auto listed = List(1);
  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(listed->orders_size(), 0);
}

// The options a node config's `orders: {...}` block gives the service.
OrdersService::Options FromConfig(const std::string& yaml) {
  config::v1::Orders config;
  EXPECT_THAT(YamlTextToMessage(yaml, "test", &config), IsOk());
  return OrdersService::OptionsFromConfig(config);
}

class DistinctUsersTest : public StartedOrdersTest {
 protected:
  DistinctUsersTest() : StartedOrdersTest(FromConfig("max_user_actors: 10")) {}
};

// proves: orders.max_user_actors
TEST_P(DistinctUsersTest, UserActorsStayUnderTheCap) {
  for (int i = 9; i <= 60; ++i) {
    users::v1::CreateUserRequest r;
    r.set_name("u");
    r.set_email(absl::StrCat("u", i, "@example.com"));
    ASSERT_THAT(
        Run(CallUnary(users_stub_.get(), &users::v1::Users::Stub::PrepareAsyncCreateUser, r)),
        IsOk());
  }
  for (int round = 0; round < 2; ++round) {
    for (int user = 1; user <= 60; ++user) {
      auto order = Run(Create(Order(user, "x")));
      ASSERT_THAT(order, IsOk()) << "user " << user;
      EXPECT_EQ(order->sequence(), round + 1);
      EXPECT_LE(service_->user_actors(), 10u);
    }
  }
  EXPECT_EQ(service_->user_actor_evictions(), 2 * 60 - 10);
}

// A millisecond's trust and a millisecond's idleness (the defaults: a
// minute each, as AUserIsCheckedOncePerActorNotPerOrder relies on).
class ShortLivedTest : public StartedOrdersTest {
 protected:
  ShortLivedTest() : StartedOrdersTest(FromConfig("user_check_ttl_ms: 1\nactor_idle_ms: 1")) {}
};

// proves: orders.user_check_ttl_ms
TEST_P(ShortLivedTest, ADeletedUserIsRefusedOnceTheCheckIsOlderThanItsTtl) {
  ASSERT_THAT(Run(Create(Order(3, "a"))), IsOk());
  DeleteUser(3);
  absl::SleepFor(absl::Milliseconds(2));  // Past the ttl, however fast the delete was.
  EXPECT_THAT(Run(Create(Order(3, "b"))),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("user_id 3")));
}

// proves: orders.actor_idle_ms
TEST_P(ShortLivedTest, AnIdleUsersActorIsEvictedByTheNextOne) {
  ASSERT_THAT(Run(Create(Order(1, "a"))), IsOk());
  EXPECT_EQ(service_->user_actors(), 1u);
  absl::SleepFor(absl::Milliseconds(2));  // User 1's actor idle past actor_idle_ms.
  ASSERT_THAT(Run(Create(Order(2, "a"))), IsOk());
  // User 1's is gone (with the default minute, two would be alive). User
  // 2's may have been evicted and made again meanwhile, if a step of its
  // write left it idle past 1 ms: at least one eviction, not exactly one.
  EXPECT_EQ(service_->user_actors(), 1u);
  EXPECT_GE(service_->user_actor_evictions(), 1);
}

// Holds every orders write in the Offload pool until Release().
class WriteHold {
 public:
  explicit WriteHold(EventLoop& loop, OffloadPool& pool) {
    Spawn(loop, Hold(pool, &open_), "hold the orders pool");
  }
  ~WriteHold() { Release(); }
  void Release() {
    if (!open_.HasBeenNotified()) open_.Notify();
  }

 private:
  static Task<absl::Status> Hold(OffloadPool& pool, Notification* open) {
    co_return co_await Offload(pool, [open] {
      open->WaitForNotification();
      return absl::OkStatus();
    });
  }
  Notification open_;
};

// A CreateOrder on its own thread, cancellable from the test's.
class CancellableCreate {
 public:
  CancellableCreate(Orders::Stub* stub, v1::CreateOrderRequest request)
      : thread_([this, stub, request] {
          context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
          status_ = stub->CreateOrder(&context_, request, &order_);
        }) {}
  void Cancel() { context_.TryCancel(); }
  grpc::Status Finish() {
    thread_.join();
    return status_;
  }
  const v1::Order& order() const { return order_; }

 private:
  grpc::ClientContext context_;
  grpc::Status status_;
  v1::Order order_;
  std::thread thread_;
};

TEST_P(StartedOrdersTest, AWriteCancelledWhileStoredCommitsAndTheLogSaysSo) {
  WriteHold hold(server_.loops().At(0), pool_);
  ASSERT_TRUE(::fanout::testing::Eventually([&] { return pool_.running() == 1; }));
  ::testing::internal::CaptureStderr();
  CancellableCreate create(stub_.get(), Order(4, "kept"));
  // The actor has taken it: its insert waits in the pool's queue.
  ASSERT_TRUE(::fanout::testing::Eventually([&] { return pool_.queue_depth() == 1; }));
  create.Cancel();
  EXPECT_EQ(create.Finish().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(::fanout::testing::Eventually([&] { return service_->callers_left() == 1; }));
  hold.Release();
  ASSERT_TRUE(::fanout::testing::Eventually(
      [&] { return service_->write_outcomes().committed_after_caller_left() == 1; }));
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, HasSubstr("for user 4 (sequence 1) committed after its caller stopped waiting"));
  auto listed = List(4);
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->orders_size(), 1);
  EXPECT_EQ(listed->orders(0).item(), "kept");
}

TEST_P(StartedOrdersTest, AWriteCancelledBeforeItsTurnIsNotWritten) {
  WriteHold hold(server_.loops().At(0), pool_);
  ASSERT_TRUE(::fanout::testing::Eventually([&] { return pool_.running() == 1; }));
  CancellableCreate first(stub_.get(), Order(5, "first"));
  ASSERT_TRUE(::fanout::testing::Eventually([&] { return pool_.queue_depth() == 1; }));
  // The second waits in the actor's mailbox behind the first.
  CancellableCreate second(stub_.get(), Order(5, "second"));
  ASSERT_TRUE(::fanout::testing::Eventually(
      [&] { return internal::ActorMetricsFor("orders/user").mailbox_depth() == 1; }));
  second.Cancel();
  EXPECT_EQ(second.Finish().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(::fanout::testing::Eventually([&] { return service_->callers_left() == 1; }));
  hold.Release();
  EXPECT_TRUE(first.Finish().ok());
  EXPECT_EQ(first.order().sequence(), 1);
  ASSERT_TRUE(::fanout::testing::Eventually(
      [&] { return service_->write_outcomes().not_written_caller_left() == 1; }));
  auto listed = List(5);
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->orders_size(), 1);
  EXPECT_EQ(listed->orders(0).item(), "first");
  EXPECT_EQ(service_->write_outcomes().committed(), 1);
}

INSTANTIATE_TEST_SUITE_P(Stores, StartedOrdersTest, ::fanout::testing::AllStores(),
                         ::fanout::testing::StoreName);
INSTANTIATE_TEST_SUITE_P(Stores, UsersDownTest, ::fanout::testing::AllStores(),
                         ::fanout::testing::StoreName);
INSTANTIATE_TEST_SUITE_P(Stores, DistinctUsersTest, ::fanout::testing::AllStores(),
                         ::fanout::testing::StoreName);
INSTANTIATE_TEST_SUITE_P(Stores, ShortLivedTest, ::fanout::testing::AllStores(),
                         ::fanout::testing::StoreName);

TEST(WatchHubTest, ASlowWatcherIsDroppedNotBuffered) {
  WatchHub hub(2);
  auto slow = hub.Add(0);
  v1::Order order;
  order.set_user_id(1);
  hub.Publish(order);
  hub.Publish(order);
  EXPECT_FALSE(slow->overflowed.load());
  hub.Publish(order);  // The third does not fit: the watcher is dropped.
  EXPECT_TRUE(slow->overflowed.load());
  EXPECT_TRUE(slow->queue.closed());
  EXPECT_EQ(slow->queue.size(), 2u);  // Memory stays at the buffer's bound.
}

// A poll brings a user at most the room its roomiest watcher has, and
// nothing while all of them are full: a burst waits for a slow watch
// instead of closing it.
TEST(WatchHubTest, APollBringsAtMostTheRoomTheWatchersHave) {
  WatchHub hub(4);
  auto a = hub.Add(1), b = hub.Add(1), c = hub.Add(2);
  auto order = [](int64_t user, int64_t sequence) {
    v1::Order o;
    o.set_user_id(user);
    o.set_sequence(sequence);
    return o;
  };
  auto limits = [&] {
    std::map<int64_t, int64_t> at;
    for (const auto& cursor : hub.Cursors()) at[cursor.user_id] = cursor.limit;
    return at;
  };
  EXPECT_EQ(limits(), (std::map<int64_t, int64_t>{{1, 4}, {2, 4}}));
  for (int64_t s = 1; s <= 4; ++s) hub.Publish(order(2, s));
  EXPECT_EQ(limits(), (std::map<int64_t, int64_t>{{1, 4}}));  // 2's only watcher is full.
  ASSERT_TRUE(c->queue.TryReceive().has_value());
  EXPECT_EQ(limits(), (std::map<int64_t, int64_t>{{1, 4}, {2, 1}}));
  for (int64_t s = 1; s <= 3; ++s) hub.Publish(order(1, s));
  ASSERT_TRUE(a->queue.TryReceive().has_value());
  ASSERT_TRUE(a->queue.TryReceive().has_value());
  EXPECT_EQ(limits()[1], 3);  // a has drained two, b none: the roomier one counts.
  EXPECT_FALSE(a->overflowed.load() || b->overflowed.load() || c->overflowed.load());
}

TEST(WatchHubTest, EachWatcherGetsAnOrderOncePastWhereItStarted) {
  WatchHub hub(8);
  auto early = hub.Add(1, 0), late = hub.Add(1, 2), other = hub.Add(2, 5);
  auto order = [](int64_t user, int64_t sequence) {
    v1::Order o;
    o.set_user_id(user);
    o.set_sequence(sequence);
    return o;
  };
  // Where a poll picks up: the lowest sequence each user's watchers have seen.
  auto cursors = hub.Cursors();
  std::map<int64_t, int64_t> at;
  for (const auto& c : cursors) at[c.user_id] = c.after_sequence;
  EXPECT_EQ(at, (std::map<int64_t, int64_t>{{1, 0}, {2, 5}}));
  // Two polls that overlap publish 2 and 3 twice: each is sent once.
  for (int64_t s : {1, 2, 3, 2, 3, 4}) hub.Publish(order(1, s));
  EXPECT_EQ(early->queue.size(), 4u);  // 1, 2, 3, 4
  EXPECT_EQ(late->queue.size(), 2u);   // 3, 4: it started after 2
  EXPECT_EQ(other->queue.size(), 0u);
  for (const auto& c : hub.Cursors()) at[c.user_id] = c.after_sequence;
  EXPECT_EQ(at[1], 4);
}

}  // namespace
}  // namespace fanout::orders
