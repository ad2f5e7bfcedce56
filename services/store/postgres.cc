#include "services/store/postgres.h"

#include <poll.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "node/base/log.h"
#include "node/base/status_macros.h"

namespace fanout {

PostgresOptions PostgresOptionsFromConfig(const config::v1::PostgresStore& config) {
  PostgresOptions options{.dsn = config.dsn()};
  if (config.pool_size() > 0) options.pool_size = config.pool_size();
  if (config.statement_timeout_ms() > 0) {
    options.statement_timeout = absl::Milliseconds(config.statement_timeout_ms());
  }
  if (config.pool_wait_ms() > 0) options.pool_wait = absl::Milliseconds(config.pool_wait_ms());
  if (config.connect_timeout_ms() > 0) {
    options.connect_timeout = absl::Milliseconds(config.connect_timeout_ms());
  }
  if (config.reconnect_max_backoff_ms() > 0) {
    options.reconnect_max_backoff = absl::Milliseconds(config.reconnect_max_backoff_ms());
  }
  if (config.serialization_retries() > 0) {
    options.serialization_retries = config.serialization_retries();
  }
  return options;
}

namespace {

constexpr absl::Duration kFirstBackoff = absl::Milliseconds(50);
// Type OIDs (pg_type.h) whose text form is read as a number.
constexpr Oid kBool = 16, kInt8 = 20, kInt2 = 21, kInt4 = 23, kFloat4 = 700, kFloat8 = 701;

std::string Trimmed(const char* message) {
  return std::string(absl::StripTrailingAsciiWhitespace(message ? message : ""));
}

absl::StatusCode CodeOf(absl::string_view sqlstate) {
  if (sqlstate == "23505") return absl::StatusCode::kAlreadyExists;
  if (sqlstate == "40001" || sqlstate == "40P01") return absl::StatusCode::kAborted;
  if (sqlstate == "57014") return absl::StatusCode::kDeadlineExceeded;
  if (absl::StartsWith(sqlstate, "08") || absl::StartsWith(sqlstate, "57P")) {
    return absl::StatusCode::kUnavailable;
  }
  if (absl::StartsWith(sqlstate, "23")) return absl::StatusCode::kFailedPrecondition;
  if (absl::StartsWith(sqlstate, "53")) return absl::StatusCode::kResourceExhausted;
  if (absl::StartsWith(sqlstate, "22")) return absl::StatusCode::kInvalidArgument;
  return absl::StatusCode::kInternal;
}

// The error of a failed command: the server's SQLSTATE when it answered,
// UNAVAILABLE when the connection is gone.
absl::Status ResultError(PGconn* conn, const PGresult* result, absl::string_view what) {
  const char* sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  if (sqlstate == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("postgres: ", what, ": connection lost: ", Trimmed(PQerrorMessage(conn))));
  }
  return absl::Status(CodeOf(sqlstate),
                      absl::StrCat("postgres: ", what, ": ", Trimmed(PQresultErrorMessage(result)),
                                   " (SQLSTATE ", sqlstate, ")"));
}

using ResultPtr = std::unique_ptr<PGresult, void (*)(PGresult*)>;

bool CommandOk(const PGresult* result) {
  ExecStatusType status = PQresultStatus(result);
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

std::vector<SqlRow> Rows(const PGresult* result) {
  std::vector<SqlRow> rows;
  int columns = PQnfields(result);
  rows.reserve(PQntuples(result));
  for (int r = 0; r < PQntuples(result); ++r) {
    SqlRow& row = rows.emplace_back();
    row.reserve(columns);
    for (int c = 0; c < columns; ++c) {
      if (PQgetisnull(result, r, c)) {
        row.emplace_back(std::monostate{});
        continue;
      }
      const char* text = PQgetvalue(result, r, c);
      switch (PQftype(result, c)) {
        case kInt2:
        case kInt4:
        case kInt8:
          row.emplace_back(int64_t{std::strtoll(text, nullptr, 10)});
          break;
        case kBool:
          row.emplace_back(int64_t{text[0] == 't' ? 1 : 0});
          break;
        case kFloat4:
        case kFloat8:
          row.emplace_back(std::strtod(text, nullptr));
          break;
        default:
          row.emplace_back(std::string(text, PQgetlength(result, r, c)));
      }
    }
  }
  return rows;
}

PGconn* ConnectTo(const PostgresOptions& options) {
  // libpq counts whole seconds, at least 2.
  std::string timeout = absl::StrCat(std::max<int64_t>(
      2, absl::ToInt64Seconds(options.connect_timeout + absl::Milliseconds(999))));
  const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
  const char* values[] = {options.dsn.c_str(), timeout.c_str(), "fanoutd", nullptr};
  return PQconnectdbParams(keys, values, /*expand_dbname=*/1);
}

// An idle connection has nothing to read; if it has (the server's
// "terminating connection" before it closed, or the close itself), it is
// not trusted with a statement.
bool LooksAlive(PGconn* conn) {
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) return false;
  if (PQtransactionStatus(conn) != PQTRANS_IDLE) return false;
  pollfd fd{.fd = PQsocket(conn), .events = POLLIN, .revents = 0};
  return ::poll(&fd, 1, 0) == 0;
}

}  // namespace

