// EventLoop: one thread driving one gRPC completion queue.
//
// Everything that happens on a loop is either a completion-queue event (an
// RPC step, an alarm) or a function posted to it. Coroutines started on a loop
// stay on it: their RPCs and timers complete on the same queue, so the state a
// request touches needs no locks. Crossing loops is a message: Post().
//
// A loop's timers follow its clock: real time, or a SimulatedClock in tests
// (node/loop/simulated_clock.h), when everything that waits on a deadline
// waits for the test to advance time instead of for the wall clock.
//
// Each loop reports to metrics::DefaultRegistry(), labelled loop="<index>":
// its lag (fanout_loop_lag_seconds, sampled by a LagProbe every
// `lag_probe_interval`), its live tasks and its failed tasks (see
// node/telemetry/README.md).
//
//   LoopGroup loops({.num_loops = 2});
//   loops.At(0).Post([] { FANOUT_LOG(INFO) << "on loop 0"; });
//   Spawn(loops.Next(), HandleSomething());
//   loops.Stop(absl::Now() + absl::Seconds(5));
#pragma once

#include <grpcpp/alarm.h>
#include <grpcpp/completion_queue.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "node/base/cancellation.h"
#include "node/base/clock.h"
#include "node/base/sync.h"
#include "node/telemetry/metrics.h"

namespace grpc {
class ServerBuilder;
}

namespace fanout {

class LagProbe;
class SimulatedClock;
class StallWatch;

// A tag on a completion queue. The loop calls OnComplete(ok) on its thread
// when the operation the tag was given to finishes.
class Completion {
 public:
  virtual void OnComplete(bool ok) = 0;

 protected:
  ~Completion() = default;
};

class EventLoop {
 public:
  struct Options {
    // How often the loop's lag is sampled; zero: never.
    absl::Duration lag_probe_interval = absl::Seconds(1);
    // Null: real time. Else the loop's timers and "now" follow this clock,
    // which must outlive the loop.
    SimulatedClock* simulated_clock = nullptr;
  };
  // `server_cq` is set when the queue came from ServerBuilder::AddCompletionQueue
  // (it is then `cq.get()`); such a loop can also receive server calls.
  EventLoop(int index, std::unique_ptr<grpc::CompletionQueue> cq,
            grpc::ServerCompletionQueue* server_cq, Options options);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Thread-safe. Runs `fn` on this loop's thread, after what is already queued.
  // Returns false (and drops `fn`) once the loop has stopped.
  bool Post(absl::AnyInvocable<void()> fn);

  // Thread-safe. The loop whose thread is calling, or nullptr.
  static EventLoop* Current();
  bool InLoopThread() const { return Current() == this; }

  int index() const { return index_; }
  grpc::CompletionQueue* cq() { return cq_.get(); }
  // Null for a client-only loop.
  grpc::ServerCompletionQueue* server_cq() { return server_cq_; }

  // Thread-safe. The time the loop's timers count in: absl::Now(), or the
  // simulated clock's. Deadlines and schedules on the loop are taken from
  // it (Sleep, WithTimeout, Every, Retry, Ask); telemetry measures real time.
  absl::Time Now() const { return simulated_clock_ == nullptr ? absl::Now() : clock_->Now(); }
  // Thread-safe. Clock::Real(), or the simulated clock.
  Clock& clock() const { return *clock_; }
  // Thread-safe. Null on real time.
  SimulatedClock* simulated_clock() const { return simulated_clock_; }

  // Loop-affine. Every task spawned on this loop runs under this source;
  // Stop() cancels it.
  CancellationSource& root_cancellation() { return root_; }

  // Loop-affine. False once the loop is draining: operations must not be
  // started on the queue any more and fail with UNAVAILABLE instead.
  bool accepting_operations() const { return !draining_; }

  // Loop-affine. Bookkeeping for spawned tasks, so Stop() can wait for them.
  void TaskStarted();
  void TaskFinished();
  // Loop-affine. A spawned task failed: logged and counted, never lost.
  void ReportFailure(std::string_view what, const absl::Status& status);
  int64_t failures() const { return failures_.load(std::memory_order_relaxed); }

