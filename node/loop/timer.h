// Timers: asyncio's call_later (a coroutine's sleep is node/async/sleep.h),
// and the one-shot alarm under both.
//
// Timer runs a callback on its loop at a deadline unless cancelled first. It
// must outlive its callback: destroy it only after the callback ran (fired or
// cancelled), which is what `done()` tells.
//
//   Timer timer(loop, loop.Now() + absl::Seconds(5), [](bool fired) { ... });
//
// Deadlines are in the loop's time (EventLoop::Now()): real time, where the
// alarm is a grpc::Alarm on the loop's completion queue, or a SimulatedClock's,
// where it is an entry in that clock's timer queue (node/loop/simulated_clock.h).
//
// Loop-affine.
#pragma once

#include <grpcpp/alarm.h>

#include <cstdint>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "node/loop/event_loop.h"

namespace fanout {

gpr_timespec ToGprTime(absl::Time t);

// `tag->OnComplete(true)` on the loop at the deadline, or
// `OnComplete(false)` soon after Cancel() (a no-op once fired). Set once.
// On real time this is a grpc::Alarm and nothing more: one branch on a
// pointer the loop holds decides, no allocation or lock is added.
class LoopAlarm {
 public:
  LoopAlarm() = default;
  ~LoopAlarm();
  LoopAlarm(const LoopAlarm&) = delete;
  LoopAlarm& operator=(const LoopAlarm&) = delete;

  void Set(EventLoop& loop, absl::Time deadline, Completion* tag);
  void Cancel();

 private:
  grpc::Alarm alarm_;
  SimulatedClock* simulated_ = nullptr;  // Set when the loop's time is simulated.
  uint64_t simulated_id_ = 0;
};

class Timer final : public Completion {
 public:
  // `fn(true)` at the deadline, or `fn(false)` soon after Cancel().
  Timer(EventLoop& loop, absl::Time deadline, absl::AnyInvocable<void(bool fired)> fn);
  void Cancel() { alarm_.Cancel(); }
  bool done() const { return done_; }

 private:
  void OnComplete(bool ok) override;

  LoopAlarm alarm_;
  absl::AnyInvocable<void(bool)> fn_;
  bool done_ = false;
};

}  // namespace fanout
