// Every: a periodic background task, asyncio's "while True: await work();
// await sleep(interval)" worker, stopped by cancellation (loop shutdown).
//
//   Spawn(loop, Every(absl::Seconds(10), [&]() -> Task<absl::Status> {
//     co_return co_await RefreshCatalogue();
//   }), "catalogue refresh");
//
// A failing round is logged and the next one runs on schedule; the task ends
// with OK when it is cancelled. The schedule is in the loop's time, so a
// test on a SimulatedClock sees a round per interval it advances.
// Loop-affine.
#pragma once

#include "absl/functional/any_invocable.h"
#include "node/async/sleep.h"
#include "node/async/task.h"
#include "node/base/log.h"
#include "node/loop/event_loop.h"

namespace fanout {

inline Task<absl::Status> Every(absl::Duration interval,
                                absl::AnyInvocable<Task<absl::Status>()> round) {
  EventLoop* loop = (co_await CurrentContext()).loop;
  absl::Time next = loop->Now() + interval;
  for (;;) {
    if (!(co_await SleepUntil(next)).ok()) co_return absl::OkStatus();
    absl::Status status = co_await round();
    if ((co_await CurrentContext()).token.cancelled()) co_return absl::OkStatus();
    if (!status.ok()) FANOUT_LOG(WARNING) << "periodic task round failed: " << status;
    // Fixed rate, but never a burst to catch up after a slow round.
    next = std::max(next + interval, loop->Now());
  }
}

}  // namespace fanout
