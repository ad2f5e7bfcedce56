// Semaphore, Channel, Promise and Offload: the thread-safe primitives.
#include "node/base/sync.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "node/async/channel.h"
#include "node/async/gather.h"
#include "node/async/offload.h"
#include "node/async/promise.h"
#include "node/async/semaphore.h"
#include "node/async/with_deadline.h"
#include "node/base/status_macros.h"
#include "tests/support/loop_fixture.h"
#include "tests/support/status_matchers.h"

namespace fanout {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::IsOkAndHolds;
using ::fanout::testing::StatusIs;
using ::testing::ElementsAre;

// Simulated time: the sleeps and timeouts below take no wall-clock time.
// Offload's pool threads run in real time beside it.
class SyncTest : public testing::SimulatedLoopTest {};

TEST_F(SyncTest, SemaphoreLimitsConcurrency) {
  Semaphore sem({.permits = 2});
  int running = 0, peak = 0;
  auto worker = [&]() -> Task<absl::Status> {
    FANOUT_CO_ASSIGN_OR_RETURN(Semaphore::Permit permit, co_await sem.Acquire());
    peak = std::max(peak, ++running);
    FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Milliseconds(2)));
    --running;
    co_return absl::OkStatus();
  };
  auto run = [&]() -> Task<absl::Status> {
    std::vector<Task<absl::Status>> tasks;
    for (int i = 0; i < 8; ++i) tasks.push_back(worker());
    co_return co_await Gather(std::move(tasks));
  };
  EXPECT_THAT(Run(run()), IsOk());
  EXPECT_EQ(peak, 2);
  EXPECT_EQ(sem.available(), 2);
}

TEST_F(SyncTest, SemaphoreCapacityChangesWhileInUse) {
  Semaphore sem({.permits = 2});
  std::vector<int> order;
  auto run = [&]() -> Task<absl::Status> {
    std::optional<Semaphore::Permit> a = sem.TryAcquire(), b = sem.TryAcquire();
    if (!a || !b) co_return absl::InternalError("two permits");
    auto waiter = [&](int id) -> Task<absl::Status> {
      FANOUT_CO_ASSIGN_OR_RETURN(Semaphore::Permit permit, co_await sem.Acquire());
      order.push_back(id);
      FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Seconds(10)));  // Holds it.
      co_return absl::OkStatus();
    };
    auto steer = [&]() -> Task<absl::Status> {
      FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Milliseconds(1)));
      if (sem.waiters() != 3) co_return absl::InternalError("waiters not queued");
      sem.SetCapacity(4);  // Two more permits: the first two waiters, in order.
      FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Milliseconds(1)));
      if (order != std::vector<int>{0, 1}) co_return absl::InternalError("grown: wrong waiters");
      sem.SetCapacity(1);  // Four held, one allowed: three must come back first.
      if (sem.available() != -3) co_return absl::InternalError("lowered: no debt");
      a->Release();
      b->Release();
      if (sem.TryAcquire().has_value() || sem.waiters() != 1) {
        co_return absl::InternalError("a retired permit was handed on");
      }
      co_return absl::OkStatus();
    };
    std::vector<Task<absl::Status>> tasks;
    for (int i = 0; i < 3; ++i) tasks.push_back(waiter(i));
    tasks.push_back(steer());
    co_return co_await Gather(std::move(tasks));
  };
  EXPECT_THAT(Run(run()), IsOk());
  // Waiters 0 and 1 released theirs after 10 s: the first retired the last
  // extra permit, the second let waiter 2 in.
  EXPECT_THAT(order, ElementsAre(0, 1, 2));
  EXPECT_EQ(sem.capacity(), 1);
  EXPECT_EQ(sem.available(), 1);
}

