// UsersStore: the users table in SQLite. Blocking: call it through Offload.
// Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fanout/users/v1/users.pb.h"
#include "services/store/sqlite.h"

namespace fanout::users {

class UsersStore {
 public:
  // Creates the table if needed.
  static absl::StatusOr<std::unique_ptr<UsersStore>> Open(const std::string& path);

  // ALREADY_EXISTS when the email is taken.
  absl::StatusOr<v1::User> Create(const std::string& name, const std::string& email);
  // NOT_FOUND naming the id.
  absl::StatusOr<v1::User> Get(int64_t id);
  // Users with id > `after_id`, at most `limit`.
  absl::StatusOr<std::vector<v1::User>> List(int64_t after_id, int limit);
  // Empty `name`/`email` keep the current value.
  absl::StatusOr<v1::User> Update(int64_t id, const std::string& name, const std::string& email);
  absl::Status Delete(int64_t id);

 private:
  explicit UsersStore(std::unique_ptr<Sqlite> db) : db_(std::move(db)) {}
  std::unique_ptr<Sqlite> db_;
};

}  // namespace fanout::users
