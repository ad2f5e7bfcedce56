#include "node/loop/timer.h"

#include "node/loop/simulated_clock.h"

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

LoopAlarm::~LoopAlarm() {
  // Only an owner that broke the rule (destroyed before its completion)
  // leaves a pending timer; the simulated clock must not fire it later.
  if (simulated_ != nullptr) simulated_->Forget(simulated_id_);
}

void LoopAlarm::Set(EventLoop& loop, absl::Time deadline, Completion* tag) {
  if (SimulatedClock* clock = loop.simulated_clock(); clock != nullptr) [[unlikely]] {
    simulated_ = clock;
    simulated_id_ = clock->Schedule(loop, deadline, tag);
    return;
  }
  alarm_.Set(loop.cq(), ToGprTime(deadline), tag);
}

void LoopAlarm::Cancel() {
  if (simulated_ != nullptr) [[unlikely]] {
    simulated_->Cancel(simulated_id_);
    return;
  }
  alarm_.Cancel();
}

Timer::Timer(EventLoop& loop, absl::Time deadline, absl::AnyInvocable<void(bool)> fn)
    : fn_(std::move(fn)) {
  if (!loop.accepting_operations()) {
    // No queue to wait on: behave as a timer cancelled at once.
    loop.Post([this] { OnComplete(false); });
    return;
  }
  alarm_.Set(loop, deadline, static_cast<Completion*>(this));
}

void Timer::OnComplete(bool ok) {
  done_ = true;
  fn_(ok);
}

}  // namespace fanout
