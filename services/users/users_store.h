// UsersStore: the users table. Two implementations: SQLite (Open, the
// embedded default) and PostgreSQL (OpenPostgres, several replicas may
// share it). Both create and migrate their schema when opened.
// Blocking: call it through Offload. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fanout/users/v1/users.pb.h"
#include "services/store/postgres.h"

namespace fanout::users {

class UsersStore {
 public:
  // SQLite at `path` (created if needed).
  static absl::StatusOr<std::unique_ptr<UsersStore>> Open(const std::string& path);
  // PostgreSQL: a pool of `options.pool_size` connections.
  static absl::StatusOr<std::unique_ptr<UsersStore>> OpenPostgres(PostgresOptions options);
  virtual ~UsersStore() = default;

  // ALREADY_EXISTS when the email is taken.
  virtual absl::StatusOr<v1::User> Create(const std::string& name, const std::string& email) = 0;
  // NOT_FOUND naming the id.
  virtual absl::StatusOr<v1::User> Get(int64_t id) = 0;
  // Users with id > `after_id`, at most `limit`.
  virtual absl::StatusOr<std::vector<v1::User>> List(int64_t after_id, int limit) = 0;
  // Empty `name`/`email` keep the current value.
  virtual absl::StatusOr<v1::User> Update(int64_t id, const std::string& name,
                                          const std::string& email) = 0;
  virtual absl::Status Delete(int64_t id) = 0;
};

}  // namespace fanout::users
