// Metrics of actors, by kind: the mailbox depth summed over the live actors
// of a kind, how many are live, and counters of messages handled, messages
// refused (mailbox full), failures, restarts and evictions. A kind is
// ActorOptions::kind ("orders/user" for every actor of that registry), never
// one actor: ids would make a label without bound.
//
//   internal::ActorKindMetrics& m = internal::ActorMetricsFor("orders/user");
//   m.handled.Increment();
//
// Depth is read at scrape time from the live mailboxes rather than counted on
// every send and receive: a message then costs one relaxed atomic increment
// (handled), and the figure cannot drift. Series in metrics::DefaultRegistry();
// names in node/telemetry/README.md.
//
// Thread-safe.
#pragma once

#include <cstddef>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "node/base/sync.h"
#include "node/telemetry/metrics.h"

namespace fanout::internal {

// An actor's mailbox as the metrics see it, whatever the actor's types.
class MailboxGauge {
 public:
  // Thread-safe.
  virtual size_t mailbox_depth() const = 0;

 protected:
  ~MailboxGauge() = default;
};

// The metrics of one kind of actor. Made by ActorMetricsFor, never destroyed.
class ActorKindMetrics {
 public:
  explicit ActorKindMetrics(const std::string& kind);
  ActorKindMetrics(const ActorKindMetrics&) = delete;
  ActorKindMetrics& operator=(const ActorKindMetrics&) = delete;

  // A live actor's mailbox is counted from Add until Remove; Remove waits
  // for a scrape reading it, so the mailbox may die right after.
  void Add(const MailboxGauge* mailbox);
  void Remove(const MailboxGauge* mailbox);

  size_t live() const;
  size_t mailbox_depth() const;  // Summed over the live actors.

  metrics::Counter& handled;
  metrics::Counter& refused;
  metrics::Counter& failures;
  metrics::Counter& restarts;
  metrics::Counter& evictions;  // By an ActorRegistry.

 private:
  mutable Mutex mu_;
  absl::flat_hash_set<const MailboxGauge*> live_ ABSL_GUARDED_BY(mu_);
};

// The metrics of `kind`, made on first use.
ActorKindMetrics& ActorMetricsFor(const std::string& kind);

}  // namespace fanout::internal
