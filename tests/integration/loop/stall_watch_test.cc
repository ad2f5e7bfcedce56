// StallWatch on real loop threads: a loop held on one event past the
// threshold is counted (and logged with its noted activity); a loop that
// waits on its queue is not. Real time, so the margins are wide: 100 ms
// threshold, 600 ms of busy work.
#include "node/loop/stall_watch.h"

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "node/base/sync.h"
#include "node/loop/event_loop.h"
#include "tests/support/eventually.h"

namespace fanout {
namespace {

using ::fanout::testing::Eventually;

metrics::Counter& Stalls(int loop) {
  return metrics::DefaultRegistry()
      .AddCounter("fanout_loop_stalls_total",
                  "Times the event loop stayed busy past the stall threshold without returning to "
                  "its queue.",
                  {"loop"})
      .With({std::to_string(loop)});
}

TEST(StallWatchTest, ALoopBusyPastTheThresholdIsReportedOnceAndAnIdleOneNever) {
  LoopGroup loops({.num_loops = 2,
                   .lag_probe_interval = absl::ZeroDuration(),
                   .stall_report_after = absl::Milliseconds(100)});
  int64_t busy_before = Stalls(0).value();
  int64_t idle_before = Stalls(1).value();
  Notification done;
  loops.At(0).Post([&] {
    EventLoop::Current()->NoteActivity(InternActivity("route \"a test's busy work\""));
    absl::SleepFor(absl::Milliseconds(600));  // Holds the loop, as a CPU-bound handler would.
    done.Notify();
  });
  done.WaitForNotification();
  EXPECT_TRUE(Eventually([&] { return Stalls(0).value() == busy_before + 1; }));
  EXPECT_EQ(loops.At(0).activity(), std::string("route \"a test's busy work\""));
  // Six looks at an idle loop, and at the first one after its return.
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(Stalls(0).value(), busy_before + 1);
  EXPECT_EQ(Stalls(1).value(), idle_before);
}

TEST(StallWatchTest, InternedLabelsAreOnePointerPerText) {
  const char* a = InternActivity("route \"x\"");
  EXPECT_EQ(a, InternActivity(std::string("route \"x\"")));
  EXPECT_NE(a, InternActivity("route \"y\""));
}

}  // namespace
}  // namespace fanout
