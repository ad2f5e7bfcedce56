// ActorRegistry: actors addressed by key, created on first use and spread
// over the loops: one actor per user id serialises that user's writes while
// different users proceed in parallel.
//
//   ActorRegistry<std::string, PlaceOrder, Order> orders(
//       loops, [&](const std::string& user) { return std::make_unique<UserOrders>(user, db); },
//       {.actor = {.mailbox_capacity = 64}, .max_actors = 10000,
//        .idle_timeout = absl::Minutes(1)});
//   FANOUT_CO_ASSIGN_OR_RETURN(auto ref, orders.Get(user_id));
//   co_return co_await ref.Ask(std::move(order), absl::Milliseconds(200));
//
// A key lands on loop `LoopHash(key) % loops.size()`, so always on the same loop,
// and, while its actor lives, on the same actor. A stopped actor (kStop,
// restarts used up, Stop()) is replaced by a fresh one on the next Get.
// Their metrics add up under one kind, the registry's `actor.name`.
//
// Eviction keeps memory bounded however many keys pass through: the live
// actors are at most `max_actors`, and one not asked for (Get) in
// `idle_timeout` goes. Only an idle actor is evicted: no message queued or
// in its handler (ActorRef::unfinished() is 0) and no ActorRef to it held
// outside the registry, so nothing can reach it but a later Get, which
// starts a fresh one (its state starts over: whatever it cached is asked
// again). Evicting is Stop(): the actor ends on its own loop.
//  - At the cap, Get evicts the least recently used idle actor; an actor
//    found busy there counts as just used. If the few least recently used
//    are all busy, Get is RESOURCE_EXHAUSTED (backpressure: that many
//    actors have work in flight), never a refusal that outlives the load.
//  - Idle timeouts are applied by Get, a few of the oldest actors per call,
//    so a registry no one calls keeps what it has (bounded by the cap).
//
// Key: hashable with absl::Hash and with `LoopHash` (absl::Hash by default,
// whose seed changes from one process to the next) and printable with absl::StrCat (strings,
// integers), for the actors' names. The registry must not outlive `loops`.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "node/actor/actor.h"
#include "node/base/clock.h"
#include "node/base/sync.h"

namespace fanout {

template <typename Key, typename Msg, typename Reply, typename LoopHash = absl::Hash<Key>>
class ActorRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Actor<Msg, Reply>>(const Key&)>;
  struct Options {
    ActorOptions actor;  // For every actor; `name` becomes "name/key".
    size_t max_actors = 100000;
    // Since the actor's last Get; InfiniteDuration: only the cap evicts.
    absl::Duration idle_timeout = absl::InfiniteDuration();
    Clock* clock = nullptr;  // For idle_timeout; null: the loops' clock.
  };

  ActorRegistry(LoopGroup& loops, Factory factory, Options options = {})
      : loops_(loops),
        factory_(std::move(factory)),
        options_(std::move(options)),
        clock_(options_.clock != nullptr ? options_.clock : &loops.clock()),
        metrics_(internal::ActorMetricsFor(options_.actor.kind.empty() ? options_.actor.name
                                                                       : options_.actor.kind)) {}
  ActorRegistry(const ActorRegistry&) = delete;
  ActorRegistry& operator=(const ActorRegistry&) = delete;

