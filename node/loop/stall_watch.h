// StallWatch: reports a loop that stays busy too long. A loop is one thread
// for many requests; one handler that computes for seconds (a pathological
// body, a quadratic library call) holds every request queued behind it.
// The lag probe only sees that after the fact, once the loop is back; this
// watch sees it while it happens.
//
// One thread per LoopGroup wakes every `threshold / 2` and looks at each
// loop: one that is not waiting on its queue and has handled no event since
// the last looks has been busy for `threshold` or more. It is logged
// (ERROR, with what the loop last noted it was working for: see
// EventLoop::NoteActivity) and counted (fanout_loop_stalls_total{loop}),
// once per stall; its return is logged with how long it was gone.
//
//   StallWatch watch({&loop0, &loop1}, absl::Seconds(1));   // LoopGroup does this
//
// Costs the loops one plain store per event and two per wait. Thread-safe.
#pragma once

#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "node/base/sync.h"
#include "node/telemetry/metrics.h"

namespace fanout {

class EventLoop;

class StallWatch {
 public:
  StallWatch(std::vector<EventLoop*> loops, absl::Duration threshold);
  ~StallWatch();  // Stops and joins the thread.
  StallWatch(const StallWatch&) = delete;
  StallWatch& operator=(const StallWatch&) = delete;

 private:
  struct Seen {
    uint64_t turns = 0;
    bool busy = false;      // Not waiting at the last look.
    bool reported = false;  // This stall was reported.
    absl::Time since;       // When the loop was first seen on this event.
  };
  void Run();
  void Look(size_t i, absl::Time now);

  const std::vector<EventLoop*> loops_;
  const absl::Duration threshold_;
  std::vector<Seen> seen_;  // The watch thread's own.
  std::vector<metrics::Counter*> stalls_;
  Mutex mu_;
  CondVar wake_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// A label for EventLoop::NoteActivity that lives for the process: the same
// text gives the same pointer. For labels from config (route names): a
// bounded set. Thread-safe.
const char* InternActivity(absl::string_view label);

}  // namespace fanout
