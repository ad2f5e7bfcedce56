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

bool SleepAwaiter::Start(const TaskContext& context, std::coroutine_handle<> h) {
  context_ = context;
  if (context.token.cancelled()) {
    result_ = context.token.reason();
    return false;
  }
  if (!context.loop->accepting_operations()) {
    result_ = absl::UnavailableError("event loop is stopping");
    return false;
  }
  handle_ = h;
  alarm_.Set(context.loop->cq(), ToGprTime(until_), static_cast<Completion*>(this));
  on_cancel_.emplace(context.token, [this](const absl::Status&) { alarm_.Cancel(); });
  return true;
}

void SleepAwaiter::OnComplete(bool ok) {
  on_cancel_.reset();
  if (!ok) {
    result_ = context_.token.cancelled() ? context_.token.reason()
                                         : absl::CancelledError("sleep cancelled");
  }
  handle_.resume();
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
