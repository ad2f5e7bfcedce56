// Recommendations on a node that also runs orders and lab: it calls orders
// through gRPC, and its scoring on the Offload pool leaves the loops free.
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "absl/cleanup/cleanup.h"
#include "node/async/gather.h"
#include "node/base/status_macros.h"
#include "node/base/sync.h"
#include "node/rpc/client.h"
#include "services/lab/lab_service.h"
#include "services/orders/orders_service.h"
#include "services/recommendations/catalogue.h"
#include "services/recommendations/recommendations_service.h"
#include "services/users/users_service.h"
#include "tests/support/status_matchers.h"

namespace fanout::recommendations {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::testing::HasSubstr;

// Node A runs users and orders (orders checks each user with users, on A);
// node B runs recommendations (a client of A) and lab.
class RecommendationsTest : public ::testing::Test {
 protected:
  explicit RecommendationsTest(int catalogue_size = 2000) {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("fanout-recs-", ::getpid(), "-", reinterpret_cast<uintptr_t>(this));
    std::filesystem::create_directories(dir_);
    auto store = orders::OrdersStore::Open((dir_ / "orders.db").string());
    EXPECT_THAT(store, IsOk());
    orders_store_ = std::move(*store);
    auto users_store = users::UsersStore::Open((dir_ / "users.db").string());
    EXPECT_THAT(users_store, IsOk());
    users_store_ = std::move(*users_store);
    for (int i = 1; i <= 10; ++i) {  // Users 1..10.
      EXPECT_THAT(users_store_->Create(absl::StrCat("u", i), absl::StrCat("u", i, "@example.com")),
                  IsOk());
    }
    users_ = std::make_unique<users::UsersService>(users_store_.get(), &db_pool_);
    orders_ = std::make_unique<orders::OrdersService>(orders_store_.get(), &db_pool_, a_.loops(),
                                                      orders::OrdersService::Options{});
    users_->Register(a_);
    orders_->Register(a_);
    EXPECT_THAT(a_.Start(), IsOk());
    auto to_a = grpc::CreateChannel(absl::StrCat("127.0.0.1:", a_.port()),
                                    grpc::InsecureChannelCredentials());
    users_stub_ = users::v1::Users::NewStub(to_a);
    orders_->set_users(users_stub_.get());
    users_->Serve(a_);
    orders_->Serve(a_);
    orders_stub_ = orders::v1::Orders::NewStub(to_a);

    recs_ = std::make_unique<RecommendationsService>(
        orders_stub_.get(), &cpu_pool_,
        RecommendationsService::Options{.catalogue_size = catalogue_size});
    recs_->Register(b_);
    lab_.Register(b_);
    EXPECT_THAT(b_.Start(), IsOk());
    recs_->Serve(b_);
    lab_.Serve(b_);
    auto to_b = grpc::CreateChannel(absl::StrCat("127.0.0.1:", b_.port()),
                                    grpc::InsecureChannelCredentials());
    recs_stub_ = v1::Recommendations::NewStub(to_b);
    lab_stub_ = lab::v1::Lab::NewStub(to_b);
  }
  ~RecommendationsTest() override {
    b_.Shutdown(absl::Seconds(1));
    a_.Shutdown(absl::Seconds(1));
    std::filesystem::remove_all(dir_);
  }
  template <typename T>
  T Run(Task<T> task) {
    return BlockOn(b_.loops().At(0), std::move(task));
  }
  Task<absl::StatusOr<v1::RecommendResponse>> Recommend(int64_t user, int limit = 5) {
    v1::RecommendRequest r;
    r.set_user_id(user);
    r.set_limit(limit);
    co_return co_await CallUnary(recs_stub_.get(),
                                 &v1::Recommendations::Stub::PrepareAsyncRecommend, r);
  }

