// SimulatedClock: time that moves only when a test moves it, and that the
// loops' timers obey (Seastar's manual_clock, Envoy's SimulatedTimeSystem).
//
// Loops built with a SimulatedClock (LoopGroup::Options::simulated_clock)
// take their "now" from it and arm no real alarm: Sleep, SleepUntil, Timer,
// WithDeadline/WithTimeout, Every, Retry's backoff, Semaphore and actor Ask
// timeouts all wait on the clock's timer queue instead. Advance() moves time
// in steps, one per due deadline: each step fires the timers due at it on
// their own loops (through Post, in deadline order, then in the order they
// were set) and waits until every loop of the clock is idle before the next
// step, so what a timer's wake-up schedules within the window fires too.
//
//   SimulatedClock clock;
//   LoopGroup loops({.num_loops = 2, .simulated_clock = &clock});
//   Spawn(loops.At(0), Every(absl::Seconds(10), Refresh));
//   clock.Advance(absl::Minutes(1));  // six rounds, at once
//
// tests/support/run_until_done.h drives a task to its end this way, jumping
// to the next deadline whenever the loops are idle.
//
// "Idle" is counted, not guessed: every Post to a loop of the clock counts
// as work until the function has run, so work a posted function posts keeps
// the count above zero. That is why a due timer is delivered by a Post and
// not by a grpc::Alarm cancelled to complete on the loop's queue: a queue
// event is invisible to the count (and Cancel's ok = false could not tell
// "fired" from "cancelled" without a flag). Completion-queue events (RPCs)
// are not counted either: simulated loops are for code whose waits are
// timers and posts. Work on other threads (an Offload pool) runs in real
// time beside the simulation.
//
// Telemetry (spans, latency histograms, the lag probe) still measures real
// time; a gRPC deadline is always real time.
//
// Thread-safe. Advance, AdvanceTo, AwaitIdle and AwaitActivity block and
// must not be called from a loop thread; one thread (the test's) drives the
// clock. The clock must outlive its loops.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "node/base/clock.h"
#include "node/base/sync.h"
#include "node/loop/event_loop.h"

namespace fanout {

class SimulatedClock final : public Clock {
 public:
  // A fixed start (as ManualClock's), so a test's times read the same on
  // every run.
  static absl::Time DefaultStart() { return absl::UnixEpoch() + absl::Hours(24 * 365 * 50); }

  explicit SimulatedClock(absl::Time start = DefaultStart()) : now_(start) {}
  SimulatedClock(const SimulatedClock&) = delete;
  SimulatedClock& operator=(const SimulatedClock&) = delete;

  absl::Time Now() const override;

  // Moves time to Now() + d (AdvanceTo: to `t`, never back), firing every
  // timer due on the way, each step once the loops are idle; returns once
  // the loops are idle at the end.
  void Advance(absl::Duration d);
  void AdvanceTo(absl::Time t);

  // Waits until every function posted to the clock's loops has run; returns
  // the count of posts so far, for AwaitActivity.
  uint64_t AwaitIdle();
  // Waits until work arrives after the `seen`th post (from a pool thread,
  // say) and the loops are idle again; false if none came by the real-time
  // `real_deadline`.
  bool AwaitActivity(uint64_t seen, absl::Time real_deadline);

  // The earliest pending timer's deadline; none when no timer is pending.
  std::optional<absl::Time> NextDeadline() const;
  size_t pending_timers() const;

  // For the loop layer (LoopAlarm, EventLoop); tests need not call these.
  //
  // Loop-affine on `loop`: `tag->OnComplete(true)` on `loop` once time
  // reaches `deadline` (posted at once when it already has). Returns the id
  // for Cancel; 0 when posted at once.
  uint64_t Schedule(EventLoop& loop, absl::Time deadline, Completion* tag);
  // Loop-affine. A pending timer is removed and `OnComplete(false)` posted;
  // one already fired (its completion posted) is left alone, as with a
  // cancelled grpc::Alarm.
  void Cancel(uint64_t id);
  // Removes a pending timer without completing it (its owner is going).
  void Forget(uint64_t id);
  // A stopped loop's timers can never run: they are dropped.
  void ForgetLoop(const EventLoop* loop);
  // Around every Post to a loop of this clock: queued, then run (or dropped).
  void WorkQueued();
  void WorkDone(int64_t n);

 private:
  struct Pending {
    EventLoop* loop;
    Completion* tag;
  };
  using Key = std::pair<absl::Time, uint64_t>;  // Deadline, then the order set.

  mutable Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<Key, Pending> timers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, absl::Time> deadlines_ ABSL_GUARDED_BY(mu_);  // By id.

  // Work posted and not yet run, and posts ever: read and written together
  // (a count of posts seen at idle must include every post that has run).
  Mutex work_mu_;
  int64_t outstanding_ ABSL_GUARDED_BY(work_mu_) = 0;
  uint64_t posts_ ABSL_GUARDED_BY(work_mu_) = 0;
  CondVar idle_;  // Signalled when outstanding_ reaches zero.
};

}  // namespace fanout
