// runtime_bench: what the node runtime's building blocks cost, one at a time.
//
//   runtime_bench                                  # everything, ~10 s
//   runtime_bench --benchmark_filter=Channel       # one family
//
// Most timing loops run inside a task on an event loop (one BlockOn per run),
// so a figure is the runtime's own cost, not the cost of entering a loop from
// outside; BM_BlockOnTrivialTask measures that entry on its own. Benchmarks
// that cross threads report wall time (UseRealTime): the CPU time of one
// thread says little about them.
#include <benchmark/benchmark.h>

#include <coroutine>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/synchronization/notification.h"
#include "node/async/channel.h"
#include "node/async/semaphore.h"
#include "node/async/sleep.h"
#include "node/async/spawn.h"
#include "node/async/task.h"
#include "node/async/with_deadline.h"
#include "node/loop/event_loop.h"
#include "node/loop/timer.h"

namespace fanout {
namespace {

// Each run gets two fresh loops: loop 0 runs the timing loop, loop 1 is the
// "other" loop. Start-up and stop are outside the timed region.
class TwoLoops {
 public:
  TwoLoops() : loops_({.num_loops = 2}) {}
  ~TwoLoops() { loops_.Stop(absl::Now() + absl::Seconds(5)); }
  EventLoop& home() { return loops_.At(0); }
  EventLoop& other() { return loops_.At(1); }

 private:
  LoopGroup loops_;
};

// Ends the timing loop with an error: Google Benchmark wants SkipWithError
// before a `break` out of `for (auto _ : state)`.
void Fail(benchmark::State& state, const absl::Status& status) {
  state.SkipWithError(status.ToString().c_str());
}

// --- Post ---------------------------------------------------------------

// Suspends the task, hops to `other`, back to `home`, and resumes there: two
// cross-thread Posts, each waking a loop blocked on its completion queue.
struct PostRoundTrip {
  EventLoop* home;
  EventLoop* other;
  bool await_ready() noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    other->Post([home = home, h] { home->Post([h] { h.resume(); }); });
  }
  void await_resume() noexcept {}
};

// Suspends the task and resumes it from its own loop's ready queue: a Post
// with no wake-up, the cost of the queue itself.
struct PostToSelf {
  EventLoop* loop;
  bool await_ready() noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    loop->Post([h] { h.resume(); });
  }
  void await_resume() noexcept {}
};

template <typename Awaitable>
Task<void> AwaitEachIteration(benchmark::State& state, Awaitable awaitable) {
  for (auto _ : state) co_await awaitable;
}

void BM_PostRoundTrip(benchmark::State& state) {
  TwoLoops loops;
  BlockOn(loops.home(), AwaitEachIteration(state, PostRoundTrip{&loops.home(), &loops.other()}));
}
BENCHMARK(BM_PostRoundTrip)->UseRealTime();

void BM_PostToOwnLoop(benchmark::State& state) {
  TwoLoops loops;
  BlockOn(loops.home(), AwaitEachIteration(state, PostToSelf{&loops.home()}));
}
BENCHMARK(BM_PostToOwnLoop)->UseRealTime();

// --- Tasks --------------------------------------------------------------

Task<int> Identity(int i) { co_return i; }

// One coroutine frame allocated, entered by symmetric transfer, completed,
// the awaiter resumed, the frame freed.
Task<void> AwaitTrivialTasks(benchmark::State& state) {
  int i = 0;
  for (auto _ : state) {
    i = co_await Identity(i + 1);
    benchmark::DoNotOptimize(i);
  }
}

void BM_TaskAwaitTrivialTask(benchmark::State& state) {
  TwoLoops loops;
  BlockOn(loops.home(), AwaitTrivialTasks(state));
}
BENCHMARK(BM_TaskAwaitTrivialTask);

// From a plain thread into a loop and back: Post, wake-up, Notification.
// What main() or a test pays per BlockOn; not a cost inside a node.
void BM_BlockOnTrivialTask(benchmark::State& state) {
  TwoLoops loops;
  int i = 0;
  for (auto _ : state) {
    i = BlockOn(loops.home(), Identity(i + 1));
    benchmark::DoNotOptimize(i);
  }
}
BENCHMARK(BM_BlockOnTrivialTask)->UseRealTime();

// --- Timers -------------------------------------------------------------

// A sleep that is already due: the awaiter (and its grpc::Alarm), "now"
// read, the alarm set on the queue, its completion, the cancellation
// callback registered and dropped, the task resumed. (A zero sleep would
// measure gRPC's timer granularity, about a millisecond of waiting.)
Task<void> SleepDueEachIteration(benchmark::State& state) {
  for (auto _ : state) {
    absl::Status slept = co_await Sleep(-absl::Seconds(1));
    if (!slept.ok()) {
      Fail(state, slept);
      break;
    }
  }
}

void BM_SleepDue(benchmark::State& state) {
  TwoLoops loops;
  BlockOn(loops.home(), SleepDueEachIteration(state));
}
BENCHMARK(BM_SleepDue);

