// The orders service through its real gRPC API, on a real SQLite file.
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "node/async/gather.h"
#include "node/base/status_macros.h"
#include "node/rpc/client.h"
#include "services/orders/orders_service.h"
#include "tests/support/status_matchers.h"

namespace fanout::orders {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::IsOkAndHolds;
using ::fanout::testing::StatusIs;
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

class OrdersTest : public ::testing::Test {
 protected:
  OrdersTest() : pool_({.threads = 2}) {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("fanout-orders-", ::getpid(), "-", reinterpret_cast<uintptr_t>(this));
    std::filesystem::create_directories(dir_);
    auto store = OrdersStore::Open((dir_ / "orders.db").string());
    EXPECT_THAT(store, IsOk());
    store_ = std::move(*store);
    service_ = std::make_unique<OrdersService>(store_.get(), &pool_, server_.loops(),
                                               OrdersService::Options{});
  }
  ~OrdersTest() override {
    server_.Shutdown(absl::Seconds(1));
    std::filesystem::remove_all(dir_);
  }

  template <typename T>
  T Run(Task<T> task) {
    return BlockOn(server_.loops().At(0), std::move(task));
  }
  Task<absl::StatusOr<v1::Order>> Create(v1::CreateOrderRequest r) {
    co_return co_await CallUnary(stub_.get(), &Orders::Stub::PrepareAsyncCreateOrder, std::move(r));
  }

  std::filesystem::path dir_;
  Server server_{{.listen_addresses = {"127.0.0.1:0"}, .num_loops = 2}};
  OffloadPool pool_;
  std::unique_ptr<OrdersStore> store_;
  std::unique_ptr<OrdersService> service_;
  std::unique_ptr<Orders::Stub> stub_;
};

class StartedOrdersTest : public OrdersTest {
 protected:
  StartedOrdersTest() {
    service_->Register(server_);
    EXPECT_THAT(server_.Start(), IsOk());
    service_->Serve(server_);
    stub_ = Orders::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_.port()),
                                                grpc::InsecureChannelCredentials()));
  }
};

TEST_F(StartedOrdersTest, ConcurrentWritersGetOneSequencePerUser) {
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

TEST_F(StartedOrdersTest, ListIsNewestFirstAndValidated) {
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

TEST_F(StartedOrdersTest, InvalidOrdersNameTheField) {
  EXPECT_THAT(Run(Create(Order(0, "x"))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("user_id")));
  EXPECT_THAT(Run(Create(Order(1, ""))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("item must not be empty")));
  EXPECT_THAT(Run(Create(Order(1, "x", 0))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("quantity")));
}

TEST_F(StartedOrdersTest, WatchersSeeNewOrdersForTheirUser) {
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

}  // namespace
}  // namespace fanout::orders
