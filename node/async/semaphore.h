// Semaphore: asyncio.Semaphore with a bounded, FIFO, deadline-aware wait.
// The gateway's per-backend bulkhead.
//
//   Semaphore limit({.permits = 64, .max_waiters = 128});
//   FANOUT_CO_ASSIGN_OR_RETURN(Semaphore::Permit permit,
//                              co_await limit.Acquire(absl::Milliseconds(50)));
//   ... at most 64 of these run at once; the permit is released on scope exit ...
//
// Acquire fails with RESOURCE_EXHAUSTED when the wait queue is full or no
// permit came within the timeout, and with the task's cancellation reason
// (CANCELLED, DEADLINE_EXCEEDED) when it is cancelled while waiting. Waiters
// are served first come, first served: a newcomer never overtakes them.
//
// SetCapacity changes the number of permits while in use (an adaptive
// concurrency limit): more wake waiters at once; fewer take effect as
// permits come back (holders are never interrupted).
//
// A waiter that is not a task (the frame relay's calls, on I/O threads of
// their own) queues a callback instead, in the same FIFO line:
//
//   absl::StatusOr<Semaphore::Place> place =
//       limit.Queue([](Semaphore::Permit permit) { ... post it home ... });
//   ... destroying `place` leaves the line ...
//
// Thread-safe: shared by all loops; a waiter resumes on its own loop.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "node/async/wait_list.h"
#include "node/base/sync.h"

namespace fanout {

class Semaphore {
 public:
  struct Options {
    int64_t permits = 1;
    // Waiters beyond this are refused at once.
    int64_t max_waiters = std::numeric_limits<int64_t>::max();
  };

  // Holds one permit; releases it when destroyed. Movable.
  class Permit {
   public:
    Permit() = default;
    Permit(Permit&& other) noexcept : semaphore_(std::exchange(other.semaphore_, nullptr)) {}
    Permit& operator=(Permit&& other) noexcept;
    ~Permit() { Release(); }
    void Release();
    bool held() const { return semaphore_ != nullptr; }

   private:
    friend class Semaphore;
    explicit Permit(Semaphore* s) : semaphore_(s) {}
    Semaphore* semaphore_ = nullptr;
  };

  // A place in the line for a Queue callback. Destroying it leaves the
  // line; once it returns, the callback is not running and never will.
  // Movable.
  class Place {
   public:
    Place() = default;
    Place(Place&&) noexcept = default;
    Place& operator=(Place&& other) noexcept;
    ~Place() { Leave(); }
    // False when the permit was handed over already: the callback ran.
    bool Leave();

   private:
    friend class Semaphore;
    struct Node;
    explicit Place(std::shared_ptr<Node> node) : node_(std::move(node)) {}
    std::shared_ptr<Node> node_;
  };

  explicit Semaphore(Options options);
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // A permit now, if one is free and nobody is queued.
  std::optional<Permit> TryAcquire();
  // Waits at most `timeout` (and never past the task's deadline).
  Task<absl::StatusOr<Permit>> Acquire(absl::Duration timeout = absl::InfiniteDuration());

  // For a caller that cannot await: a place at the end of the line, and
  // `granted` runs once with the permit, on the thread that frees it (a
  // Permit's or SetCapacity's), unless the place is left first; at once,
  // before Queue returns, if one is free and nobody is queued.
  // RESOURCE_EXHAUSTED when the line is full. `granted` must not leave
  // its own place.
  absl::StatusOr<Place> Queue(absl::AnyInvocable<void(Permit)> granted);

  // Permits from now on; waiters are woken if it grew. At least 1.
  void SetCapacity(int64_t permits);
  int64_t capacity() const;
  // Free permits; negative while more are held than a lowered capacity allows.
  int64_t available() const;
  int64_t in_use() const { return capacity() - available(); }
  int64_t waiters() const;

 private:
  class Waiter;
  Task<absl::StatusOr<Permit>> Wait(absl::Duration timeout);
  // How a Place's node is woken: its callback, with the permit.
  static void Grant(internal::WaitNode* waiting);
  void Release();

  const int64_t max_waiters_;
  mutable Mutex mu_;
  int64_t capacity_ ABSL_GUARDED_BY(mu_);
  int64_t available_ ABSL_GUARDED_BY(mu_);
  internal::WaitList waiters_ ABSL_GUARDED_BY(mu_);
  CondVar granted_;  // A Queue callback returned (Place::Leave waits for it).
};

}  // namespace fanout
