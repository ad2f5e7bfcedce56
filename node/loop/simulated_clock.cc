#include "node/loop/simulated_clock.h"

#include <algorithm>
#include <cassert>
#include <vector>

namespace fanout {

absl::Time SimulatedClock::Now() const {
  MutexLock lock(&mu_);
  return now_;
}

void SimulatedClock::Advance(absl::Duration d) { AdvanceTo(Now() + d); }

void SimulatedClock::AdvanceTo(absl::Time t) {
  for (;;) {
    AwaitIdle();
    MutexLock lock(&mu_);
    if (timers_.empty() || timers_.begin()->first.first > t) {
      now_ = std::max(now_, t);
      break;
    }
    // One step: to the earliest deadline, firing everything due by then.
    now_ = std::max(now_, timers_.begin()->first.first);
    while (!timers_.empty() && timers_.begin()->first.first <= now_) {
      auto it = timers_.begin();
      deadlines_.erase(it->first.second);
      Completion* tag = it->second.tag;
      // Posted under mu_, so a Cancel() on the loop either finds the timer
      // pending or finds its completion already queued behind this Post.
      it->second.loop->Post([tag] { tag->OnComplete(true); });
      timers_.erase(it);
    }
  }
  AwaitIdle();
}

uint64_t SimulatedClock::AwaitIdle() {
  assert(EventLoop::Current() == nullptr);
  MutexLock lock(&work_mu_);
  while (outstanding_ != 0) idle_.Wait(&work_mu_);
  return posts_;
}

bool SimulatedClock::AwaitActivity(uint64_t seen, absl::Time real_deadline) {
  assert(EventLoop::Current() == nullptr);
  MutexLock lock(&work_mu_);
  while (posts_ == seen || outstanding_ != 0) {
    if (!idle_.WaitWithDeadline(&work_mu_, real_deadline) && absl::Now() >= real_deadline) {
      return posts_ != seen && outstanding_ == 0;
    }
  }
  return true;
}

std::optional<absl::Time> SimulatedClock::NextDeadline() const {
  MutexLock lock(&mu_);
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first.first;
}

size_t SimulatedClock::pending_timers() const {
  MutexLock lock(&mu_);
  return timers_.size();
}

uint64_t SimulatedClock::Schedule(EventLoop& loop, absl::Time deadline, Completion* tag) {
  MutexLock lock(&mu_);
  if (deadline <= now_) {
    // Already due, as a grpc::Alarm with a past deadline: it fires without
    // anyone advancing time.
    loop.Post([tag] { tag->OnComplete(true); });
    return 0;
  }
  const uint64_t id = next_id_++;
  timers_.emplace(Key{deadline, id}, Pending{&loop, tag});
  deadlines_.emplace(id, deadline);
  return id;
}

void SimulatedClock::Cancel(uint64_t id) {
  MutexLock lock(&mu_);
  auto found = deadlines_.find(id);
  if (found == deadlines_.end()) return;
  auto it = timers_.find(Key{found->second, id});
  Pending pending = it->second;
  timers_.erase(it);
  deadlines_.erase(found);
  pending.loop->Post([tag = pending.tag] { tag->OnComplete(false); });
}

void SimulatedClock::Forget(uint64_t id) {
  MutexLock lock(&mu_);
  auto found = deadlines_.find(id);
  if (found == deadlines_.end()) return;
  timers_.erase(Key{found->second, id});
  deadlines_.erase(found);
}

void SimulatedClock::ForgetLoop(const EventLoop* loop) {
  MutexLock lock(&mu_);
  for (auto it = timers_.begin(); it != timers_.end();) {
    if (it->second.loop == loop) {
      deadlines_.erase(it->first.second);
      it = timers_.erase(it);
    } else {
      ++it;
    }
  }
}

void SimulatedClock::WorkQueued() {
  MutexLock lock(&work_mu_);
  ++posts_;
  ++outstanding_;
}

void SimulatedClock::WorkDone(int64_t n) {
  if (n == 0) return;
  MutexLock lock(&work_mu_);
  outstanding_ -= n;
  if (outstanding_ == 0) idle_.SignalAll();
}

}  // namespace fanout