absl::StatusOr<std::vector<SqlRow>> PgConnection::Run(const PgStatement& statement,
                                                      const std::vector<SqlValue>& params) {
  if (!prepared_.contains(statement.name)) {
    ResultPtr prepared(PQprepare(conn_, statement.name, statement.sql, 0, nullptr), PQclear);
    if (!CommandOk(prepared.get())) {
      return ResultError(conn_, prepared.get(), absl::StrCat("prepare ", statement.name));
    }
    prepared_.insert(statement.name);
  }
  std::vector<std::string> texts(params.size());
  std::vector<const char*> values(params.size(), nullptr);
  for (size_t i = 0; i < params.size(); ++i) {
    const SqlValue& v = params[i];
    if (std::holds_alternative<std::monostate>(v)) continue;
    if (const int64_t* n = std::get_if<int64_t>(&v)) {
      texts[i] = absl::StrCat(*n);
    } else if (const double* d = std::get_if<double>(&v)) {
      texts[i] = absl::StrFormat("%.17g", *d);
    } else {
      texts[i] = std::get<std::string>(v);
    }
    values[i] = texts[i].c_str();
  }
  ResultPtr result(PQexecPrepared(conn_, statement.name, static_cast<int>(values.size()),
                                  values.data(), nullptr, nullptr, 0),
                   PQclear);
  if (!CommandOk(result.get())) return ResultError(conn_, result.get(), statement.name);
  return Rows(result.get());
}

absl::Status PgConnection::Exec(const std::string& sql) {
  ResultPtr result(PQexec(conn_, sql.c_str()), PQclear);
  if (!CommandOk(result.get())) {
    return ResultError(conn_, result.get(), sql.substr(0, sql.find_first_of(" \n(")));
  }
  return absl::OkStatus();
}

Postgres::Postgres(PostgresOptions options) : options_(std::move(options)) {
  MutexLock lock(&mu_);
  backoff_ = kFirstBackoff;
}

absl::StatusOr<std::unique_ptr<Postgres>> Postgres::Open(PostgresOptions options) {
  if (options.dsn.empty()) return absl::InvalidArgumentError("postgres: the dsn is empty");
  if (options.pool_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("postgres: pool_size must be >= 1, got ", options.pool_size));
  }
  std::unique_ptr<Postgres> db(new Postgres(std::move(options)));
  auto first = std::make_unique<PgConnection>();
  FANOUT_RETURN_IF_ERROR(db->Connect(*first));
  MutexLock lock(&db->mu_);
  db->idle_.push_back(std::move(first));
  db->open_or_opening_ = 1;
  return db;
}

