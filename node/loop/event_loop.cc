#include "node/loop/event_loop.h"

#include <grpcpp/server_builder.h>
#include <sched.h>
#include <sys/resource.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "node/base/log.h"
#include "node/base/sync.h"
#include "node/base/this_thread.h"
#include "node/loop/lag_probe.h"
#include "node/loop/simulated_clock.h"
#include "node/loop/stall_watch.h"

namespace fanout {
namespace {
thread_local EventLoop* current_loop = nullptr;

// Ready functions run per turn before the queue is polled again, so posted
// work cannot starve RPC completions.
constexpr size_t kMaxReadyPerTurn = 1024;

// How long a loop with work all along keeps its core before it lets the
// other threads waiting for it have a turn: about the longest a request
// read by an HTTP I/O thread waits for a loop saturated by other work
// (bench/README.md, "The HTTP threads yield to the loops"). A loop that
// sleeps now and then never yields: they run while it sleeps.
constexpr int64_t kBusyForNanos = 1'000'000;

// How often the calling thread gave up its core waiting (the kernel's
// count; a yield or a preemption is not one); -1 if unknown.
int64_t VoluntarySwitches() {
  rusage usage{};
  if (getrusage(RUSAGE_THREAD, &usage) != 0) return -1;
  return usage.ru_nvcsw;
}

// Finer than LatencyBuckets at the low end: a healthy loop lags by
// microseconds, and a few milliseconds is already worth seeing.
std::vector<double> LagBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
}

metrics::Histogram& LagHistogram(int index) {
  return metrics::DefaultRegistry()
      .AddHistogram("fanout_loop_lag_seconds",
                    "How long work waited for its event loop, sampled about once a second.",
                    {"loop"}, LagBuckets())
      .With({std::to_string(index)});
}

metrics::Counter& FailuresCounter(int index) {
  return metrics::DefaultRegistry()
      .AddCounter("fanout_loop_task_failures_total",
                  "Spawned tasks that ended with an error (each also logged).", {"loop"})
      .With({std::to_string(index)});
}
}  // namespace

// The alarm tag that wakes a loop blocked in Next() when work is posted.
class EventLoop::Wakeup final : public Completion {
 public:
  explicit Wakeup(EventLoop* loop) : loop_(loop) {}
  void OnComplete(bool) override {
    MutexLock lock(&loop_->mu_);
    loop_->wakeup_armed_ = false;
  }

 private:
  EventLoop* loop_;
};

EventLoop::EventLoop(int index, std::unique_ptr<grpc::CompletionQueue> cq,
                     grpc::ServerCompletionQueue* server_cq, Options options)
    : index_(index),
      simulated_clock_(options.simulated_clock),
      clock_(options.simulated_clock != nullptr ? static_cast<Clock*>(options.simulated_clock)
                                                : &Clock::Real()),
      cq_(std::move(cq)),
      server_cq_(server_cq),
      wakeup_(std::make_unique<Wakeup>(this)),
      failures_metric_(FailuresCounter(index)) {
  if (options.lag_probe_interval > absl::ZeroDuration()) {
    lag_probe_ = std::make_unique<LagProbe>(*this, options.lag_probe_interval, LagHistogram(index));
  }
  tasks_metric_ = metrics::DefaultRegistry().AddCallback(
      "fanout_loop_tasks", "Spawned tasks alive (running or suspended) on the event loop.",
      metrics::Type::kGauge, {"loop"}, [this] {
        MutexLock lock(&mu_);
        return std::vector<metrics::Sample>{
            {{std::to_string(index_)}, static_cast<double>(live_tasks_)}};
      });
}

EventLoop::~EventLoop() {
  if (thread_.joinable()) Stop(absl::Now() + absl::Seconds(1));
}

EventLoop* EventLoop::Current() { return current_loop; }

