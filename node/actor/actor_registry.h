// ActorRegistry: actors addressed by key, created on first use and spread
// over the loops: one actor per user id serialises that user's writes while
// different users proceed in parallel.
//
//   ActorRegistry<std::string, PlaceOrder, Order> orders(
//       loops, [&](const std::string& user) { return std::make_unique<UserOrders>(user, db); },
//       {.actor = {.mailbox_capacity = 64}, .max_actors = 100000});
//   FANOUT_CO_ASSIGN_OR_RETURN(auto ref, orders.Get(user_id));
//   co_return co_await ref.Ask(std::move(order), absl::Milliseconds(200));
//
// A key lands on loop `LoopHash(key) % loops.size()`, so always on the same loop,
// and, while its actor lives, on the same actor. A stopped actor (kStop,
// restarts used up, Stop()) is replaced by a fresh one on the next Get.
// The number of actors is bounded: when `max_actors` are live, Get is
// RESOURCE_EXHAUSTED (stopped actors are dropped first to make room).
// Their metrics add up under one kind, the registry's `actor.name`.
//
// Key: hashable with absl::Hash and with `LoopHash` (absl::Hash by default,
// whose seed changes from one process to the next) and printable with absl::StrCat (strings,
// integers), for the actors' names. The registry must not outlive `loops`.
//
// Thread-safe.
#pragma once

#include <functional>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "node/actor/actor.h"
#include "node/base/sync.h"

namespace fanout {

template <typename Key, typename Msg, typename Reply, typename LoopHash = absl::Hash<Key>>
class ActorRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Actor<Msg, Reply>>(const Key&)>;
  struct Options {
    ActorOptions actor;  // For every actor; `name` becomes "name/key".
    size_t max_actors = 100000;
  };

  ActorRegistry(LoopGroup& loops, Factory factory, Options options = {})
      : loops_(loops), factory_(std::move(factory)), options_(std::move(options)) {}
  ActorRegistry(const ActorRegistry&) = delete;
  ActorRegistry& operator=(const ActorRegistry&) = delete;

  // The key's actor, started on first use.
  absl::StatusOr<ActorRef<Msg, Reply>> Get(const Key& key) {
    MutexLock lock(&mu_);
    auto it = actors_.find(key);
    if (it != actors_.end() && !it->second.stopped()) return it->second;
    if (it == actors_.end() && actors_.size() >= options_.max_actors) {
      absl::erase_if(actors_, [](const auto& entry) { return entry.second.stopped(); });
      if (actors_.size() >= options_.max_actors) {
        return absl::ResourceExhaustedError(absl::StrCat("actor registry ", options_.actor.name,
                                                         ": max_actors (", options_.max_actors,
                                                         ") reached, cannot start one for ", key));
      }
    }
    ActorRef<Msg, Reply> ref = SpawnActor<Msg, Reply>(
        LoopOf(key), [factory = factory_, key] { return factory(key); }, ActorOptionsFor(key));
    actors_.insert_or_assign(key, ref);
    return ref;
  }

  // Actors held, stopped ones not yet replaced or dropped included.
  size_t size() const {
    MutexLock lock(&mu_);
    return actors_.size();
  }

 private:
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
  mutable Mutex mu_;
  absl::flat_hash_map<Key, ActorRef<Msg, Reply>> actors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fanout
