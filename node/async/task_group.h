// TaskGroup: asyncio.TaskGroup, structured concurrency for a dynamic number
// of children. Children start at once and run concurrently; Wait() returns
// when all are done, with the first failure, which also cancelled the rest.
//
//   TaskGroup group(co_await CurrentContext());
//   for (const auto& id : ids) group.Spawn(Refresh(id));
//   FANOUT_CO_RETURN_IF_ERROR(co_await group.Wait());
//
// Destroying a group cancels children still running (they finish on their
// own soon after). Loop-affine.
#pragma once

#include <memory>

#include "node/async/child_scope.h"

namespace fanout {

class TaskGroup {
 public:
  explicit TaskGroup(TaskContext parent) : state_(std::make_shared<State>(parent)) {}
  ~TaskGroup() {
    if (state_->scope.running() > 0) Cancel();
  }
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  void Spawn(Task<absl::Status> task) {
    std::shared_ptr<internal::ChildScope> scope(state_, &state_->scope);
    internal::ChildScope::Start(std::move(scope), std::move(task),
                                [state = state_.get()](absl::Status s) { state->Observe(s); });
  }

  // Waits for every child spawned so far; OK or the first failure.
  Task<absl::Status> Wait() {
    std::shared_ptr<State> state = state_;
    co_await state->scope.Join();
    co_return state->error;
  }

  void Cancel() { state_->scope.Cancel(absl::CancelledError("task group cancelled")); }
  int running() const { return state_->scope.running(); }

 private:
  struct State {
    explicit State(TaskContext parent) : scope(parent) {}
    void Observe(const absl::Status& s) {
      if (s.ok() || !error.ok()) return;
      error = s;
      scope.Cancel(absl::CancelledError("a sibling task failed: " + s.ToString()));
    }
    internal::ChildScope scope;
    absl::Status error;
  };
  std::shared_ptr<State> state_;
};

}  // namespace fanout