// The loop's call_later with a past deadline: a Timer armed, its callback
// run from the queue. The last Timer is kept until the next one replaces it
// (a Timer must outlive its callback).
struct TimerDueNow {
  EventLoop* loop;
  std::optional<Timer>* timer;
  bool await_ready() noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    timer->emplace(*loop, absl::InfinitePast(), [h](bool) { h.resume(); });
  }
  void await_resume() noexcept {}
};

Task<void> TimerEachIteration(benchmark::State& state, EventLoop* loop) {
  std::optional<Timer> timer;
  for (auto _ : state) co_await TimerDueNow{loop, &timer};
}

void BM_TimerDueNow(benchmark::State& state) {
  TwoLoops loops;
  BlockOn(loops.home(), TimerEachIteration(state, &loops.home()));
}
BENCHMARK(BM_TimerDueNow);

Task<absl::StatusOr<int>> IdentityOr(int i) { co_return i; }

// A deadline that is never reached: WithTimeout starts the work and a
// sleeper, the work ends at once, the sleeper's alarm is cancelled and the
// scope joined. The cost a request pays for having a deadline.
Task<void> WithTimeoutEachIteration(benchmark::State& state) {
  int i = 0;
  for (auto _ : state) {
    absl::StatusOr<int> r = co_await WithTimeout(IdentityOr(i + 1), absl::Seconds(10));
    if (!r.ok()) {
      Fail(state, r.status());
      break;
    }
    i = *r;
  }
}

void BM_WithTimeoutTrivialTask(benchmark::State& state) {
  TwoLoops loops;
  BlockOn(loops.home(), WithTimeoutEachIteration(state));
}
BENCHMARK(BM_WithTimeoutTrivialTask);

// --- Semaphore ----------------------------------------------------------

// Uncontended, on a loop: Acquire() is a Task, so this includes one
// coroutine frame; the permit is released at the end of each iteration.
Task<void> AcquireAndRelease(benchmark::State& state) {
  Semaphore semaphore({.permits = 1});
  for (auto _ : state) {
    absl::StatusOr<Semaphore::Permit> permit = co_await semaphore.Acquire();
    if (!permit.ok()) {
      Fail(state, permit.status());
      break;
    }
    benchmark::DoNotOptimize(permit->held());
  }
}

void BM_SemaphoreAcquireRelease(benchmark::State& state) {
  TwoLoops loops;
  BlockOn(loops.home(), AcquireAndRelease(state));
}
BENCHMARK(BM_SemaphoreAcquireRelease);

// The synchronous path, for comparison: a mutex, no coroutine.
void BM_SemaphoreTryAcquireRelease(benchmark::State& state) {
  Semaphore semaphore({.permits = 1});
  for (auto _ : state) {
    std::optional<Semaphore::Permit> permit = semaphore.TryAcquire();
    if (!permit) {
      Fail(state, absl::InternalError("uncontended TryAcquire failed"));
      break;
    }
    benchmark::DoNotOptimize(permit->held());
  }
}
BENCHMARK(BM_SemaphoreTryAcquireRelease);

// --- Channel ------------------------------------------------------------

constexpr int kChannelItems = 10000;

// Sends 0..n-1, closes the channel, then says it is done with it.
Task<absl::Status> Produce(Channel<int>* channel, int n, absl::Notification* done) {
  absl::Status status;
  for (int i = 0; i < n && status.ok(); ++i) status = co_await channel->Send(i);
  channel->Close();
  done->Notify();
  co_return status;
}

// Receives until the channel is closed and drained; the sum proves every
// item arrived once.
Task<absl::StatusOr<int64_t>> Consume(Channel<int>* channel) {
  int64_t sum = 0;
  for (;;) {
    absl::StatusOr<int> item = co_await channel->Receive();
    if (absl::IsOutOfRange(item.status())) co_return sum;
    if (!item.ok()) co_return item.status();
    sum += *item;
  }
}

// kChannelItems ints from a producer on one loop to a consumer on the other,
// through a channel of capacity state.range(0). Capacity 1 makes nearly
// every item a suspension and a cross-loop wake-up; a large capacity lets
// both sides run in bursts.
void BM_ChannelThroughput(benchmark::State& state) {
  TwoLoops loops;
  const int64_t expected_sum = int64_t{kChannelItems} * (kChannelItems - 1) / 2;
  for (auto _ : state) {
    Channel<int> channel(static_cast<size_t>(state.range(0)));
    absl::Notification produced;
    Spawn(loops.other(), Produce(&channel, kChannelItems, &produced), "producer");
    absl::StatusOr<int64_t> sum = BlockOn(loops.home(), Consume(&channel));
    channel.Close();  // Already closed unless the consumer failed: frees a stuck producer.
    produced.WaitForNotification();
    if (!sum.ok() || *sum != expected_sum) {
      Fail(state, sum.ok() ? absl::DataLossError("items lost or duplicated") : sum.status());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kChannelItems);
}
BENCHMARK(BM_ChannelThroughput)->Arg(1)->Arg(64)->Arg(1024)->UseRealTime();

}  // namespace
}  // namespace fanout

BENCHMARK_MAIN();
