#include "services/users/users_store.h"

#include "absl/strings/str_cat.h"
#include "node/base/status_macros.h"

namespace fanout::users {
namespace {

v1::User FromRow(const SqlRow& row) {
  v1::User user;
  user.set_id(std::get<int64_t>(row[0]));
  user.set_name(std::get<std::string>(row[1]));
  user.set_email(std::get<std::string>(row[2]));
  return user;
}

absl::Status NotFound(int64_t id) {
  return absl::NotFoundError(absl::StrCat("user ", id, " not found"));
}

absl::Status EmailTaken(const absl::Status& s, const std::string& email) {
  if (!absl::IsAlreadyExists(s)) return s;
  return absl::AlreadyExistsError(absl::StrCat("email \"", email, "\" is already in use"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<UsersStore>> UsersStore::Open(const std::string& path) {
  FANOUT_ASSIGN_OR_RETURN(std::unique_ptr<Sqlite> db, Sqlite::Open(path));
  FANOUT_RETURN_IF_ERROR(
      db->Exec("CREATE TABLE IF NOT EXISTS users ("
               " id INTEGER PRIMARY KEY AUTOINCREMENT,"
               " name TEXT NOT NULL,"
               " email TEXT NOT NULL UNIQUE)"));
  return std::unique_ptr<UsersStore>(new UsersStore(std::move(db)));
}

absl::StatusOr<v1::User> UsersStore::Create(const std::string& name, const std::string& email) {
  absl::StatusOr<Sqlite::Change> change =
      db_->Execute("INSERT INTO users (name, email) VALUES (?, ?)", {name, email});
  if (!change.ok()) return EmailTaken(change.status(), email);
  v1::User user;
  user.set_id(change->last_id);
  user.set_name(name);
  user.set_email(email);
  return user;
}

absl::StatusOr<v1::User> UsersStore::Get(int64_t id) {
  FANOUT_ASSIGN_OR_RETURN(auto rows,
                          db_->Query("SELECT id, name, email FROM users WHERE id = ?", {id}));
  if (rows.empty()) return NotFound(id);
  return FromRow(rows[0]);
}

absl::StatusOr<std::vector<v1::User>> UsersStore::List(int64_t after_id, int limit) {
  FANOUT_ASSIGN_OR_RETURN(
      auto rows, db_->Query("SELECT id, name, email FROM users WHERE id > ? ORDER BY id LIMIT ?",
                            {after_id, int64_t{limit}}));
  std::vector<v1::User> users;
  users.reserve(rows.size());
  for (const SqlRow& row : rows) users.push_back(FromRow(row));
  return users;
}

absl::StatusOr<v1::User> UsersStore::Update(int64_t id, const std::string& name,
                                            const std::string& email) {
  absl::StatusOr<Sqlite::Change> change = db_->Execute(
      "UPDATE users SET name = COALESCE(NULLIF(?, ''), name),"
      " email = COALESCE(NULLIF(?, ''), email) WHERE id = ?",
      {name, email, id});
  if (!change.ok()) return EmailTaken(change.status(), email);
  if (change->rows == 0) return NotFound(id);
  return Get(id);
}

absl::Status UsersStore::Delete(int64_t id) {
  FANOUT_ASSIGN_OR_RETURN(Sqlite::Change change,
                          db_->Execute("DELETE FROM users WHERE id = ?", {id}));
  if (change.rows == 0) return NotFound(id);
  return absl::OkStatus();
}

}  // namespace fanout::users