  // Loop-affine. Names what the loop is working for, for StallWatch's
  // report of a loop that stays busy ("route \"dashboard\""). Set when a
  // request's work starts on the loop; `label` must live for the process
  // (InternActivity in node/loop/stall_watch.h).
  // Release/acquire: the watch reads the text the pointer leads to.
  void NoteActivity(const char* label) { activity_.store(label, std::memory_order_release); }
  // Thread-safe reads for StallWatch: the last noted activity, the events
  // handled so far, and whether the loop is waiting on its queue right now.
  const char* activity() const { return activity_.load(std::memory_order_acquire); }
  uint64_t turns() const { return turns_.load(std::memory_order_relaxed); }
  bool waiting() const { return waiting_.load(std::memory_order_relaxed); }

  // Thread-safe. Starts the thread. Called once.
  void Start();
  // Not from a loop thread. Cancels every task, waits for them to finish until
  // `deadline`, then shuts the queue down, drains it and joins the thread.
  void Stop(absl::Time deadline);

  // Stop() in its three phases, so a group can stop its loops side by side:
  // cancel everything, wait for the tasks, then close the queue.
  void BeginStop();
  void AwaitIdle(absl::Time deadline);
  void FinishStop();

 private:
  class Wakeup;
  void Run();
  void RunReady();

  const int index_;
  SimulatedClock* const simulated_clock_;
  Clock* const clock_;
  std::unique_ptr<grpc::CompletionQueue> cq_;
  grpc::ServerCompletionQueue* const server_cq_;
  std::thread thread_;
  CancellationSource root_;
  bool draining_ = false;
  std::atomic<int64_t> failures_{0};
  // Written by the loop's thread only (plain stores), read by StallWatch.
  std::atomic<const char*> activity_{nullptr};
  std::atomic<uint64_t> turns_{0};
  std::atomic<bool> waiting_{false};

  Mutex mu_;
  std::vector<absl::AnyInvocable<void()>> posted_ ABSL_GUARDED_BY(mu_);
  bool wakeup_armed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  int64_t live_tasks_ ABSL_GUARDED_BY(mu_) = 0;
  CondVar idle_;  // Signalled when tasks or posted work may have run out.
  std::unique_ptr<Wakeup> wakeup_;
  grpc::Alarm wakeup_alarm_;
  std::vector<absl::AnyInvocable<void()>> running_;  // Loop-affine scratch.
  std::unique_ptr<LagProbe> lag_probe_;              // Null without a probe.
  metrics::Counter& failures_metric_;
  // Last: unregistered first, while what the callback reads still lives.
  metrics::CallbackHandle tasks_metric_;
};

// A fixed set of loops, one thread each. The thread count never grows.
class LoopGroup {
 public:
  struct Options {
    // 0: one loop per core.
    int num_loops = 0;
    // How often each loop's lag is sampled (fanout_loop_lag_seconds); zero: never.
    absl::Duration lag_probe_interval = absl::Seconds(1);
    // A loop busy this long on one event is reported (StallWatch); zero: never.
    absl::Duration stall_report_after = absl::Seconds(1);
    // Null: real time. Else every loop's timers follow this clock (tests;
    // node/loop/simulated_clock.h). It must outlive the group.
    SimulatedClock* simulated_clock = nullptr;
  };
  // With a builder, every loop's queue is a server queue of that builder.
  explicit LoopGroup(Options options, grpc::ServerBuilder* builder = nullptr);
  ~LoopGroup();  // Stops with a short deadline if Stop() was not called.

  int size() const { return static_cast<int>(loops_.size()); }
  EventLoop& At(int i) { return *loops_[i]; }
  // Thread-safe. The clock the loops' timers follow (see EventLoop::clock).
  Clock& clock() const { return loops_[0]->clock(); }
  // Thread-safe. Round-robin, for spreading new work.
  EventLoop& Next();

  // Not from a loop thread. Idempotent.
  void Stop(absl::Time deadline);

 private:
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::unique_ptr<StallWatch> stall_watch_;  // Null when not asked for.
  std::atomic<uint64_t> next_{0};
  bool stopped_ = false;
};

}  // namespace fanout
