#include "node/loop/stall_watch.h"

#include <memory>
#include <set>
#include <string>

#include "node/base/log.h"
#include "node/base/this_thread.h"
#include "node/loop/event_loop.h"

namespace fanout {

StallWatch::StallWatch(std::vector<EventLoop*> loops, absl::Duration threshold)
    : loops_(std::move(loops)), threshold_(threshold), seen_(loops_.size()) {
  metrics::Family<metrics::Counter>& family = metrics::DefaultRegistry().AddCounter(
      "fanout_loop_stalls_total",
      "Times the event loop stayed busy past the stall threshold without returning to its queue.",
      {"loop"});
  for (EventLoop* loop : loops_) stalls_.push_back(&family.With({std::to_string(loop->index())}));
  thread_ = std::thread([this] {
    NameThisThread("stall-watch");
    Run();
  });
}

StallWatch::~StallWatch() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  wake_.SignalAll();
  thread_.join();
}

void StallWatch::Run() {
  MutexLock lock(&mu_);
  while (!stopping_) {
    wake_.WaitWithDeadline(&mu_, absl::Now() + threshold_ / 2);
    if (stopping_) break;
    absl::Time now = absl::Now();
    for (size_t i = 0; i < loops_.size(); ++i) Look(i, now);
  }
}

void StallWatch::Look(size_t i, absl::Time now) {
  const EventLoop& loop = *loops_[i];
  Seen& seen = seen_[i];
  uint64_t turns = loop.turns();
  bool busy = !loop.waiting();
  if (turns != seen.turns || !busy || !seen.busy) {
    if (seen.reported) {
      FANOUT_LOG(WARNING) << "loop " << loop.index() << " is back after about "
                          << absl::FormatDuration(
                                 absl::Trunc(now - seen.since, absl::Milliseconds(1)))
                          << " on one event";
    }
    seen = Seen{.turns = turns, .busy = busy, .reported = false, .since = now};
    return;
  }
  // Busy at two looks in a row on the same event.
  if (!seen.reported && now - seen.since >= threshold_) {
    seen.reported = true;
    stalls_[i]->Increment();
    const char* activity = loop.activity();
    FANOUT_LOG(ERROR) << "loop " << loop.index() << " has been busy for over "
                      << absl::FormatDuration(absl::Trunc(now - seen.since, absl::Milliseconds(1)))
                      << " on one event without returning to its queue: every request on it "
                         "waits (last noted activity: "
                      << (activity ? activity : "none") << ")";
  }
}

const char* InternActivity(absl::string_view label) {
  static Mutex mu;
  static auto* labels = new std::set<std::string, std::less<>>();  // Never freed: pointers escape.
  MutexLock lock(&mu);
  auto it = labels->find(label);
  if (it == labels->end()) it = labels->emplace(label).first;
  return it->c_str();
}

}  // namespace fanout