TEST_F(SyncTest, SemaphoreServesWaitersInArrivalOrder) {
  Semaphore sem({.permits = 1});
  std::vector<int> order;
  auto waiter = [&](int id) -> Task<absl::Status> {
    FANOUT_CO_ASSIGN_OR_RETURN(Semaphore::Permit permit, co_await sem.Acquire());
    order.push_back(id);
    co_return absl::OkStatus();
  };
  auto run = [&]() -> Task<absl::Status> {
    std::optional<Semaphore::Permit> held = sem.TryAcquire();
    if (!held) co_return absl::InternalError("first permit");
    std::vector<Task<absl::Status>> tasks;
    for (int i = 0; i < 5; ++i) tasks.push_back(waiter(i));
    auto release_later = [&]() -> Task<absl::Status> {
      // Queue everybody (they all run before any time passes), then check a
      // newcomer cannot barge past them.
      FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Milliseconds(1)));
      if (sem.waiters() != 5) co_return absl::InternalError("waiters not queued");
      held->Release();
      if (sem.TryAcquire().has_value()) co_return absl::InternalError("barged past waiters");
      co_return absl::OkStatus();
    };
    tasks.push_back(release_later());
    co_return co_await Gather(std::move(tasks));
  };
  EXPECT_THAT(Run(run()), IsOk());
  EXPECT_THAT(order, ElementsAre(0, 1, 2, 3, 4));
}

TEST_F(SyncTest, SemaphoreAcquireTimesOutWithResourceExhausted) {
  Semaphore sem({.permits = 1});
  auto run = [&]() -> Task<absl::Status> {
    auto held = sem.TryAcquire();
    auto permit = co_await sem.Acquire(absl::Milliseconds(2));
    co_return permit.status();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(sem.waiters(), 0);
  EXPECT_EQ(sem.available(), 1);
}

TEST_F(SyncTest, SemaphoreFullQueueFailsFast) {
  Semaphore sem({.permits = 1, .max_waiters = 0});
  auto run = [&]() -> Task<absl::Status> {
    auto held = sem.TryAcquire();
    co_return (co_await sem.Acquire()).status();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST_F(SyncTest, SemaphoreWaitEndsWithCallersDeadline) {
  Semaphore sem({.permits = 1});
  auto run = [&]() -> Task<absl::Status> {
    auto held = sem.TryAcquire();
    auto acquire = [&]() -> Task<absl::Status> { co_return (co_await sem.Acquire()).status(); };
    co_return co_await WithTimeout(acquire(), absl::Milliseconds(2));
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(sem.waiters(), 0);
}

TEST_F(SyncTest, SemaphoreQueueWaitsInLineWithTasks) {
  // A Queue callback takes its turn behind a task queued first, and gets
  // the permit on the thread that frees it.
  Semaphore sem({.permits = 1});
  std::vector<std::string> order;
  std::optional<Semaphore::Permit> callbacks;
  std::optional<Semaphore::Place> place;
  auto run = [&]() -> Task<absl::Status> {
    std::optional<Semaphore::Permit> held = sem.TryAcquire();
    auto task = [&]() -> Task<absl::Status> {
      FANOUT_CO_ASSIGN_OR_RETURN(Semaphore::Permit permit, co_await sem.Acquire());
      order.push_back("task");
      co_return absl::OkStatus();  // Released here: the callback's turn.
    };
    auto queue_then_release = [&]() -> Task<absl::Status> {
      FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Milliseconds(1)));  // The task first.
      FANOUT_CO_ASSIGN_OR_RETURN(place, sem.Queue([&](Semaphore::Permit permit) {
        order.push_back("callback");
        callbacks = std::move(permit);
      }));
      if (sem.waiters() != 2) co_return absl::InternalError("both not queued");
      held->Release();
      co_return absl::OkStatus();
    };
    std::vector<Task<absl::Status>> tasks;
    tasks.push_back(task());
    tasks.push_back(queue_then_release());
    co_return co_await Gather(std::move(tasks));
  };
  EXPECT_THAT(Run(run()), IsOk());
  EXPECT_THAT(order, ElementsAre("task", "callback"));
  ASSERT_TRUE(callbacks.has_value());
  EXPECT_FALSE(place->Leave());  // Granted already.
  EXPECT_EQ(sem.available(), 0);
  callbacks.reset();
  EXPECT_EQ(sem.available(), 1);
}

TEST_F(SyncTest, SemaphoreQueueRunsAtOnceWhenFreeAndNotAfterLeaving) {
  Semaphore sem({.permits = 1, .max_waiters = 1});
  int granted = 0;
  {
    absl::StatusOr<Semaphore::Place> now = sem.Queue([&](Semaphore::Permit) { ++granted; });
    ASSERT_THAT(now.status(), IsOk());
    EXPECT_EQ(granted, 1);  // Before Queue returned; the permit went with the callback.
    EXPECT_FALSE(now->Leave());
  }
  std::optional<Semaphore::Permit> held = sem.TryAcquire();
  ASSERT_TRUE(held.has_value());
  absl::StatusOr<Semaphore::Place> queued = sem.Queue([&](Semaphore::Permit) { ++granted; });
  ASSERT_THAT(queued.status(), IsOk());
  EXPECT_THAT(sem.Queue([&](Semaphore::Permit) { ++granted; }).status(),
              StatusIs(absl::StatusCode::kResourceExhausted));  // The line holds one.
  EXPECT_TRUE(queued->Leave());
  EXPECT_EQ(sem.waiters(), 0);
  held.reset();
  EXPECT_EQ(granted, 1);
  EXPECT_EQ(sem.available(), 1);
}

TEST_F(SyncTest, SemaphoreQueueLeavingRacesGrantingOnOtherThreads) {
  // Threads release permits while others queue and leave at once: every
  // callback runs at most once, never after Leave returned, and every
  // permit comes back.
  Semaphore sem({.permits = 2});
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        std::optional<Semaphore::Permit> permit = sem.TryAcquire();
        std::this_thread::yield();
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        auto ran = std::make_shared<std::atomic<int>>(0);
        absl::StatusOr<Semaphore::Place> place =
            sem.Queue([ran](Semaphore::Permit) { ran->fetch_add(1); });
        ASSERT_THAT(place.status(), IsOk());
        if (i % 2 == 1) std::this_thread::yield();  // A grant's chance to come first.
        const bool left = place->Leave();
        EXPECT_EQ(ran->load(), left ? 0 : 1);
      }
    });
  }
  threads[2].join();
  threads[3].join();
  stop = true;
  threads[0].join();
  threads[1].join();
  // How many were granted (in the line or at once) depends on the
  // scheduling; the invariants do not.
  EXPECT_EQ(sem.waiters(), 0);
  EXPECT_EQ(sem.available(), 2);
}

