#include "services/users/users_service.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "node/base/status_macros.h"

namespace fanout::users {
namespace {

absl::Status ValidateId(int64_t id) {
  if (id <= 0) return absl::InvalidArgumentError(absl::StrCat("id must be > 0, got ", id));
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateName(const std::string& name, bool required) {
  if (name.empty()) {
    return required ? absl::InvalidArgumentError("name must not be empty") : absl::OkStatus();
  }
  if (name.size() > kMaxNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("name must be at most ", kMaxNameLength, " bytes, got ", name.size()));
  }
  return absl::OkStatus();
}

absl::Status ValidateEmail(const std::string& email, bool required) {
  if (email.empty()) {
    return required ? absl::InvalidArgumentError("email must not be empty") : absl::OkStatus();
  }
  if (email.size() > kMaxEmailLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("email must be at most ", kMaxEmailLength, " bytes, got ", email.size()));
  }
  size_t at = email.find('@');
  bool valid = at != std::string::npos && at > 0 && email.find('@', at + 1) == std::string::npos &&
               email.find('.', at + 2) != std::string::npos && email.back() != '.' &&
               email.find_first_of(" \t\r\n,;<>") == std::string::npos;
  if (!valid) {
    return absl::InvalidArgumentError(
        absl::StrCat("email \"", email, "\" is not an address like name@example.com"));
  }
  return absl::OkStatus();
}

void UsersService::Serve(Server& server) {
  using S = v1::Users::AsyncService;
  server.ServeUnary(
      &service_, &S::RequestCreateUser,
      [this](grpc::ServerContext&, const v1::CreateUserRequest& r) { return CreateUser(r); });
  server.ServeUnary(
      &service_, &S::RequestGetUser,
      [this](grpc::ServerContext&, const v1::GetUserRequest& r) { return GetUser(r); });
  server.ServeUnary(
      &service_, &S::RequestListUsers,
      [this](grpc::ServerContext&, const v1::ListUsersRequest& r) { return ListUsers(r); });
  server.ServeUnary(
      &service_, &S::RequestUpdateUser,
      [this](grpc::ServerContext&, const v1::UpdateUserRequest& r) { return UpdateUser(r); });
  server.ServeUnary(
      &service_, &S::RequestDeleteUser,
      [this](grpc::ServerContext&, const v1::DeleteUserRequest& r) { return DeleteUser(r); });
}

Task<absl::StatusOr<v1::User>> UsersService::CreateUser(const v1::CreateUserRequest& request) {
  FANOUT_CO_RETURN_IF_ERROR(ValidateName(request.name(), /*required=*/true));
  FANOUT_CO_RETURN_IF_ERROR(ValidateEmail(request.email(), /*required=*/true));
  co_return co_await Offload(*pool_,
                             [&] { return store_->Create(request.name(), request.email()); });
}

Task<absl::StatusOr<v1::User>> UsersService::GetUser(const v1::GetUserRequest& request) {
  FANOUT_CO_RETURN_IF_ERROR(ValidateId(request.id()));
  co_return co_await Offload(*pool_, [&] { return store_->Get(request.id()); });
}

Task<absl::StatusOr<v1::ListUsersResponse>> UsersService::ListUsers(
    const v1::ListUsersRequest& request) {
  int size = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  if (size < 0 || size > kMaxPageSize) {
    co_return absl::InvalidArgumentError(
        absl::StrCat("page_size must be in [0, ", kMaxPageSize, "], got ", request.page_size()));
  }
  int64_t after = 0;
  if (!request.page_token().empty() &&
      (!absl::SimpleAtoi(request.page_token(), &after) || after < 0)) {
    co_return absl::InvalidArgumentError(
        absl::StrCat("page_token \"", request.page_token(), "\" is not one this service gave"));
  }
  // One more than asked tells whether another page follows.
  FANOUT_CO_ASSIGN_OR_RETURN(std::vector<v1::User> users, co_await Offload(*pool_, [&] {
                               return store_->List(after, size + 1);
                             }));
  v1::ListUsersResponse response;
  bool more = static_cast<int>(users.size()) > size;
  if (more) users.pop_back();
  for (auto& user : users) *response.add_users() = std::move(user);
  if (more) response.set_next_page_token(absl::StrCat(response.users().rbegin()->id()));
  co_return response;
}

Task<absl::StatusOr<v1::User>> UsersService::UpdateUser(const v1::UpdateUserRequest& request) {
  FANOUT_CO_RETURN_IF_ERROR(ValidateId(request.id()));
  FANOUT_CO_RETURN_IF_ERROR(ValidateName(request.name(), /*required=*/false));
  FANOUT_CO_RETURN_IF_ERROR(ValidateEmail(request.email(), /*required=*/false));
  if (request.name().empty() && request.email().empty()) {
    co_return absl::InvalidArgumentError("nothing to update: set name or email");
  }
  co_return co_await Offload(
      *pool_, [&] { return store_->Update(request.id(), request.name(), request.email()); });
}

Task<absl::StatusOr<v1::DeleteUserResponse>> UsersService::DeleteUser(
    const v1::DeleteUserRequest& request) {
  FANOUT_CO_RETURN_IF_ERROR(ValidateId(request.id()));
  FANOUT_CO_RETURN_IF_ERROR(co_await Offload(*pool_, [&] { return store_->Delete(request.id()); }));
  co_return v1::DeleteUserResponse();
}

}  // namespace fanout::users
