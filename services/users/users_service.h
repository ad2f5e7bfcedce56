// The users service: CRUD on users(id, name, email), stored in SQLite.
//
// Requests are validated on the loop (INVALID_ARGUMENT naming the field);
// every database call runs on an OffloadPool, so no loop ever blocks on
// the disk. Writes are durable before they are acknowledged (WAL,
// synchronous=FULL).
//
//   auto store = UsersStore::Open(data_dir + "/users.db");
//   UsersService users(store->get(), &pool);
//   users.Register(server);  server.Start();  users.Serve(server);
//
// Thread-safe.
#pragma once

#include "fanout/users/v1/users.grpc.pb.h"
#include "node/async/offload.h"
#include "node/rpc/server.h"
#include "services/users/users_store.h"

namespace fanout::users {

// Limits on what a user may send.
inline constexpr size_t kMaxNameLength = 100;
inline constexpr size_t kMaxEmailLength = 254;
inline constexpr int kDefaultPageSize = 50;
inline constexpr int kMaxPageSize = 1000;

absl::Status ValidateName(const std::string& name, bool required);
absl::Status ValidateEmail(const std::string& email, bool required);

class UsersService {
 public:
  UsersService(UsersStore* store, OffloadPool* pool) : store_(store), pool_(pool) {}

  void Register(Server& server) { server.RegisterService(&service_); }
  void Serve(Server& server);

  Task<absl::StatusOr<v1::User>> CreateUser(const v1::CreateUserRequest& request);
  Task<absl::StatusOr<v1::User>> GetUser(const v1::GetUserRequest& request);
  Task<absl::StatusOr<v1::ListUsersResponse>> ListUsers(const v1::ListUsersRequest& request);
  Task<absl::StatusOr<v1::User>> UpdateUser(const v1::UpdateUserRequest& request);
  Task<absl::StatusOr<v1::DeleteUserResponse>> DeleteUser(const v1::DeleteUserRequest& request);

 private:
  UsersStore* store_;
  OffloadPool* pool_;
  v1::Users::AsyncService service_;
};

}  // namespace fanout::users