  std::filesystem::path dir_;
  Server a_{{.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1}};
  Server b_{{.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1}};
  OffloadPool db_pool_{{.threads = 1}};
  OffloadPool cpu_pool_{{.threads = 1}};
  lab::LabService lab_{{.name = "lab"}};
  std::unique_ptr<users::UsersStore> users_store_;
  std::unique_ptr<users::UsersService> users_;
  std::unique_ptr<users::v1::Users::Stub> users_stub_;
  std::unique_ptr<orders::OrdersStore> orders_store_;
  std::unique_ptr<orders::OrdersService> orders_;
  std::unique_ptr<orders::v1::Orders::Stub> orders_stub_;
  std::unique_ptr<RecommendationsService> recs_;
  std::unique_ptr<v1::Recommendations::Stub> recs_stub_;
  std::unique_ptr<lab::v1::Lab::Stub> lab_stub_;
};

// Score puts only the best few in order: they must be the whole
// catalogue's first, in its order, less what is excluded.
TEST(CatalogueTest, TheBestAreTheFullOrdersFirstLessTheExcluded) {
  const Catalogue catalogue(2000);
  std::vector<float> taste = Catalogue::Features("item-3");
  for (float& f : taste) f *= 0.5f;
  const std::vector<float> other = Catalogue::Features("tea");
  for (size_t i = 0; i < taste.size(); ++i) taste[i] += other[i];
  const std::vector<v1::Recommendation> all = catalogue.Score(taste, catalogue.size(), {});
  ASSERT_EQ(all.size(), 2000u);
  for (size_t i = 1; i < all.size(); ++i) ASSERT_LE(all[i].score(), all[i - 1].score());
  // The 1st, the 4th (twice) and a name not catalogued.
  const std::vector<std::string> exclude{all[0].item(), all[3].item(), all[3].item(), "tea"};
  const std::vector<v1::Recommendation> best = catalogue.Score(taste, 10, exclude);
  std::vector<std::string> expected;
  for (const v1::Recommendation& r : all) {
    if (expected.size() == 10) break;
    if (r.item() != all[0].item() && r.item() != all[3].item()) expected.push_back(r.item());
  }
  std::vector<std::string> got;
  for (const v1::Recommendation& r : best) got.push_back(r.item());
  EXPECT_EQ(got, expected);
  EXPECT_TRUE(catalogue.Score(taste, 0, exclude).empty());
  EXPECT_EQ(catalogue.Score(taste, 5000, {}).size(), 2000u);  // More than there are: all.
}

TEST_F(RecommendationsTest, ScoresTheCatalogueAgainstTheUsersOrders) {
  for (const char* item : {"item-3", "item-7"}) {
    orders::v1::CreateOrderRequest r;
    r.set_user_id(9);
    r.set_item(item);
    r.set_quantity(1);
    ASSERT_THAT(
        Run(CallUnary(orders_stub_.get(), &orders::v1::Orders::Stub::PrepareAsyncCreateOrder, r)),
        IsOk());
  }
  auto response = Run(Recommend(9, 10));
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->orders_considered(), 2);
  ASSERT_EQ(response->items_size(), 10);
  for (int i = 0; i < response->items_size(); ++i) {
    EXPECT_NE(response->items(i).item(), "item-3");  // already ordered
    if (i > 0) {
      EXPECT_LE(response->items(i).score(), response->items(i - 1).score());
    }
  }
  // A user with no orders still gets an answer (a cold start).
  auto cold = Run(Recommend(10));
  ASSERT_THAT(cold, IsOk());
  EXPECT_EQ(cold->orders_considered(), 0);
  EXPECT_EQ(cold->items_size(), 5);
}

TEST_F(RecommendationsTest, BadInputAndDeadOrdersBackend) {
  EXPECT_THAT(Run(Recommend(0)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("user_id")));
  EXPECT_THAT(Run(Recommend(1, 500)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
  a_.Shutdown(absl::ZeroDuration());
  EXPECT_THAT(Run(Recommend(1)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("orders backend")));
}

class HeavyRecommendationsTest : public RecommendationsTest {
 protected:
  HeavyRecommendationsTest() : RecommendationsTest(/*catalogue_size=*/400000) {}
};

TEST_F(HeavyRecommendationsTest, OtherCallsAnswerWhileScoringWaitsForTheOffloadThread) {
  // The Offload thread is held by a job that waits on `gate`, so the scoring
  // of 400,000 items queues behind it; an Echo to the same single-loop node
  // must come back meanwhile. The gate opens only after the Echo: the order
  // does not depend on how fast anything runs.
  Notification gate;
  auto run = [&]() -> Task<absl::StatusOr<std::string>> {
    std::string order_of_completion;
    auto hold_the_thread = [&]() -> Task<absl::Status> {
      co_return co_await cpu_pool_.Run([&] {
        gate.WaitForNotification();
        return absl::OkStatus();
      });
    };
    auto recommend = [&]() -> Task<absl::Status> {
      while (cpu_pool_.running() == 0) co_await Sleep(absl::Microseconds(200));
      absl::Status s = (co_await Recommend(1)).status();
      order_of_completion += "R";
      co_return s;
    };
    auto echo = [&]() -> Task<absl::Status> {
      absl::Cleanup open_the_gate = [&] { gate.Notify(); };  // However this ends.
      // Wait until the thread is held and the scoring is queued behind it.
      // A queued job alone is not enough: it may be the holding job itself,
      // not yet started, and opening the gate before it runs would let it
      // finish unseen by `recommend`, which would then wait forever.
      while ((cpu_pool_.running() == 0 || cpu_pool_.queue_depth() == 0) &&
             order_of_completion.empty()) {
        FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Microseconds(200)));
      }
      lab::v1::EchoRequest r;
      r.set_message("still here");
      absl::Status s =
          (co_await CallUnary(lab_stub_.get(), &lab::v1::Lab::Stub::PrepareAsyncEcho, r)).status();
      order_of_completion += "E";
      co_return s;
    };
    auto [h, r, e] = co_await GatherSettled(hold_the_thread(), recommend(), echo());
    FANOUT_CO_RETURN_IF_ERROR(h);
    FANOUT_CO_RETURN_IF_ERROR(r);
    FANOUT_CO_RETURN_IF_ERROR(e);
    co_return order_of_completion;
  };
  EXPECT_THAT(Run(run()), ::fanout::testing::IsOkAndHolds("ER"));
}

}  // namespace
}  // namespace fanout::recommendations
