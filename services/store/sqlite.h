// Sqlite: a small, blocking SQLite wrapper for embedded stores. Every call
// blocks: run it through Offload, never on a loop.
//
//   FANOUT_ASSIGN_OR_RETURN(auto db, Sqlite::Open(path));   // WAL, durable commits
//   FANOUT_RETURN_IF_ERROR(db->Exec("CREATE TABLE IF NOT EXISTS ..."));
//   auto rows = db->Query("SELECT id, name FROM users WHERE id > ?", {Value(after)});
//
// Durability: WAL journal with synchronous=FULL, so a statement that
// returned OK survives a crash or a restart. Errors carry SQLite's message;
// a UNIQUE constraint violation is ALREADY_EXISTS.
//
// Thread-safe: one connection, calls serialised by a mutex.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "node/base/sync.h"
#include "services/store/sql_value.h"

namespace fanout {

class Sqlite {
 public:
  static absl::StatusOr<std::unique_ptr<Sqlite>> Open(const std::string& path);
  ~Sqlite();

  absl::Status Exec(const std::string& sql);
  // Runs one statement with bound parameters; returns its rows.
  absl::StatusOr<std::vector<SqlRow>> Query(const std::string& sql,
                                            const std::vector<SqlValue>& params = {});
  // For INSERT/UPDATE/DELETE: rows changed and the last inserted rowid.
  struct Change {
    int64_t rows = 0;
    int64_t last_id = 0;
  };
  absl::StatusOr<Change> Execute(const std::string& sql, const std::vector<SqlValue>& params);

  // Brings `component`'s tables to the last of `steps` (step i is schema
  // version i + 1), in one transaction, recording the version in
  // schema_version(component, version). FAILED_PRECONDITION when the file
  // is at a version newer than `steps` knows (a newer binary wrote it).
  absl::Status Migrate(const std::string& component, const std::vector<std::string>& steps);

 private:
  explicit Sqlite(sqlite3* db) : db_(db) {}
  absl::Status Error(const std::string& what, int rc);
  absl::StatusOr<std::vector<SqlRow>> RunLocked(const std::string& sql,
                                                const std::vector<SqlValue>& params)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Mutex mu_;
  sqlite3* db_;
};

}  // namespace fanout