TEST_F(SyncTest, SemaphorePermitCrossesLoops) {
  // A permit released on loop 1 wakes a waiter on loop 0, on loop 0.
  Semaphore sem({.permits = 1});
  std::optional<Semaphore::Permit> held = sem.TryAcquire();
  auto run = [&]() -> Task<absl::StatusOr<bool>> {
    loop(1).Post([&] { held->Release(); });
    FANOUT_CO_ASSIGN_OR_RETURN(auto permit, co_await sem.Acquire());
    co_return EventLoop::Current() == &loop(0);
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(true));
}

TEST_F(SyncTest, ChannelDeliversInOrderWithBackpressure) {
  Channel<int> ch(2);
  auto producer = [&]() -> Task<absl::Status> {
    for (int i = 0; i < 10; ++i) {
      FANOUT_CO_RETURN_IF_ERROR(co_await ch.Send(i));
      if (ch.size() > ch.capacity()) co_return absl::InternalError("over capacity");
    }
    ch.Close();
    co_return absl::OkStatus();
  };
  std::vector<int> got;
  auto consumer = [&]() -> Task<absl::Status> {
    for (;;) {
      absl::StatusOr<int> v = co_await ch.Receive();
      if (absl::IsOutOfRange(v.status())) co_return absl::OkStatus();
      FANOUT_CO_RETURN_IF_ERROR(v.status());
      got.push_back(*v);
      FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Microseconds(100)));
    }
  };
  auto run = [&]() -> Task<absl::Status> {
    std::vector<Task<absl::Status>> tasks;
    tasks.push_back(producer());
    tasks.push_back(consumer());
    co_return co_await Gather(std::move(tasks));
  };
  EXPECT_THAT(Run(run()), IsOk());
  EXPECT_THAT(got, ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
}

