// Gather and GatherSettled: asyncio.gather, without and with
// return_exceptions=True. Both run their tasks concurrently on the current
// loop and return when every task has finished.
//
// Gather: all values, or the first error. The first error cancels the other
// tasks (they see CANCELLED at their next await); Gather still waits for them
// to finish, so nothing outlives it.
//
//   FANOUT_CO_ASSIGN_OR_RETURN(auto both, co_await Gather(GetUser(id), GetOrders(id)));
//   auto& [user, orders] = both;
//
// GatherSettled: every result, each a Status/StatusOr: partial results.
//
//   auto [user, orders] = co_await GatherSettled(GetUser(id), GetOrders(id));
//   if (!orders.ok()) ... report the part, keep the user ...
//
// Tasks must return absl::Status or absl::StatusOr<T>. Loop-affine.
#pragma once

#include <memory>
#include <optional>
#include <tuple>
#include <vector>

#include "node/async/child_scope.h"

namespace fanout {
namespace internal {

template <typename T>
struct ValueOf;
template <typename T>
struct ValueOf<absl::StatusOr<T>> {
  using type = T;
};

}  // namespace internal

// Every result, in the order given.
template <StatusLike T>
Task<std::vector<T>> GatherSettled(std::vector<Task<T>> tasks) {
  auto scope = std::make_shared<internal::ChildScope>(co_await CurrentContext());
  std::vector<std::optional<T>> slots(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    internal::ChildScope::Start(scope, std::move(tasks[i]),
                                [slot = &slots[i]](T r) { slot->emplace(std::move(r)); });
  }
  co_await scope->Join();
  std::vector<T> results;
  results.reserve(slots.size());
  for (auto& slot : slots) results.push_back(std::move(*slot));
  co_return results;
}

template <StatusLike... T>
Task<std::tuple<T...>> GatherSettled(Task<T>... tasks) {
  auto scope = std::make_shared<internal::ChildScope>(co_await CurrentContext());
  std::tuple<std::optional<T>...> slots;
  [&]<size_t... I>(std::index_sequence<I...>) {
    (internal::ChildScope::Start(
         scope, std::move(tasks),
         [slot = &std::get<I>(slots)](auto r) { slot->emplace(std::move(r)); }),
     ...);
  }
  (std::index_sequence_for<T...>{});
  co_await scope->Join();
  co_return std::apply([](auto&... slot) { return std::tuple<T...>(std::move(*slot)...); }, slots);
}

namespace internal {

// Records the first error and cancels the siblings.
class FirstError {
 public:
  explicit FirstError(ChildScope* scope) : scope_(scope) {}
  void Observe(const absl::Status& status) {
    if (status.ok() || !error_.ok()) return;
    error_ = status;
    scope_->Cancel(absl::CancelledError("a sibling task failed: " + status.ToString()));
  }
  const absl::Status& error() const { return error_; }

 private:
  ChildScope* scope_;
  absl::Status error_;
};

}  // namespace internal

// OK when every task is OK; otherwise the first error.
inline Task<absl::Status> Gather(std::vector<Task<absl::Status>> tasks) {
  auto scope = std::make_shared<internal::ChildScope>(co_await CurrentContext());
  internal::FirstError first(scope.get());
  for (auto& task : tasks) {
    internal::ChildScope::Start(scope, std::move(task),
                                [&first](absl::Status s) { first.Observe(s); });
  }
  co_await scope->Join();
  co_return first.error();
}

// Every value in the order given, or the first error.
template <typename T>
Task<absl::StatusOr<std::vector<T>>> Gather(std::vector<Task<absl::StatusOr<T>>> tasks) {
  auto scope = std::make_shared<internal::ChildScope>(co_await CurrentContext());
  internal::FirstError first(scope.get());
  std::vector<std::optional<T>> slots(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    internal::ChildScope::Start(scope, std::move(tasks[i]),
                                [&first, slot = &slots[i]](absl::StatusOr<T> r) {
                                  first.Observe(r.status());
                                  if (r.ok()) slot->emplace(*std::move(r));
                                });
  }
  co_await scope->Join();
  if (!first.error().ok()) co_return first.error();
  std::vector<T> values;
  values.reserve(slots.size());
  for (auto& slot : slots) values.push_back(std::move(*slot));
  co_return values;
}

// A tuple of every value, or the first error.
template <typename... T>
Task<absl::StatusOr<std::tuple<T...>>> Gather(Task<absl::StatusOr<T>>... tasks) {
  auto scope = std::make_shared<internal::ChildScope>(co_await CurrentContext());
  internal::FirstError first(scope.get());
  std::tuple<std::optional<T>...> slots;
  [&]<size_t... I>(std::index_sequence<I...>) {
    (internal::ChildScope::Start(scope, std::move(tasks),
                                 [&first, slot = &std::get<I>(slots)](auto r) {
                                   first.Observe(r.status());
                                   if (r.ok()) slot->emplace(*std::move(r));
                                 }),
     ...);
  }
  (std::index_sequence_for<T...>{});
  co_await scope->Join();
  if (!first.error().ok()) co_return first.error();
  co_return std::apply([](auto&... slot) { return std::tuple<T...>(std::move(*slot)...); }, slots);
}

}  // namespace fanout
