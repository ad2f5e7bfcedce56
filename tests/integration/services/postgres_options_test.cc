// The node config's store.postgres block (PostgresOptionsFromConfig, as
// fanoutd reads it) as the pool meets it, on a fresh database of the test's
// PostgreSQL server (skipped where none is installed). connect_timeout_ms
// and reconnect_max_backoff_ms change only how long something takes:
// tests/lint/config_keys_unproven.txt lists them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "node/config/yaml_proto.h"
#include "services/store/postgres.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_store.h"

namespace fanout {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;

constexpr PgStatement kDatabase{"config_test_database", "SELECT current_database()"};

class PostgresOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override { FANOUT_REQUIRE_STORE(where_); }

  // The pool a node config's `store: {postgres: {<keys>}}` opens; its dsn
  // the test database's unless the keys name one.
  absl::StatusOr<std::unique_ptr<Postgres>> Open(const std::string& keys) {
    config::v1::PostgresStore config;
    absl::Status parsed = YamlTextToMessage("{" + keys + "}", "test", &config);
    if (!parsed.ok()) return parsed;
    if (config.dsn().empty()) config.set_dsn(where_.dsn());
    return Postgres::Open(PostgresOptionsFromConfig(config));
  }

  testing::TestStore where_{testing::StoreKind::kPostgres};
};

// proves: store.postgres.dsn
TEST_F(PostgresOptionsTest, TheDsnNamesTheDatabase) {
  absl::StatusOr<std::unique_ptr<Postgres>> db = Open("dsn: \"" + where_.dsn() + "\"");
  ASSERT_THAT(db, IsOk());
  absl::StatusOr<std::vector<SqlRow>> rows = (*db)->Query(kDatabase);
  ASSERT_THAT(rows, IsOk());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_TRUE(absl::StrContains(where_.dsn(), std::get<std::string>((*rows)[0][0])));
  std::string elsewhere =
      where_.dsn().substr(0, where_.dsn().find(" dbname=")) + " dbname=fanout_no_such_database";
  EXPECT_THAT(Open("dsn: \"" + elsewhere + "\""), StatusIs(absl::StatusCode::kUnavailable));
}

// A statement running past the limit is cancelled by the server (the
// default, 5 s, lets this one finish).
// proves: store.postgres.statement_timeout_ms
TEST_F(PostgresOptionsTest, AStatementPastItsTimeoutIsCancelled) {
  absl::StatusOr<std::unique_ptr<Postgres>> db = Open("statement_timeout_ms: 100");
  ASSERT_THAT(db, IsOk());
  EXPECT_THAT((*db)->Transaction([](PgConnection& c) { return c.Exec("SELECT pg_sleep(1)"); }),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
}

// Two connections held, a third call finds none (the default pool holds 8).
// proves: store.postgres.pool_size
TEST_F(PostgresOptionsTest, ThePoolHoldsPoolSizeConnections) {
  absl::StatusOr<std::unique_ptr<Postgres>> db = Open("pool_size: 2, pool_wait_ms: 100");
  ASSERT_THAT(db, IsOk());
  absl::Notification release;
  std::atomic<int> holding{0};
  std::vector<std::thread> holders;
  for (int i = 0; i < 2; ++i) {
    holders.emplace_back([&] {
      EXPECT_THAT((*db)->Transaction([&](PgConnection&) {
        ++holding;
        release.WaitForNotification();
        return absl::OkStatus();
      }),
                  IsOk());
    });
  }
  while (holding.load() < 2) std::this_thread::yield();
  EXPECT_THAT((*db)->Query(kDatabase), StatusIs(absl::StatusCode::kResourceExhausted));
  release.Notify();
  for (std::thread& holder : holders) holder.join();
  EXPECT_THAT((*db)->Query(kDatabase), IsOk());
}

// One connection, held by another call for 1 s: a call that may wait 50 ms
// is refused, naming the key; one that may wait 10 s gets the connection
// once it is free, past the default wait (2 s) too.
// proves: store.postgres.pool_wait_ms
TEST_F(PostgresOptionsTest, ACallWaitsPoolWaitForABusyConnection) {
  auto wait_while_held = [&](const std::string& keys, absl::Duration hold) -> absl::Status {
    absl::StatusOr<std::unique_ptr<Postgres>> db = Open("pool_size: 1, " + keys);
    if (!db.ok()) return db.status();
    absl::Notification holding;
    std::thread holder([&] {
      EXPECT_THAT((*db)->Transaction([&](PgConnection&) {
        holding.Notify();
        absl::SleepFor(hold);
        return absl::OkStatus();
      }),
                  IsOk());
    });
    holding.WaitForNotification();
    absl::Status waited = (*db)->Query(kDatabase).status();
    holder.join();
    return waited;
  };
  absl::Status refused = wait_while_held("pool_wait_ms: 50", absl::Seconds(1));
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_TRUE(absl::StrContains(refused.message(), "pool_wait_ms")) << refused;
  EXPECT_THAT(wait_while_held("pool_wait_ms: 10000", absl::Milliseconds(2500)), IsOk());
}

// A transaction failing with a serialization failure every time runs once
// and again serialization_retries times, then ABORTED (the default: 5).
// proves: store.postgres.serialization_retries
TEST_F(PostgresOptionsTest, SerializationFailuresAreRetriedAsConfigured) {
  absl::StatusOr<std::unique_ptr<Postgres>> db = Open("serialization_retries: 2");
  ASSERT_THAT(db, IsOk());
  int runs = 0;
  absl::Status status = (*db)->Transaction([&](PgConnection& c) {
    ++runs;
    return c.Exec("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$");
  });
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kAborted));
  EXPECT_EQ(runs, 3);
}

}  // namespace
}  // namespace fanout
