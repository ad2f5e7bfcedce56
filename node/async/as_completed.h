// AsCompleted: asyncio.as_completed. Runs tasks concurrently and hands back
// each result as soon as it is ready, with the index of the task it came from.
//
//   AsCompleted<absl::StatusOr<Part>> parts(std::move(tasks));
//   while (auto done = co_await parts.Next()) {
//     Send(done->index, done->result);   // fast parts first
//   }
//
// Tasks start at the first Next(). Add() starts more later (work that needs
// an earlier result: a dependency graph). Cancel() cancels those running;
// Next() still returns their results. Destroying the object cancels the
// tasks still running without waiting for them: they must own what they
// use. Loop-affine.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "node/async/child_scope.h"

namespace fanout {

template <StatusLike T>
class AsCompleted {
 public:
  struct Completed {
    size_t index;
    T result;
  };

  explicit AsCompleted(std::vector<Task<T>> tasks = {}) : pending_(std::move(tasks)) {}
  ~AsCompleted() {
    if (state_ && state_->scope.running() > 0) {
      state_->scope.Cancel(absl::CancelledError("as_completed abandoned"));
    }
  }
  AsCompleted(const AsCompleted&) = delete;
  AsCompleted& operator=(const AsCompleted&) = delete;

  // Another task, indexed after those given so far; started at once if
  // Next() has been called, else with the others.
  void Add(Task<T> task) {
    if (!state_) {
      pending_.push_back(std::move(task));
      return;
    }
    StartOne(started_++, std::move(task));
  }

  void Cancel(absl::Status reason) {
    if (state_) state_->scope.Cancel(std::move(reason));
  }

  // The next result in completion order; nullopt when all were returned.
  Task<std::optional<Completed>> Next() {
    if (!state_) Start(co_await CurrentContext());
    if (state_->ready.empty() && state_->scope.running() > 0) {
      co_await state_->scope.NextDone();
    }
    if (state_->ready.empty()) co_return std::nullopt;
    Completed done = std::move(state_->ready.front());
    state_->ready.pop_front();
    co_return done;
  }

 private:
  struct State {
    explicit State(TaskContext parent) : scope(parent) {}
    internal::ChildScope scope;
    std::deque<Completed> ready;
  };

  void Start(TaskContext context) {
    state_ = std::make_shared<State>(context);
    for (auto& task : pending_) StartOne(started_++, std::move(task));
    pending_.clear();
  }

  void StartOne(size_t i, Task<T> task) {
    std::shared_ptr<internal::ChildScope> scope(state_, &state_->scope);
    internal::ChildScope::Start(std::move(scope), std::move(task), [state = state_.get(), i](T r) {
      state->ready.push_back({i, std::move(r)});
    });
  }

  std::vector<Task<T>> pending_;
  size_t started_ = 0;
  std::shared_ptr<State> state_;
};

}  // namespace fanout
