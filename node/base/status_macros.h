// Early-return macros for absl::Status and absl::StatusOr, in plain and
// coroutine (`co_return`) forms.
//
//   absl::StatusOr<Config> Load(std::string_view path) {
//     FANOUT_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
//     FANOUT_RETURN_IF_ERROR(Validate(text));
//     ...
//   }
//
//   Task<absl::Status> Handle() {
//     FANOUT_CO_ASSIGN_OR_RETURN(auto user, co_await GetUser(id));
//     FANOUT_CO_RETURN_IF_ERROR(co_await Save(user));
//     co_return absl::OkStatus();
//   }
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fanout::internal {
inline const absl::Status& AsStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& AsStatus(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace fanout::internal

#define FANOUT_CONCAT_INNER_(a, b) a##b
#define FANOUT_CONCAT_(a, b) FANOUT_CONCAT_INNER_(a, b)

#define FANOUT_RETURN_IF_ERROR(expr)                            \
  do {                                                          \
    auto fanout_status_ = ::fanout::internal::AsStatus((expr)); \
    if (!fanout_status_.ok()) return fanout_status_;            \
  } while (0)

#define FANOUT_ASSIGN_OR_RETURN(lhs, expr) \
  FANOUT_ASSIGN_OR_RETURN_IMPL_(FANOUT_CONCAT_(fanout_statusor_, __LINE__), lhs, expr, return )

#define FANOUT_CO_RETURN_IF_ERROR(expr)                         \
  do {                                                          \
    auto fanout_status_ = ::fanout::internal::AsStatus((expr)); \
    if (!fanout_status_.ok()) co_return fanout_status_;         \
  } while (0)

#define FANOUT_CO_ASSIGN_OR_RETURN(lhs, expr) \
  FANOUT_ASSIGN_OR_RETURN_IMPL_(FANOUT_CONCAT_(fanout_statusor_, __LINE__), lhs, expr, co_return )
// NOLINTs: `tmp` is a name and `lhs` a declaration (`auto x`), neither can be parenthesized.
#define FANOUT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr, ret)                             \
  auto tmp = (expr);                          /* NOLINT(bugprone-macro-parentheses) */ \
  if (!tmp.ok()) ret std::move(tmp).status(); /* NOLINT(bugprone-macro-parentheses) */ \
  lhs = std::move(tmp).value()                /* NOLINT(bugprone-macro-parentheses) */
