// TestStore: where a users/orders test keeps its data, for the tests that
// run on both stores (TEST_P over StoreKind): SQLite files in a temporary
// directory, or a fresh database on the process's private PostgreSQL
// server (postgres_server.h).
//
//   class UsersTest : public ::testing::TestWithParam<StoreKind> {
//     void SetUp() override { if (!store_.skip_reason().empty()) GTEST_SKIP() << ...; }
//     TestStore store_{GetParam()};
//   };
//   INSTANTIATE_TEST_SUITE_P(Stores, UsersTest, AllStores(), StoreName);
//
// Thread-compatible.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "services/store/postgres.h"
#include "tests/support/postgres_server.h"

namespace fanout::testing {

enum class StoreKind { kSqlite, kPostgres };

inline auto AllStores() { return ::testing::Values(StoreKind::kSqlite, StoreKind::kPostgres); }

inline std::string StoreName(const ::testing::TestParamInfo<StoreKind>& info) {
  return info.param == StoreKind::kSqlite ? "Sqlite" : "Postgres";
}

class TestStore {
 public:
  explicit TestStore(StoreKind kind) : kind_(kind) {
    static std::atomic<int> count{0};
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("fanout-store-", ::getpid(), "-", count.fetch_add(1));
    std::filesystem::create_directories(dir_);
    if (kind_ != StoreKind::kPostgres) return;
    PostgresServer* server = PostgresServer::Shared(&skip_reason_);
    if (server == nullptr) return;
    absl::StatusOr<std::string> dsn = server->CreateDatabase();
    if (!dsn.ok()) {
      skip_reason_ = std::string(dsn.status().message());
      return;
    }
    dsn_ = *dsn;
  }
  ~TestStore() {
    std::error_code error;
    std::filesystem::remove_all(dir_, error);
  }

  StoreKind kind() const { return kind_; }
  // Why this test cannot run here (no PostgreSQL); empty when it can.
  const std::string& skip_reason() const { return skip_reason_; }
  std::string SqlitePath(const std::string& file) const { return (dir_ / file).string(); }
  PostgresOptions postgres(int pool_size = 4) const {
    return PostgresOptions{.dsn = dsn_, .pool_size = pool_size, .pool_wait = absl::Seconds(5)};
  }
  const std::string& dsn() const { return dsn_; }

 private:
  const StoreKind kind_;
  std::filesystem::path dir_;
  std::string skip_reason_;
  std::string dsn_;
};

}  // namespace fanout::testing

// In SetUp: skips when PostgreSQL is not installed, fails when it is but
// could not be started.
#define FANOUT_REQUIRE_STORE(store)                                                     \
  if (!(store).skip_reason().empty()) {                                                 \
    if (::fanout::testing::PostgresServer::BinDir().empty()) {                          \
      GTEST_SKIP() << "PostgreSQL store not tested: " << (store).skip_reason();         \
    }                                                                                   \
    FAIL() << "PostgreSQL is installed but could not serve: " << (store).skip_reason(); \
  }
