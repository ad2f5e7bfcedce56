#include "node/loop/timer.h"

namespace fanout {

gpr_timespec ToGprTime(absl::Time t) {
  if (t == absl::InfiniteFuture()) return gpr_inf_future(GPR_CLOCK_REALTIME);
  if (t == absl::InfinitePast()) return gpr_inf_past(GPR_CLOCK_REALTIME);
  timespec ts = absl::ToTimespec(t);
  gpr_timespec out;
  out.tv_sec = ts.tv_sec;
  out.tv_nsec = static_cast<int32_t>(ts.tv_nsec);
  out.clock_type = GPR_CLOCK_REALTIME;
  return out;
}

Timer::Timer(EventLoop& loop, absl::Time deadline, absl::AnyInvocable<void(bool)> fn)
    : fn_(std::move(fn)) {
  if (!loop.accepting_operations()) {
    // No queue to wait on: behave as a timer cancelled at once.
    loop.Post([this] { OnComplete(false); });
    return;
  }
  alarm_.Set(loop.cq(), ToGprTime(deadline), static_cast<Completion*>(this));
}

void Timer::OnComplete(bool ok) {
  done_ = true;
  fn_(ok);
}

}  // namespace fanout
