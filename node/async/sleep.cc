#include "node/async/sleep.h"

namespace fanout {

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
  if (relative_) until_ = context.loop->Now() + for_;
  alarm_.Set(*context.loop, until_, static_cast<Completion*>(this));
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

}  // namespace fanout
