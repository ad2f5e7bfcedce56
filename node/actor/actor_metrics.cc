#include "node/actor/actor_metrics.h"

#include <map>
#include <memory>
#include <vector>

namespace fanout::internal {
namespace {

metrics::Counter& KindCounter(const char* name, const char* help, const std::string& kind) {
  return metrics::DefaultRegistry().AddCounter(name, help, {"actor"}).With({kind});
}

// Every kind seen in this process, and the callbacks that read them. Kinds
// are few (one per actor type or registry) and live for the process.
class ActorKinds {
 public:
  ActorKinds() {
    depth_ = metrics::DefaultRegistry().AddCallback(
        "fanout_actor_mailbox_depth",
        "Messages waiting in the mailboxes of the live actors of a kind.", metrics::Type::kGauge,
        {"actor"}, [this] { return Read(&ActorKindMetrics::mailbox_depth); });
    live_ = metrics::DefaultRegistry().AddCallback(
        "fanout_actors", "Live actors of a kind.", metrics::Type::kGauge, {"actor"},
        [this] { return Read(&ActorKindMetrics::live); });
  }

  ActorKindMetrics& For(const std::string& kind) {
    {
      MutexLock lock(&mu_);
      auto it = kinds_.find(kind);
      if (it != kinds_.end()) return *it->second;
    }
    // Made outside mu_: it registers counters (the registry's lock), and a
    // scrape holds that lock while its callbacks take mu_.
    auto made = std::make_unique<ActorKindMetrics>(kind);
    MutexLock lock(&mu_);
    return *kinds_.try_emplace(kind, std::move(made)).first->second;
  }

 private:
  std::vector<metrics::Sample> Read(size_t (ActorKindMetrics::*read)() const) {
    MutexLock lock(&mu_);
    std::vector<metrics::Sample> samples;
    samples.reserve(kinds_.size());
    for (const auto& [kind, metrics] : kinds_) {
      samples.push_back({{kind}, static_cast<double>(((*metrics).*read)())});
    }
    return samples;
  }

  Mutex mu_;
  std::map<std::string, std::unique_ptr<ActorKindMetrics>> kinds_ ABSL_GUARDED_BY(mu_);
  metrics::CallbackHandle depth_;
  metrics::CallbackHandle live_;
};

}  // namespace

ActorKindMetrics::ActorKindMetrics(const std::string& kind)
    : handled(KindCounter("fanout_actor_messages_handled_total",
                          "Messages an actor of this kind has handled (whatever the reply).",
                          kind)),
      refused(KindCounter("fanout_actor_messages_refused_total",
                          "Messages refused because the actor's mailbox was full.", kind)),
      failures(KindCounter("fanout_actor_failures_total",
                           "Handler results that mean the actor is broken (INTERNAL, UNKNOWN, "
                           "DATA_LOSS).",
                           kind)),
      restarts(KindCounter("fanout_actor_restarts_total",
                           "Actor instances rebuilt by the restart policy.", kind)),
      evictions(KindCounter("fanout_actor_evictions_total",
                            "Idle actors an ActorRegistry stopped to stay under its max_actors "
                            "or past its idle_timeout.",
                            kind)) {}

void ActorKindMetrics::Add(const MailboxGauge* mailbox) {
  MutexLock lock(&mu_);
  live_.insert(mailbox);
}

void ActorKindMetrics::Remove(const MailboxGauge* mailbox) {
  MutexLock lock(&mu_);
  live_.erase(mailbox);
}

size_t ActorKindMetrics::live() const {
  MutexLock lock(&mu_);
  return live_.size();
}

size_t ActorKindMetrics::mailbox_depth() const {
  MutexLock lock(&mu_);
  size_t depth = 0;
  for (const MailboxGauge* mailbox : live_) depth += mailbox->mailbox_depth();
  return depth;
}

ActorKindMetrics& ActorMetricsFor(const std::string& kind) {
  static ActorKinds* kinds = new ActorKinds();  // Never destroyed: actors may outlive main.
  return kinds->For(kind);
}

}  // namespace fanout::internal
