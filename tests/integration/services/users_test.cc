// The users service through its real gRPC API, on a real SQLite file and on
// a real PostgreSQL server (each test runs on both stores).
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "node/rpc/client.h"
#include "services/users/users_service.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_store.h"

namespace fanout::users {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::fanout::testing::StoreKind;
using ::fanout::testing::TestStore;
using ::testing::HasSubstr;
using v1::Users;

absl::StatusOr<std::unique_ptr<UsersStore>> OpenStore(const TestStore& store) {
  if (store.kind() == StoreKind::kSqlite) return UsersStore::Open(store.SqlitePath("users.db"));
  return UsersStore::OpenPostgres(store.postgres());
}

// One node serving users from `store`.
class UsersNode {
 public:
  explicit UsersNode(const TestStore& where) : pool_({.threads = 2}) {
    auto store = OpenStore(where);
    EXPECT_THAT(store, IsOk());
    store_ = std::move(*store);
    service_ = std::make_unique<UsersService>(store_.get(), &pool_);
    service_->Register(server_);
    EXPECT_THAT(server_.Start(), IsOk());
    service_->Serve(server_);
    stub_ = Users::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_.port()),
                                               grpc::InsecureChannelCredentials()));
  }
  ~UsersNode() { server_.Shutdown(absl::Seconds(1)); }

  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> (
                                    Users::Stub::*method)(grpc::ClientContext*, const Request&,
                                                          grpc::CompletionQueue*),
                                Request request) {
    return BlockOn(server_.loops().At(0), CallUnary(stub_.get(), method, std::move(request)));
  }
  absl::StatusOr<v1::User> Create(std::string name, std::string email) {
    v1::CreateUserRequest r;
    r.set_name(std::move(name));
    r.set_email(std::move(email));
    return Call(&Users::Stub::PrepareAsyncCreateUser, r);
  }
  absl::StatusOr<v1::User> Get(int64_t id) {
    v1::GetUserRequest r;
    r.set_id(id);
    return Call(&Users::Stub::PrepareAsyncGetUser, r);
  }

 private:
  Server server_{{.listen_addresses = {"127.0.0.1:0"}, .num_loops = 2}};
  OffloadPool pool_;
  std::unique_ptr<UsersStore> store_;
  std::unique_ptr<UsersService> service_;
  std::unique_ptr<Users::Stub> stub_;
};

class UsersTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override { FANOUT_REQUIRE_STORE(store_); }

  TestStore store_{GetParam()};
};

INSTANTIATE_TEST_SUITE_P(Stores, UsersTest, ::fanout::testing::AllStores(),
                         ::fanout::testing::StoreName);

TEST_P(UsersTest, CreateGetUpdateDelete) {
  UsersNode node(store_);
  auto ada = node.Create("Ada", "ada@example.com");
  ASSERT_THAT(ada, IsOk());
  EXPECT_GT(ada->id(), 0);
  auto got = node.Get(ada->id());
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->email(), "ada@example.com");

  v1::UpdateUserRequest update;
  update.set_id(ada->id());
  update.set_name("Ada Lovelace");
  auto updated = node.Call(&Users::Stub::PrepareAsyncUpdateUser, update);
  ASSERT_THAT(updated, IsOk());
  EXPECT_EQ(updated->name(), "Ada Lovelace");
  EXPECT_EQ(updated->email(), "ada@example.com");  // unchanged

  v1::DeleteUserRequest del;
  del.set_id(ada->id());
  EXPECT_THAT(node.Call(&Users::Stub::PrepareAsyncDeleteUser, del), IsOk());
  EXPECT_THAT(node.Get(ada->id()), StatusIs(absl::StatusCode::kNotFound, HasSubstr("not found")));
  EXPECT_THAT(node.Call(&Users::Stub::PrepareAsyncDeleteUser, del),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(UsersTest, ValidationNamesTheField) {
  UsersNode node(store_);
  EXPECT_THAT(node.Create("", "a@example.com"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name must not be empty")));
  EXPECT_THAT(node.Create(std::string(101, 'x'), "a@example.com"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name must be at most 100")));
  EXPECT_THAT(node.Create("Bob", "not-an-email"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("email \"not-an-email\"")));
  EXPECT_THAT(node.Create("Bob", std::string(250, 'b') + "@x.io"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("email must be at most")));
  EXPECT_THAT(node.Get(0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("id must be > 0")));
  v1::UpdateUserRequest empty_update;
  empty_update.set_id(1);
  EXPECT_THAT(node.Call(&Users::Stub::PrepareAsyncUpdateUser, empty_update),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nothing to update")));
}

TEST_P(UsersTest, DuplicateEmailIsAlreadyExists) {
  UsersNode node(store_);
  ASSERT_THAT(node.Create("Ann", "ann@example.com"), IsOk());
  EXPECT_THAT(node.Create("Other Ann", "ann@example.com"),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("ann@example.com")));
  auto bob = node.Create("Bob", "bob@example.com");
  ASSERT_THAT(bob, IsOk());
  v1::UpdateUserRequest steal;
  steal.set_id(bob->id());
  steal.set_email("ann@example.com");
  EXPECT_THAT(node.Call(&Users::Stub::PrepareAsyncUpdateUser, steal),
              StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_P(UsersTest, ListPagesThroughEveryone) {
  UsersNode node(store_);
  for (int i = 0; i < 7; ++i) {
    ASSERT_THAT(node.Create(absl::StrCat("user", i), absl::StrCat("u", i, "@example.com")), IsOk());
  }
  std::vector<std::string> names;
  v1::ListUsersRequest page;
  page.set_page_size(3);
  int pages = 0;
  do {
    auto response = node.Call(&Users::Stub::PrepareAsyncListUsers, page);
    ASSERT_THAT(response, IsOk());
    for (const auto& u : response->users()) names.push_back(u.name());
    page.set_page_token(response->next_page_token());
    ++pages;
  } while (!page.page_token().empty());
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names.size(), 7u);
  EXPECT_EQ(names.front(), "user0");
  EXPECT_EQ(names.back(), "user6");

  v1::ListUsersRequest bad;
  bad.set_page_token("garbage");
  EXPECT_THAT(node.Call(&Users::Stub::PrepareAsyncListUsers, bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  bad.set_page_token("");
  bad.set_page_size(5000);
  EXPECT_THAT(node.Call(&Users::Stub::PrepareAsyncListUsers, bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_size")));
}

TEST_P(UsersTest, AcknowledgedWritesSurviveARestart) {
  int64_t id;
  {
    UsersNode node(store_);
    auto created = node.Create("Durable", "durable@example.com");
    ASSERT_THAT(created, IsOk());
    id = created->id();
  }
  UsersNode restarted(store_);
  auto got = restarted.Get(id);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->name(), "Durable");
}

}  // namespace
}  // namespace fanout::users
