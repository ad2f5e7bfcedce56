// LagProbe: how long work waits before its loop gets to it, the event-loop
// lag that Node.js users watch. A loop that takes 30 ms to reach a completion
// adds 30 ms to every RPC it serves, whatever the handlers cost.
//
// Every `interval` a timer fires on the loop; the probe then queues a
// completion that is due at once (an alarm with a past deadline, the way a
// Post from another thread wakes the loop) and records how long the loop took
// to run it: behind the posted functions and the completion-queue events
// already waiting. An idle loop shows tens of microseconds.
//
//   LagProbe probe(loop, absl::Seconds(1), lag_histogram);
//   probe.Start();  // on the loop, once it runs
//   ...
//   probe.Stop();   // on the loop, before its queue is shut down
//
// Costs nothing between samples: no thread, two alarms per interval.
// Loop-affine.
#pragma once

#include <grpcpp/alarm.h>

#include <chrono>

#include "absl/time/time.h"
#include "node/loop/event_loop.h"
#include "node/telemetry/metrics.h"

namespace fanout {

class LagProbe final : public Completion {
 public:
  LagProbe(EventLoop& loop, absl::Duration interval, metrics::Histogram& lag)
      : loop_(loop), interval_(interval), lag_(lag) {}
  LagProbe(const LagProbe&) = delete;
  LagProbe& operator=(const LagProbe&) = delete;

  // Arms the first timer.
  void Start();
  // Cancels the pending alarm and arms no more; the queue's shutdown then
  // need not wait for the next sample. Idempotent.
  void Stop();

 private:
  enum class Phase { kIdle, kWaiting, kMeasuring };
  void OnComplete(bool ok) override;
  void ArmTimer();

  EventLoop& loop_;
  const absl::Duration interval_;
  metrics::Histogram& lag_;
  grpc::Alarm alarm_;
  Phase phase_ = Phase::kIdle;
  bool stopped_ = false;
  std::chrono::steady_clock::time_point queued_at_;
};

}  // namespace fanout
