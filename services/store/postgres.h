// Postgres: a bounded pool of libpq connections for the data services.
// Every call blocks its thread: run it through Offload (one Offload thread
// per connection is the intended shape), never on a loop.
//
//   FANOUT_ASSIGN_OR_RETURN(auto db, Postgres::Open({.dsn = dsn, .pool_size = 8}));
//   FANOUT_RETURN_IF_ERROR(db->Migrate("users", {"CREATE TABLE users (...)"}));
//   static constexpr PgStatement kGet{"users_get", "SELECT name FROM users WHERE id = $1"};
//   auto rows = db->Query(kGet, {int64_t{id}});
//
// Statements are prepared once per connection (by name) and take bound
// parameters. A call waits at most `pool_wait` for a connection.
// Connections open lazily, up to `pool_size`; one found dead (the server
// restarted) is replaced before use, and failed connects back off from
// 50 ms to `reconnect_max_backoff`, so a restart costs the statements that
// were running on the server, and a call arriving meanwhile waits for it.
//
// Errors (SQLSTATE → code): 23505 unique violation → ALREADY_EXISTS; other
// integrity violations (23xxx) → FAILED_PRECONDITION; 40001 serialization
// failure and 40P01 deadlock → run again up to `serialization_retries`
// times, then ABORTED; 57014 (statement_timeout) → DEADLINE_EXCEEDED; a lost
// connection, 08xxx and 57P0x (shutdown, starting up) → UNAVAILABLE; 53xxx
// → RESOURCE_EXHAUSTED; 22xxx → INVALID_ARGUMENT; anything else INTERNAL.
// Messages start "postgres: " and carry the server's.
//
// Thread-safe.
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fanout/config/v1/node_config.pb.h"
#include "node/base/sync.h"
#include "services/store/sql_value.h"

namespace fanout {

struct PostgresOptions {
  std::string dsn;
  int pool_size = 8;
  absl::Duration statement_timeout = absl::Seconds(5);
  absl::Duration pool_wait = absl::Seconds(2);
  absl::Duration connect_timeout = absl::Seconds(3);
  absl::Duration reconnect_max_backoff = absl::Seconds(1);
  int serialization_retries = 5;
};

// The node config's `store.postgres` block, its 0s read as the defaults
// above. The dsn as it is: an empty one is filled from FANOUT_POSTGRES_DSN
// before (fanoutd's node_config.cc).
PostgresOptions PostgresOptionsFromConfig(const config::v1::PostgresStore& config);

// A statement prepared once per connection under `name` (unique per store).
struct PgStatement {
  const char* name;
  const char* sql;
};

// One connection, held by one caller between acquire and release.
class PgConnection {
 public:
  // Runs `statement` (prepared on first use here) with `params`.
  absl::StatusOr<std::vector<SqlRow>> Run(const PgStatement& statement,
                                          const std::vector<SqlValue>& params = {});
  // Simple-protocol text without parameters (BEGIN, COMMIT, DDL).
  absl::Status Exec(const std::string& sql);
  bool broken() const { return conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK; }

 private:
  friend class Postgres;
  PGconn* conn_ = nullptr;
  std::set<std::string> prepared_;
};

class Postgres {
 public:
  // Connects once to check the DSN and the server (UNAVAILABLE when it
  // cannot: the message names the server's answer, never the password).
  static absl::StatusOr<std::unique_ptr<Postgres>> Open(PostgresOptions options);
  ~Postgres();
  Postgres(const Postgres&) = delete;
  Postgres& operator=(const Postgres&) = delete;

  // One statement, committed on its own.
  absl::StatusOr<std::vector<SqlRow>> Query(const PgStatement& statement,
                                            const std::vector<SqlValue>& params = {});
  // `work` inside BEGIN ... COMMIT on one connection; rolled back if it
  // fails; run again on a serialization failure or deadlock.
  absl::Status Transaction(absl::FunctionRef<absl::Status(PgConnection&)> work);
  // As Sqlite::Migrate: `steps` brought up to date under a schema_version
  // table, one replica at a time (an advisory lock), in one transaction.
  absl::Status Migrate(const std::string& component, const std::vector<std::string>& steps);

  const PostgresOptions& options() const { return options_; }
  // Connections opened after the first, counted for tests and logs.
  int64_t reconnects() const { return reconnects_.load(); }

 private:
  explicit Postgres(PostgresOptions options);
  absl::StatusOr<PgConnection*> Acquire();
  void Release(PgConnection* connection);
  // Opens `connection`; the pool's backoff decides when a failed one is retried.
  absl::Status Connect(PgConnection& connection);
  absl::Status WithRetries(absl::FunctionRef<absl::Status(PgConnection&)> work);

  const PostgresOptions options_;
  std::atomic<int64_t> reconnects_{0};
  std::atomic<int64_t> connects_{0};
  Mutex mu_;
  CondVar changed_;
  std::vector<std::unique_ptr<PgConnection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_or_opening_ ABSL_GUARDED_BY(mu_) = 0;  // held + idle + connecting
  absl::Time next_connect_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_);
  std::string last_connect_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fanout