bool EventLoop::Post(absl::AnyInvocable<void()> fn) {
  // Counted before it is queued, so a simulated clock never sees the loops
  // idle while a posted function is pending or running.
  if (simulated_clock_ != nullptr) simulated_clock_->WorkQueued();
  MutexLock lock(&mu_);
  if (stopped_) {
    if (simulated_clock_ != nullptr) simulated_clock_->WorkDone(1);
    return false;
  }
  posted_.push_back(std::move(fn));
  // Our own thread drains posted_ before it blocks again; others must wake it.
  if (!wakeup_armed_ && current_loop != this) {
    wakeup_armed_ = true;
    wakeup_alarm_.Set(cq_.get(), gpr_time_0(GPR_CLOCK_MONOTONIC), wakeup_.get());
  }
  return true;
}

void EventLoop::Start() {
  thread_ = std::thread([this] {
    NameThisThread(absl::StrCat("loop-", index_));
    Run();
  });
}

void EventLoop::Run() {
  current_loop = this;
  if (lag_probe_) lag_probe_->Start();
  // A loop busy for longer than a scheduler slice would keep the threads
  // that yield to it (YieldOnWakeup: the HTTP I/O threads) off its core for
  // that long. Every kBusyForNanos it looks whether it slept meanwhile
  // (they ran then); if not, it gives them a turn.
  int64_t checked_at = absl::GetCurrentTimeNanos();
  int64_t switches_at_check = VoluntarySwitches();
  for (;;) {
    RunReady();
    bool more;
    {
      MutexLock lock(&mu_);
      more = !posted_.empty();
    }
    void* tag = nullptr;
    bool ok = false;
    waiting_.store(true, std::memory_order_relaxed);
    auto status = cq_->AsyncNext(
        &tag, &ok, more ? gpr_time_0(GPR_CLOCK_MONOTONIC) : gpr_inf_future(GPR_CLOCK_MONOTONIC));
    waiting_.store(false, std::memory_order_relaxed);
    turns_.store(turns_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (const int64_t now = absl::GetCurrentTimeNanos(); now - checked_at > kBusyForNanos) {
      const int64_t switches = VoluntarySwitches();
      // Returns at once if no one waits for the core. Unknown (-1): never.
      if (switches >= 0 && switches == switches_at_check) sched_yield();
      checked_at = now;
      switches_at_check = switches;
    }
    if (status == grpc::CompletionQueue::SHUTDOWN) break;
    if (status == grpc::CompletionQueue::GOT_EVENT) static_cast<Completion*>(tag)->OnComplete(ok);
  }
  current_loop = nullptr;
}

void EventLoop::RunReady() {
  size_t ran = 0;
  while (ran < kMaxReadyPerTurn) {
    running_.clear();
    {
      MutexLock lock(&mu_);
      if (posted_.empty()) return;
      running_.swap(posted_);
      idle_.SignalAll();  // Stop() waits for the queue to empty.
    }
    for (auto& fn : running_) fn();
    const size_t batch = running_.size();
    ran += batch;
    if (simulated_clock_ != nullptr) {
      running_.clear();  // What the functions held goes before the loop counts as idle.
      simulated_clock_->WorkDone(static_cast<int64_t>(batch));
    }
  }
}

void EventLoop::TaskStarted() {
  MutexLock lock(&mu_);
  ++live_tasks_;
}

void EventLoop::TaskFinished() {
  MutexLock lock(&mu_);
  if (--live_tasks_ == 0) idle_.SignalAll();
}

void EventLoop::ReportFailure(std::string_view what, const absl::Status& status) {
  failures_.fetch_add(1, std::memory_order_relaxed);
  failures_metric_.Increment();
  FANOUT_LOG(ERROR) << "loop " << index_ << ": " << what << " failed: " << status;
}

void EventLoop::Stop(absl::Time deadline) {
  BeginStop();
  AwaitIdle(deadline);
  FinishStop();
}

void EventLoop::BeginStop() {
  // UNAVAILABLE, not CANCELLED: nobody cancelled the work, the node is going
  // away (a REST caller sees 503, not 499; a gRPC caller may retry elsewhere).
  Post([this] { root_.Cancel(absl::UnavailableError("the node is shutting down")); });
}

void EventLoop::AwaitIdle(absl::Time deadline) {
  MutexLock lock(&mu_);
  while (!stopped_ && (live_tasks_ > 0 || !posted_.empty())) {
    if (!idle_.WaitWithDeadline(&mu_, deadline)) {
      FANOUT_LOG(WARNING) << "loop " << index_ << ": " << live_tasks_
                          << " task(s) still running at the stop deadline";
      return;
    }
  }
}

void EventLoop::FinishStop() {
  if (!thread_.joinable()) return;
  // From here on nothing may start an operation on the queue.
  Notification draining;
  if (Post([this, &draining] {
        draining_ = true;
        // Its pending timer would otherwise hold the queue's shutdown.
        if (lag_probe_) lag_probe_->Stop();
        draining.Notify();
      })) {
    draining.WaitForNotification();
  }
  {
    MutexLock lock(&mu_);
    stopped_ = true;
  }
  cq_->Shutdown();
  thread_.join();
  // Posted work that never ran holds nothing the queue still needs. Destroy
  // it outside the lock: a destructor may try to Post (and be refused).
  std::vector<absl::AnyInvocable<void()>> dropped;
  {
    MutexLock lock(&mu_);
    dropped.swap(posted_);
  }
  if (!dropped.empty()) {
    FANOUT_LOG(WARNING) << "loop " << index_ << ": " << dropped.size()
                        << " posted function(s) dropped at stop";
  }
  if (simulated_clock_ != nullptr) {
    const auto count = static_cast<int64_t>(dropped.size());
    dropped.clear();
    simulated_clock_->WorkDone(count);
    simulated_clock_->ForgetLoop(this);  // Timers nothing will ever cancel.
  }
}

LoopGroup::LoopGroup(Options options, grpc::ServerBuilder* builder) {
  // Debian's Abseil checks every absl::Mutex (gRPC's own) for lock-order
  // cycles, at a few percent of CPU per call. fanout's locks are its own
  // (node/base/sync.h) and gRPC's are not ours to check.
  static std::once_flag once;
  std::call_once(once, [] { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); });
  int n = options.num_loops > 0
              ? options.num_loops
              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const EventLoop::Options loop_options{.lag_probe_interval = options.lag_probe_interval,
                                        .simulated_clock = options.simulated_clock};
  for (int i = 0; i < n; ++i) {
    if (builder != nullptr) {
      std::unique_ptr<grpc::ServerCompletionQueue> cq = builder->AddCompletionQueue();
      grpc::ServerCompletionQueue* raw = cq.get();
      loops_.push_back(std::make_unique<EventLoop>(i, std::move(cq), raw, loop_options));
    } else {
      loops_.push_back(std::make_unique<EventLoop>(i, std::make_unique<grpc::CompletionQueue>(),
                                                   nullptr, loop_options));
    }
  }
  for (auto& loop : loops_) loop->Start();
  if (options.stall_report_after > absl::ZeroDuration()) {
    std::vector<EventLoop*> watched;
    for (auto& loop : loops_) watched.push_back(loop.get());
    stall_watch_ = std::make_unique<StallWatch>(std::move(watched), options.stall_report_after);
  }
}

LoopGroup::~LoopGroup() { Stop(absl::Now() + absl::Seconds(1)); }

EventLoop& LoopGroup::Next() {
  return *loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
}

void LoopGroup::Stop(absl::Time deadline) {
  if (stopped_) return;
  stopped_ = true;
  for (auto& loop : loops_) loop->BeginStop();
  for (auto& loop : loops_) loop->AwaitIdle(deadline);
  for (auto& loop : loops_) loop->FinishStop();
  stall_watch_.reset();  // After the loops: a loop stuck while draining is reported too.
}

}  // namespace fanout