Postgres::~Postgres() {
  MutexLock lock(&mu_);
  // Every connection is back: callers finish before the store goes.
  for (auto& c : idle_) PQfinish(c->conn_);
}

absl::Status Postgres::Connect(PgConnection& connection) {
  PQfinish(connection.conn_);
  connection.prepared_.clear();
  connection.conn_ = ConnectTo(options_);
  if (PQstatus(connection.conn_) != CONNECTION_OK) {
    std::string why = Trimmed(PQerrorMessage(connection.conn_));
    // libpq says "timeout expired"; the operator needs the knob that set it.
    if (absl::StrContains(why, "timeout expired")) {
      absl::StrAppend(
          &why, " (connect_timeout_ms: ", absl::FormatDuration(options_.connect_timeout), ")");
    }
    absl::Status error = absl::UnavailableError(absl::StrCat("postgres: cannot connect: ", why));
    PQfinish(connection.conn_);
    connection.conn_ = nullptr;
    return error;
  }
  // NOTICEs (a migration's "already exists, skipping") are not errors:
  // libpq would print each to stderr.
  PQsetNoticeProcessor(
      connection.conn_, [](void*, const char*) {}, nullptr);
  if (connects_.fetch_add(1) > 0) reconnects_.fetch_add(1);
  return connection.Exec(absl::StrCat("SET statement_timeout = ",
                                      absl::ToInt64Milliseconds(options_.statement_timeout)));
}

absl::StatusOr<PgConnection*> Postgres::Acquire() {
  const absl::Time deadline = absl::Now() + options_.pool_wait;
  std::unique_ptr<PgConnection> connection;
  {
    MutexLock lock(&mu_);
    while (connection == nullptr) {
      if (!idle_.empty()) {
        connection = std::move(idle_.back());
        idle_.pop_back();
      } else if (open_or_opening_ < options_.pool_size) {
        ++open_or_opening_;
        connection = std::make_unique<PgConnection>();
      } else if (!changed_.WaitWithDeadline(&mu_, deadline) && absl::Now() >= deadline) {
        return absl::ResourceExhaustedError(
            absl::StrCat("postgres: all ", options_.pool_size, " connections busy for ",
                         absl::FormatDuration(options_.pool_wait), " (pool_size, pool_wait_ms)"));
      }
    }
  }
  if (LooksAlive(connection->conn_)) return connection.release();
  // New, or dead since its last use (the server restarted): (re)connect,
  // after the pool's backoff, until the wait's deadline.
  for (;;) {
    absl::Time at;
    {
      MutexLock lock(&mu_);
      at = next_connect_;
    }
    absl::Status connected;
    if (at <= deadline) {
      absl::SleepFor(at - absl::Now());
      connected = Connect(*connection);
    }
    MutexLock lock(&mu_);
    if (connected.ok() && at <= deadline) {
      backoff_ = kFirstBackoff;
      next_connect_ = absl::InfinitePast();
      return connection.release();
    }
    if (!connected.ok()) {
      last_connect_error_ = std::string(connected.message());
      next_connect_ = absl::Now() + backoff_;
      backoff_ = std::min(backoff_ * 2, options_.reconnect_max_backoff);
    }
    if (at > deadline || absl::Now() >= deadline) {
      PQfinish(connection->conn_);
      --open_or_opening_;
      changed_.Signal();
      // Not tried again when the backoff's next try is past the wait: say so,
      // or the last error would read as this call's.
      std::string why =
          at > deadline
              ? absl::StrCat(
                    "the next connect is due in ",
                    absl::FormatDuration(absl::Trunc(at - absl::Now(), absl::Milliseconds(1))),
                    " (reconnect_max_backoff_ms); the last one failed: ", last_connect_error_)
              : last_connect_error_;
      return absl::UnavailableError(absl::StrCat("postgres: no connection within ",
                                                 absl::FormatDuration(options_.pool_wait),
                                                 " (pool_wait_ms): ", why));
    }
  }
}

