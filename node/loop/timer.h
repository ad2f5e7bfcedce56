// Timers on grpc::Alarm: asyncio's call_later (a coroutine's sleep is
// node/async/sleep.h).
//
// Timer runs a callback on its loop at a deadline unless cancelled first. It
// must outlive its callback: destroy it only after the callback ran (fired or
// cancelled), which is what `done()` tells.
//
// Loop-affine.
#pragma once

#include <grpcpp/alarm.h>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "node/loop/event_loop.h"

namespace fanout {

gpr_timespec ToGprTime(absl::Time t);

class Timer final : public Completion {
 public:
  // `fn(true)` at the deadline, or `fn(false)` soon after Cancel().
  Timer(EventLoop& loop, absl::Time deadline, absl::AnyInvocable<void(bool fired)> fn);
  void Cancel() { alarm_.Cancel(); }
  bool done() const { return done_; }

 private:
  void OnComplete(bool ok) override;

  grpc::Alarm alarm_;
  absl::AnyInvocable<void(bool)> fn_;
  bool done_ = false;
};

}  // namespace fanout
