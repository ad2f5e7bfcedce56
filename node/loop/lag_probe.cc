#include "node/loop/lag_probe.h"

#include <grpc/support/time.h>

namespace fanout {

void LagProbe::Start() {
  if (phase_ != Phase::kIdle || stopped_) return;
  ArmTimer();
}

void LagProbe::Stop() {
  stopped_ = true;
  // A cancelled timer completes with ok = false; a pending measurement is
  // due at once anyway.
  if (phase_ == Phase::kWaiting) alarm_.Cancel();
}

void LagProbe::ArmTimer() {
  if (stopped_ || !loop_.accepting_operations()) {
    phase_ = Phase::kIdle;
    return;
  }
  phase_ = Phase::kWaiting;
  gpr_timespec due =
      gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                   gpr_time_from_micros(absl::ToInt64Microseconds(interval_), GPR_TIMESPAN));
  alarm_.Set(loop_.cq(), due, static_cast<Completion*>(this));
}

void LagProbe::OnComplete(bool ok) {
  if (phase_ == Phase::kWaiting) {
    if (!ok || stopped_ || !loop_.accepting_operations()) {
      phase_ = Phase::kIdle;
      return;
    }
    // Due now: it completes behind everything the loop already has to do.
    phase_ = Phase::kMeasuring;
    queued_at_ = std::chrono::steady_clock::now();
    alarm_.Set(loop_.cq(), gpr_time_0(GPR_CLOCK_MONOTONIC), static_cast<Completion*>(this));
    return;
  }
  std::chrono::duration<double> waited = std::chrono::steady_clock::now() - queued_at_;
  lag_.Observe(waited.count());
  ArmTimer();
}

}  // namespace fanout