void Postgres::Release(PgConnection* connection) {
  std::unique_ptr<PgConnection> owned(connection);
  bool reusable = !owned->broken() && PQtransactionStatus(owned->conn_) == PQTRANS_IDLE;
  if (!reusable) {
    PQfinish(owned->conn_);
    owned->conn_ = nullptr;
  }
  MutexLock lock(&mu_);
  if (reusable) {
    idle_.push_back(std::move(owned));
  } else {
    --open_or_opening_;
  }
  changed_.Signal();
}

absl::Status Postgres::WithRetries(absl::FunctionRef<absl::Status(PgConnection&)> work) {
  thread_local std::minstd_rand random(std::random_device{}());
  for (int attempt = 0;; ++attempt) {
    FANOUT_ASSIGN_OR_RETURN(PgConnection * connection, Acquire());
    absl::Status status = work(*connection);
    Release(connection);
    if (!absl::IsAborted(status) || attempt >= options_.serialization_retries) return status;
    // Jittered, so two replicas that collided do not collide again.
    absl::SleepFor(absl::Microseconds(random() % (500 * (attempt + 1))));
  }
}

absl::StatusOr<std::vector<SqlRow>> Postgres::Query(const PgStatement& statement,
                                                    const std::vector<SqlValue>& params) {
  absl::StatusOr<std::vector<SqlRow>> rows;
  absl::Status status = WithRetries([&](PgConnection& c) {
    rows = c.Run(statement, params);
    return rows.status();
  });
  if (!status.ok()) return status;
  return rows;
}

absl::Status Postgres::Transaction(absl::FunctionRef<absl::Status(PgConnection&)> work) {
  return WithRetries([&](PgConnection& c) -> absl::Status {
    FANOUT_RETURN_IF_ERROR(c.Exec("BEGIN"));
    absl::Status status = work(c);
    if (status.ok()) return c.Exec("COMMIT");
    if (!c.broken()) (void)c.Exec("ROLLBACK");
    return status;
  });
}

absl::Status Postgres::Migrate(const std::string& component,
                               const std::vector<std::string>& steps) {
  static constexpr PgStatement kGet{"fanout_schema_version_get",
                                    "SELECT version FROM schema_version WHERE component = $1"};
  static constexpr PgStatement kSet{
      "fanout_schema_version_set",
      "INSERT INTO schema_version (component, version) VALUES ($1, $2)"
      " ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version"};
  return Transaction([&](PgConnection& c) -> absl::Status {
    // Replicas starting together migrate one after the other.
    FANOUT_RETURN_IF_ERROR(c.Exec("SELECT pg_advisory_xact_lock(7166016)"));
    FANOUT_RETURN_IF_ERROR(
        c.Exec("CREATE TABLE IF NOT EXISTS schema_version ("
               " component TEXT PRIMARY KEY, version BIGINT NOT NULL)"));
    FANOUT_ASSIGN_OR_RETURN(auto rows, c.Run(kGet, {component}));
    int64_t version = rows.empty() ? 0 : std::get<int64_t>(rows[0][0]);
    if (version > static_cast<int64_t>(steps.size())) {
      return absl::FailedPreconditionError(
          absl::StrCat("postgres: ", component, " schema is at version ", version,
                       ", newer than this binary's ", steps.size(), ": run a newer fanoutd"));
    }
    for (size_t i = version; i < steps.size(); ++i) FANOUT_RETURN_IF_ERROR(c.Exec(steps[i]));
    if (version < static_cast<int64_t>(steps.size())) {
      FANOUT_LOG(INFO) << "postgres: " << component << " schema migrated from version " << version
                       << " to " << steps.size();
    }
    return c.Run(kSet, {component, static_cast<int64_t>(steps.size())}).status();
  });
}

}  // namespace fanout
