#include "node/async/semaphore.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "node/async/with_deadline.h"
#include "node/telemetry/trace.h"

namespace fanout {

// Awaits a permit handed over by Release(), in FIFO order.
class Semaphore::Waiter : public internal::CancellableWait {
 public:
  explicit Waiter(Semaphore* s) : CancellableWait(&s->mu_, &s->waiters_), semaphore_(s) {}

  bool await_ready() noexcept { return false; }
  template <internal::TaskPromise P>
  bool await_suspend(std::coroutine_handle<P> h) {
    const TaskContext& context = h.promise().context;
    {
      MutexLock lock(mu_);
      if (semaphore_->waiters_.empty() && semaphore_->available_ > 0) {
        --semaphore_->available_;
        return false;
      }
      if (semaphore_->waiters_.size() >= semaphore_->max_waiters_) {
        node_.status = absl::ResourceExhaustedError(
            absl::StrCat("semaphore wait queue is full (", semaphore_->max_waiters_, " waiters)"));
        return false;
      }
      if (!Suspend(context, h)) return false;
    }
    WatchCancellation(context);
    return true;
  }
  absl::StatusOr<Permit> await_resume() {
    StopWatching();
    if (!node_.status.ok()) return node_.status;
    return Permit(semaphore_);
  }

 private:
  Semaphore* semaphore_;
};

// A Queue callback in the line, linked as a task's node is and woken by
// running the callback (Grant) instead of resuming a coroutine.
struct Semaphore::Place::Node : internal::WaitNode {
  Semaphore* semaphore = nullptr;
  absl::AnyInvocable<void(Permit)> granted;
  std::shared_ptr<Node> self;  // The line's reference: while linked, and while granting.
  bool done = false;           // The callback returned (under semaphore->mu_).
};

Semaphore::Semaphore(Options options)
    : max_waiters_(options.max_waiters), capacity_(options.permits), available_(options.permits) {}

Semaphore::Permit& Semaphore::Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    Release();
    semaphore_ = std::exchange(other.semaphore_, nullptr);
  }
  return *this;
}

void Semaphore::Permit::Release() {
  if (semaphore_ != nullptr) std::exchange(semaphore_, nullptr)->Release();
}

std::optional<Semaphore::Permit> Semaphore::TryAcquire() {
  MutexLock lock(&mu_);
  if (!waiters_.empty() || available_ <= 0) return std::nullopt;
  --available_;
  return Permit(this);
}

absl::StatusOr<Semaphore::Place> Semaphore::Queue(absl::AnyInvocable<void(Permit)> granted) {
  auto node = std::make_shared<Place::Node>();
  node->semaphore = this;
  node->wake = &Semaphore::Grant;
  node->granted = std::move(granted);
  {
    MutexLock lock(&mu_);
    if (!waiters_.empty() || available_ <= 0) {
      if (waiters_.size() >= max_waiters_) {
        return absl::ResourceExhaustedError(
            absl::StrCat("semaphore wait queue is full (", max_waiters_, " waiters)"));
      }
      node->self = node;
      waiters_.PushBack(node.get());
      return Place(std::move(node));
    }
    --available_;  // Free, and nobody ahead.
  }
  std::exchange(node->granted, nullptr)(Permit(this));
  node->done = true;  // Not shared yet: no lock needed.
  return Place(std::move(node));
}

void Semaphore::Grant(internal::WaitNode* waiting) {
  auto* node = static_cast<Place::Node*>(waiting);
  std::shared_ptr<Place::Node> keep = std::move(node->self);
  Semaphore* semaphore = node->semaphore;
  // Its captures go here too, before Leave may return.
  std::exchange(node->granted, nullptr)(Permit(semaphore));
  MutexLock lock(&semaphore->mu_);
  node->done = true;
  semaphore->granted_.SignalAll();
}

Semaphore::Place& Semaphore::Place::operator=(Place&& other) noexcept {
  if (this != &other) {
    Leave();
    node_ = std::move(other.node_);
  }
  return *this;
}

bool Semaphore::Place::Leave() {
  if (node_ == nullptr) return false;
  std::shared_ptr<Node> node = std::move(node_);
  Semaphore* semaphore = node->semaphore;
  std::shared_ptr<Node> line;  // The line's reference, dropped after the lock.
  MutexLock lock(&semaphore->mu_);
  if (node->linked) {
    semaphore->waiters_.Remove(node.get());
    line = std::move(node->self);
    return true;
  }
  while (!node->done) semaphore->granted_.Wait(&semaphore->mu_);
  return false;
}

Task<absl::StatusOr<Semaphore::Permit>> Semaphore::Acquire(absl::Duration timeout) {
  if (std::optional<Permit> now = TryAcquire()) co_return std::move(*now);
  absl::Time start = absl::Now();
  absl::StatusOr<Permit> permit = co_await Wait(timeout);
  // A wait (or a refusal) shows on the caller's span: how long, how it ended.
  if (const std::shared_ptr<trace::Span>& span = (co_await CurrentContext()).span) {
    absl::string_view why = permit.status().message();
    span->AddEvent(permit.ok() ? "semaphore.acquired" : "semaphore.refused",
                   {{"wait_ms", absl::ToDoubleMilliseconds(absl::Now() - start)},
                    {"permits", capacity()},
                    {"reason", std::string_view(why.data(), why.size())}});
  }
  co_return permit;
}

Task<absl::StatusOr<Semaphore::Permit>> Semaphore::Wait(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) co_return co_await Waiter(this);
  auto wait = [](Semaphore* s) -> Task<absl::StatusOr<Permit>> { co_return co_await Waiter(s); };
  absl::Time deadline = (co_await CurrentContext()).loop->Now() + timeout;
  absl::StatusOr<Permit> permit = co_await WithDeadline(wait(this), deadline);
  if (permit.status().code() == absl::StatusCode::kDeadlineExceeded &&
      (co_await CurrentContext()).token.deadline() > deadline) {
    // Our own timeout, not the caller's deadline: no permit in time.
    co_return absl::ResourceExhaustedError(absl::StrCat(
        "no permit within ", absl::FormatDuration(timeout), " (", capacity(), " in use)"));
  }
  co_return permit;
}

void Semaphore::Release() {
  internal::WaitNode* next;
  {
    MutexLock lock(&mu_);
    // Under a lowered capacity the permit is retired; else it passes
    // straight to the first waiter: nobody can barge in.
    next = available_ < 0 ? nullptr : waiters_.PopFront();
    if (next == nullptr) ++available_;
  }
  if (next != nullptr) next->Wake();
}

void Semaphore::SetCapacity(int64_t permits) {
  permits = std::max<int64_t>(permits, 1);
  std::vector<internal::WaitNode*> woken;  // Unlinked, as Release's
  {
    MutexLock lock(&mu_);
    available_ += permits - capacity_;
    capacity_ = permits;
    while (available_ > 0) {
      internal::WaitNode* next = waiters_.PopFront();
      if (next == nullptr) break;
      --available_;
      woken.push_back(next);
    }
  }
  for (internal::WaitNode* next : woken) next->Wake();
}

int64_t Semaphore::capacity() const {
  MutexLock lock(&mu_);
  return capacity_;
}

int64_t Semaphore::available() const {
  MutexLock lock(&mu_);
  return available_;
}

int64_t Semaphore::waiters() const {
  MutexLock lock(&mu_);
  return waiters_.size();
}

}  // namespace fanout