TEST_F(SyncTest, ChannelTrySendRefusesWhenFull) {
  Channel<std::string> ch(1);
  EXPECT_THAT(ch.TrySend("a"), IsOk());
  EXPECT_THAT(ch.TrySend("b"), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(ch.TryReceive(), "a");
  EXPECT_EQ(ch.TryReceive(), std::nullopt);
}

TEST_F(SyncTest, ChannelCloseDrainsThenEnds) {
  Channel<int> ch(4);
  ASSERT_THAT(ch.TrySend(1), IsOk());
  ASSERT_THAT(ch.TrySend(2), IsOk());
  ch.Close();
  EXPECT_THAT(ch.TrySend(3), StatusIs(absl::StatusCode::kFailedPrecondition));
  auto run = [&]() -> Task<absl::StatusOr<std::vector<int>>> {
    std::vector<int> got;
    for (;;) {
      absl::StatusOr<int> v = co_await ch.Receive();
      if (!v.ok()) {
        if (absl::IsOutOfRange(v.status())) co_return got;
        co_return v.status();
      }
      got.push_back(*v);
    }
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(ElementsAre(1, 2)));
}

TEST_F(SyncTest, ChannelCloseWakesBlockedReceiverAndSender) {
  Channel<int> empty(1), full(1);
  ASSERT_THAT(full.TrySend(0), IsOk());
  auto run = [&]() -> Task<absl::Status> {
    auto recv = [&]() -> Task<absl::Status> { co_return (co_await empty.Receive()).status(); };
    auto send = [&]() -> Task<absl::Status> { co_return co_await full.Send(1); };
    auto close = [&]() -> Task<absl::Status> {
      FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Milliseconds(1)));
      empty.Close();
      full.Close();
      co_return absl::OkStatus();
    };
    auto [r, s, c] = co_await GatherSettled(recv(), send(), close());
    if (!absl::IsOutOfRange(r)) co_return absl::InternalError("receiver: " + r.ToString());
    if (!absl::IsFailedPrecondition(s)) co_return absl::InternalError("sender: " + s.ToString());
    co_return c;
  };
  EXPECT_THAT(Run(run()), IsOk());
}

TEST_F(SyncTest, ChannelReceiveIsCancellable) {
  Channel<int> ch(1);
  auto run = [&]() -> Task<absl::Status> {
    auto recv = [&]() -> Task<absl::Status> { co_return (co_await ch.Receive()).status(); };
    co_return co_await WithTimeout(recv(), absl::Milliseconds(1));
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kDeadlineExceeded));
  // The cancelled receiver left no trace: a value sent now stays buffered.
  EXPECT_THAT(ch.TrySend(5), IsOk());
  EXPECT_EQ(ch.TryReceive(), 5);
}

TEST_F(SyncTest, ChannelAcrossLoops) {
  Channel<int> ch(8);
  constexpr int kCount = 10000;
  // A coroutine lambda must outlive its coroutine: keep it named.
  auto producer = [&]() -> Task<absl::Status> {
    for (int i = 0; i < kCount; ++i) FANOUT_CO_RETURN_IF_ERROR(co_await ch.Send(i));
    ch.Close();
    co_return absl::OkStatus();
  };
  Spawn(loop(1), producer());
  auto run = [&]() -> Task<absl::StatusOr<int64_t>> {
    int64_t sum = 0;
    int expected = 0;
    for (;;) {
      absl::StatusOr<int> v = co_await ch.Receive();
      if (absl::IsOutOfRange(v.status())) co_return sum;
      FANOUT_CO_RETURN_IF_ERROR(v.status());
      if (*v != expected++) co_return absl::InternalError("out of order");
      sum += *v;
    }
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(int64_t{kCount} * (kCount - 1) / 2));
}

