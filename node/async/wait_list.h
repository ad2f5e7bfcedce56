// WaitList: coroutines suspended on a thread-safe primitive (Semaphore,
// Channel, Promise, Offload). Not for direct use.
//
// A waiter is woken from any thread and resumes on its own loop (a Post), so
// a primitive shared by several loops never runs one loop's code on another.
// A waiter also watches its task's cancellation token: cancelled while still
// queued, it unlinks itself and resumes with the cancellation reason.
//
// All list operations happen under the owning primitive's mutex.
#pragma once

#include <coroutine>
#include <optional>

#include "absl/status/status.h"
#include "node/async/task.h"
#include "node/base/sync.h"
#include "node/loop/event_loop.h"

namespace fanout::internal {

struct WaitNode {
  EventLoop* loop = nullptr;
  std::coroutine_handle<> handle;
  absl::Status status;  // Why it was woken, when not by success.
  WaitNode* prev = nullptr;
  WaitNode* next = nullptr;
  bool linked = false;
  void* owner = nullptr;  // The awaiter this node belongs to.
  // A waiter that is not a task (Semaphore::Queue): woken by this instead.
  void (*wake)(WaitNode*) = nullptr;

  // Resumes the waiter on its loop. Call after unlinking, mutex released or not.
  void Wake() {
    if (wake != nullptr) return wake(this);
    loop->Post([h = handle] { h.resume(); });
  }
};

class WaitList {
 public:
  bool empty() const { return head_ == nullptr; }
  int64_t size() const { return size_; }
  WaitNode* front() const { return head_; }

  void PushBack(WaitNode* n) {
    n->prev = tail_;
    n->next = nullptr;
    if (tail_)
      tail_->next = n;
    else
      head_ = n;
    tail_ = n;
    n->linked = true;
    ++size_;
  }
  WaitNode* PopFront() {
    WaitNode* n = head_;
    if (n) Remove(n);
    return n;
  }
  void Remove(WaitNode* n) {
    if (n->prev)
      n->prev->next = n->next;
    else
      head_ = n->next;
    if (n->next)
      n->next->prev = n->prev;
    else
      tail_ = n->prev;
    n->prev = n->next = nullptr;
    n->linked = false;
    --size_;
  }

 private:
  WaitNode* head_ = nullptr;
  WaitNode* tail_ = nullptr;
  int64_t size_ = 0;
};

// Suspends the current task on `list` (guarded by `mu`, which the caller has
// locked in `Enqueue`), watching cancellation. Derived awaiters provide
// `bool TryComplete()` (under mu: done without waiting?) and read their
// result after resumption from `node_.status` and their own fields.
class CancellableWait {
 protected:
  CancellableWait(Mutex* mu, WaitList* list) : mu_(mu), list_(list) {}

  // Returns false if the task must not suspend (already cancelled).
  bool Suspend(const TaskContext& context, std::coroutine_handle<> h)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (context.token.cancelled()) {
      node_.status = context.token.reason();
      return false;
    }
    node_.loop = context.loop;
    node_.handle = h;
    list_->PushBack(&node_);
    return true;
  }

  // After the mutex is released: start watching the token.
  void WatchCancellation(const TaskContext& context) {
    on_cancel_.emplace(context.token, [this](const absl::Status& reason) {
      {
        MutexLock lock(mu_);
        if (!node_.linked) return;  // Already woken; the resume is on its way.
        list_->Remove(&node_);
        node_.status = reason;
      }
      node_.Wake();
    });
  }

  void StopWatching() { on_cancel_.reset(); }

  Mutex* mu_;
  WaitList* list_;
  WaitNode node_;
  std::optional<CancellationCallback> on_cancel_;
};

}  // namespace fanout::internal