  // The key's actor, started on first use (again after an eviction).
  absl::StatusOr<ActorRef<Msg, Reply>> Get(const Key& key) {
    MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    EvictIdle(now);
    auto it = actors_.find(key);
    if (it != actors_.end()) {
      if (!it->second.ref.stopped()) {
        Touch(it->second, now);
        return it->second.ref;
      }
      Drop(it);
    }
    if (actors_.size() >= options_.max_actors && !EvictLeastRecentlyUsed(now)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("actor registry ", options_.actor.name, ": max_actors (",
                       options_.max_actors, ") reached and the ", kScanLimit,
                       " least recently used are busy; cannot start one for ", key));
    }
    ActorRef<Msg, Reply> ref = SpawnActor<Msg, Reply>(
        LoopOf(key), [factory = factory_, key] { return factory(key); }, ActorOptionsFor(key));
    lru_.push_front(key);
    actors_.insert_or_assign(key, Entry{ref, now, lru_.begin()});
    return ref;
  }

  // Actors held, stopped ones not yet replaced or dropped included.
  size_t size() const {
    MutexLock lock(&mu_);
    return actors_.size();
  }
  // Idle actors stopped to stay under max_actors or past idle_timeout.
  int64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }

 private:
  // How many of the least recently used an eviction looks at: it stays O(1)
  // per Get even when many actors are busy.
  static constexpr int kScanLimit = 16;
  // Idle timeouts applied per Get: more than one, so eviction outpaces the
  // arrival of new keys.
  static constexpr int kIdleEvictionsPerGet = 2;

  struct Entry {
    ActorRef<Msg, Reply> ref;
    absl::Time last_used;
    typename std::list<Key>::iterator lru;  // Its place in lru_.
  };
  using Map = absl::flat_hash_map<Key, Entry>;

  // Nothing can reach the actor but through Get: no message unfinished, and
  // the only refs are the registry's and its run task's.
  static bool Idle(const ActorRef<Msg, Reply>& ref) {
    if (ref.stopped()) return true;
    if (ref.cell_.use_count() > 2) return false;
    // use_count() is a relaxed load; the fence orders it before the read
    // below, so a ref dropped after a send shows that send as unfinished.
    std::atomic_thread_fence(std::memory_order_acquire);
    return ref.unfinished() == 0;
  }

  void Touch(Entry& entry, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    entry.last_used = now;
    lru_.splice(lru_.begin(), lru_, entry.lru);
  }
  void Drop(typename Map::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    lru_.erase(it->second.lru);
    actors_.erase(it);
  }
  // A stopped actor is only dropped: it was not evicted.
  void Evict(typename Map::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!it->second.ref.stopped()) {
      it->second.ref.Stop();
      evictions_.fetch_add(1, std::memory_order_relaxed);
      metrics_.evictions.Increment();
    }
    Drop(it);
  }

  // Makes room for one: true once an actor is gone.
  bool EvictLeastRecentlyUsed(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (int i = 0; i < kScanLimit && !lru_.empty(); ++i) {
      auto it = actors_.find(lru_.back());
      if (Idle(it->second.ref)) {
        Evict(it);
        return true;
      }
      Touch(it->second, now);  // Busy: in use now.
    }
    return false;
  }

  // The oldest first: lru_ runs from the most recent Get to the least.
  void EvictIdle(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (options_.idle_timeout == absl::InfiniteDuration()) return;
    for (int evicted = 0, looked = 0;
         evicted < kIdleEvictionsPerGet && looked < kScanLimit && !lru_.empty(); ++looked) {
      auto it = actors_.find(lru_.back());
      if (now - it->second.last_used < options_.idle_timeout) return;
      if (Idle(it->second.ref)) {
        Evict(it);
        ++evicted;
      } else {
        Touch(it->second, now);
      }
    }
  }

  EventLoop& LoopOf(const Key& key) {
    return loops_.At(static_cast<int>(LoopHash{}(key) % static_cast<size_t>(loops_.size())));
  }
  ActorOptions ActorOptionsFor(const Key& key) const {
    ActorOptions options = options_.actor;
    if (options.kind.empty()) options.kind = options_.actor.name;  // One series, not one per key.
    options.name = absl::StrCat(options_.actor.name, "/", key);
    return options;
  }

  LoopGroup& loops_;
  const Factory factory_;
  const Options options_;
  Clock* const clock_;
  mutable Mutex mu_;
  Map actors_ ABSL_GUARDED_BY(mu_);
  std::list<Key> lru_ ABSL_GUARDED_BY(mu_);  // Most recently used first.
  std::atomic<int64_t> evictions_{0};
  internal::ActorKindMetrics& metrics_;
};

}  // namespace fanout
