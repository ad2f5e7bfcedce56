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
// A key always lands on the same loop (hash of the key) and, while its actor
// lives, on the same actor. A stopped actor is replaced on the next Get. The
// number of actors is bounded: past `max_actors`, Get is RESOURCE_EXHAUSTED.
//
// Thread-safe.
#pragma once

#include <functional>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "node/actor/actor.h"
#include "node/base/sync.h"

namespace fanout {

template <typename Key, typename Msg, typename Reply>
class ActorRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Actor<Msg, Reply>>(const Key&)>;
  struct Options {
    ActorOptions actor;  // `name` is the prefix of each actor's name.
    size_t max_actors = 100000;
  };

  ActorRegistry(LoopGroup& loops, Factory factory, Options options)
      : loops_(loops), factory_(std::move(factory)), options_(std::move(options)) {}

  absl::StatusOr<ActorRef<Msg, Reply>> Get(const Key& key) {
    MutexLock lock(&mu_);
    auto it = actors_.find(key);
    if (it != actors_.end() && !it->second.stopped()) return it->second;
    if (it == actors_.end() && actors_.size() >= options_.max_actors) {
      return absl::ResourceExhaustedError(
          absl::StrCat(options_.actor.name, ": too many actors (", options_.max_actors, ")"));
    }
    EventLoop& loop = loops_.At(static_cast<int>(absl::Hash<Key>{}(key) % loops_.size()));
    ActorOptions options = options_.actor;
    options.name = absl::StrCat(options_.actor.name, "/", key);
    ActorRef<Msg, Reply> ref = SpawnActor<Msg, Reply>(
        loop, [factory = factory_, key] { return factory(key); }, std::move(options));
    actors_.insert_or_assign(key, ref);
    return ref;
  }

  size_t size() const {
    MutexLock lock(&mu_);
    return actors_.size();
  }

 private:
  LoopGroup& loops_;
  Factory factory_;
  const Options options_;
  mutable Mutex mu_;
  absl::flat_hash_map<Key, ActorRef<Msg, Reply>> actors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fanout
