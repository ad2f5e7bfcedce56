#include "services/store/sqlite.h"

#include "absl/strings/str_cat.h"
#include "node/base/status_macros.h"

namespace fanout {

absl::StatusOr<std::unique_ptr<Sqlite>> Sqlite::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("sqlite: cannot open ", path, ": ", message));
  }
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<Sqlite> store(new Sqlite(db));
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
    absl::StatusOr<std::vector<SqlRow>> done = store->Query(pragma);
    if (!done.ok()) return done.status();
  }
  return store;
}

Sqlite::~Sqlite() { sqlite3_close(db_); }

absl::Status Sqlite::Error(const std::string& what, int rc) {
  std::string message = absl::StrCat("sqlite: ", what, ": ", sqlite3_errmsg(db_));
  int primary = rc & 0xff;
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return absl::AlreadyExistsError(message);
  }
  if (primary == SQLITE_CONSTRAINT) return absl::FailedPreconditionError(message);
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return absl::UnavailableError(message);
  if (primary == SQLITE_FULL || primary == SQLITE_IOERR || primary == SQLITE_CORRUPT) {
    return absl::DataLossError(message);
  }
  return absl::InternalError(message);
}

absl::Status Sqlite::Exec(const std::string& sql) {
  MutexLock lock(&mu_);
  char* error = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return absl::OkStatus();
  std::string message = error ? error : "";
  sqlite3_free(error);
  return absl::InternalError(absl::StrCat("sqlite: ", message));
}

absl::StatusOr<std::vector<SqlRow>> Sqlite::Query(const std::string& sql,
                                                  const std::vector<SqlValue>& params) {
  MutexLock lock(&mu_);
  return RunLocked(sql, params);
}

absl::StatusOr<Sqlite::Change> Sqlite::Execute(const std::string& sql,
                                               const std::vector<SqlValue>& params) {
  MutexLock lock(&mu_);
  absl::StatusOr<std::vector<SqlRow>> rows = RunLocked(sql, params);
  if (!rows.ok()) return rows.status();
  return Change{sqlite3_changes(db_), sqlite3_last_insert_rowid(db_)};
}

absl::Status Sqlite::Migrate(const std::string& component, const std::vector<std::string>& steps) {
  FANOUT_RETURN_IF_ERROR(
      Exec("CREATE TABLE IF NOT EXISTS schema_version ("
           " component TEXT PRIMARY KEY, version INTEGER NOT NULL)"));
  // IMMEDIATE: a second process opening the same file waits (busy_timeout)
  // instead of migrating beside this one.
  FANOUT_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  absl::Status done = [&]() -> absl::Status {
    FANOUT_ASSIGN_OR_RETURN(
        auto rows, Query("SELECT version FROM schema_version WHERE component = ?", {component}));
    int64_t version = rows.empty() ? 0 : std::get<int64_t>(rows[0][0]);
    if (version > static_cast<int64_t>(steps.size())) {
      return absl::FailedPreconditionError(
          absl::StrCat("sqlite: ", component, " schema is at version ", version,
                       ", newer than this binary's ", steps.size(), ": run a newer fanoutd"));
    }
    for (size_t i = version; i < steps.size(); ++i) FANOUT_RETURN_IF_ERROR(Exec(steps[i]));
    return Execute(
               "INSERT INTO schema_version (component, version) VALUES (?, ?)"
               " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
               {component, static_cast<int64_t>(steps.size())})
        .status();
  }();
  if (!done.ok()) {
    (void)Exec("ROLLBACK");
    return done;
  }
  return Exec("COMMIT");
}

absl::StatusOr<std::vector<SqlRow>> Sqlite::RunLocked(const std::string& sql,
                                                      const std::vector<SqlValue>& params) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return Error("prepare", rc);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owned(stmt, sqlite3_finalize);
  for (size_t i = 0; i < params.size(); ++i) {
    int index = static_cast<int>(i) + 1;
    const SqlValue& v = params[i];
    if (std::holds_alternative<int64_t>(v)) {
      sqlite3_bind_int64(stmt, index, std::get<int64_t>(v));
    } else if (std::holds_alternative<double>(v)) {
      sqlite3_bind_double(stmt, index, std::get<double>(v));
    } else if (std::holds_alternative<std::string>(v)) {
      const std::string& s = std::get<std::string>(v);
      sqlite3_bind_text(stmt, index, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    } else {
      sqlite3_bind_null(stmt, index);
    }
  }
  std::vector<SqlRow> rows;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    SqlRow row;
    for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
      switch (sqlite3_column_type(stmt, c)) {
        case SQLITE_INTEGER:
          row.emplace_back(int64_t{sqlite3_column_int64(stmt, c)});
          break;
        case SQLITE_FLOAT:
          row.emplace_back(sqlite3_column_double(stmt, c));
          break;
        case SQLITE_NULL:
          row.emplace_back(std::monostate{});
          break;
        default:
          row.emplace_back(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, c)),
                                       sqlite3_column_bytes(stmt, c)));
      }
    }
    rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) return Error("step", sqlite3_extended_errcode(db_));
  return rows;
}

}  // namespace fanout