TEST_F(SyncTest, PromiseResolvesAcrossLoops) {
  auto run = [&]() -> Task<absl::StatusOr<bool>> {
    auto [promise, future] = MakePromise<absl::StatusOr<int>>();
    loop(1).Post([p = std::move(promise)]() mutable { p.Set(7); });
    FANOUT_CO_ASSIGN_OR_RETURN(int v, co_await future.Get());
    co_return v == 7 && EventLoop::Current() == &loop(0);
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(true));
}

TEST_F(SyncTest, BrokenPromiseIsUnavailable) {
  auto run = [&]() -> Task<absl::Status> {
    auto [promise, future] = MakePromise<absl::Status>();
    loop(1).Post([p = std::move(promise)] {});
    co_return co_await future.Get();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(SyncTest, OffloadRunsOffTheLoopAndResumesOnIt) {
  OffloadPool pool({.threads = 2});
  auto run = [&]() -> Task<absl::StatusOr<bool>> {
    std::thread::id worker;
    FANOUT_CO_ASSIGN_OR_RETURN(int v, co_await Offload(pool, [&]() -> absl::StatusOr<int> {
                                 worker = std::this_thread::get_id();
                                 return EventLoop::Current() == nullptr ? 41 : -1;
                               }));
    co_return v == 41 && worker != std::this_thread::get_id() && EventLoop::Current() == &loop(0);
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(true));
}

TEST_F(SyncTest, OffloadQueueIsBounded) {
  OffloadPool pool({.threads = 1, .queue_capacity = 1});
  Notification release;
  // Set by the worker once it runs the blocker.
  std::pair<Promise<absl::Status>, Future<absl::Status>> busy = MakePromise<absl::Status>();
  auto blocker = [&]() -> Task<absl::Status> {
    co_return co_await Offload(pool, [&] {
      busy.first.Set(absl::OkStatus());
      release.WaitForNotification();
      return absl::OkStatus();
    });
  };
  auto run = [&]() -> Task<absl::Status> {
    auto probe = [&]() -> Task<absl::Status> {
      // Wait until the worker is busy, fill the one queue slot, then overflow.
      FANOUT_CO_RETURN_IF_ERROR(co_await busy.second.Get());
      auto queued = [&]() -> Task<absl::Status> {
        co_return co_await Offload(pool, [] { return absl::OkStatus(); });
      };
      auto overflow = [&]() -> Task<absl::Status> {
        co_return co_await Offload(pool, [] { return absl::OkStatus(); });
      };
      auto [q, o, r] = co_await GatherSettled(queued(), overflow(), [&]() -> Task<absl::Status> {
        release.Notify();
        co_return absl::OkStatus();
      }());
      if (!q.ok()) co_return q;
      co_return o;
    };
    auto [b, p] = co_await GatherSettled(blocker(), probe());
    FANOUT_CO_RETURN_IF_ERROR(b);
    co_return p;
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST_F(SyncTest, OffloadCancelledWhileQueuedNeverRuns) {
  OffloadPool pool({.threads = 1});
  Notification release;
  std::atomic<bool> ran{false};
  auto run = [&]() -> Task<absl::Status> {
    auto blocker = [&]() -> Task<absl::Status> {
      co_return co_await Offload(pool, [&] {
        release.WaitForNotification();
        return absl::OkStatus();
      });
    };
    auto queued = [&]() -> Task<absl::Status> {
      co_return co_await Offload(pool, [&] {
        ran = true;
        return absl::OkStatus();
      });
    };
    auto [b, q] = co_await GatherSettled(blocker(), [&]() -> Task<absl::Status> {
      absl::Status s = co_await WithTimeout(queued(), absl::Milliseconds(2));
      release.Notify();
      co_return s;
    }());
    FANOUT_CO_RETURN_IF_ERROR(b);
    co_return q;
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace fanout
