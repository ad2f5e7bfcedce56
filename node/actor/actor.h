// Actors: state owned by one coroutine on one loop, reached only by messages.
//
//   class Counter : public Actor<Add, int64_t> {
//     Task<absl::StatusOr<int64_t>> Handle(Add add) override {
//       total_ += add.n;           // no lock: one message at a time
//       co_return total_;
//     }
//     int64_t total_ = 0;
//   };
//   ActorRef<Add, int64_t> counter = SpawnActor<Add, int64_t>(
//       loops.At(0), [] { return std::make_unique<Counter>(); }, {.name = "counter"});
//   counter.Tell(Add{1});                                         // fire and forget
//   absl::StatusOr<int64_t> total = co_await counter.Ask(Add{2}, absl::Milliseconds(100));
//
// The mailbox is bounded: Tell refuses with RESOURCE_EXHAUSTED when it is
// full, Send suspends until there is room (backpressure), Ask refuses at
// once and then waits for the reply at most its timeout (and never past the
// asker's deadline). The handler runs one message at a time, even across its
// own co_awaits.
//
// Supervision. A handler's result is the reply. Codes INTERNAL, UNKNOWN and
// DATA_LOSS mean the actor itself is broken (its state can no longer be
// trusted); every other code is an ordinary answer. A broken actor is
// reported (logged, counted, `on_failure`) and its policy decides: kResume
// keeps the instance, kRestart builds a fresh one from the factory (the
// mailbox is kept), kStop closes the mailbox. More than `max_restarts` within
// `restart_window` stops it. A stopped actor answers UNAVAILABLE.
//
// Thread-safe: ActorRef (any loop may Tell/Send/Ask). Owning actor only: the
// actor's own state.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "node/async/channel.h"
#include "node/async/promise.h"
#include "node/async/spawn.h"
#include "node/async/with_deadline.h"
#include "node/base/log.h"

namespace fanout {

template <typename Msg, typename Reply>
class Actor {
 public:
  virtual ~Actor() = default;
  virtual Task<absl::StatusOr<Reply>> Handle(Msg message) = 0;
};

// INTERNAL, UNKNOWN, DATA_LOSS: the actor is broken, not just the request.
inline bool IsActorFailure(const absl::Status& s) {
  return s.code() == absl::StatusCode::kInternal || s.code() == absl::StatusCode::kUnknown ||
         s.code() == absl::StatusCode::kDataLoss;
}

enum class RestartPolicy { kResume, kRestart, kStop };

struct ActorOptions {
  std::string name = "actor";
  size_t mailbox_capacity = 256;
  RestartPolicy policy = RestartPolicy::kRestart;
  int max_restarts = 3;
  absl::Duration restart_window = absl::Seconds(10);
  // Called on the actor's loop for every failure, before the policy applies.
  std::function<void(const std::string& actor, const absl::Status& failure)> on_failure;
};

namespace internal {

template <typename Msg, typename Reply>
struct Envelope {
  Msg message;
  std::optional<Promise<absl::StatusOr<Reply>>> reply;
};

// Shared by every ActorRef and the actor's run task.
template <typename Msg, typename Reply>
class ActorCell {
 public:
  using Factory = std::function<std::unique_ptr<Actor<Msg, Reply>>()>;
  ActorCell(EventLoop& loop, Factory factory, ActorOptions options)
      : loop_(loop), factory_(std::move(factory)), options_(std::move(options)),
        mailbox_(options_.mailbox_capacity) {}

  // Maps the mailbox's refusals to what an actor's caller should see.
  absl::Status MailboxError(const absl::Status& s) const {
    if (absl::IsResourceExhausted(s)) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "actor ", options_.name, ": mailbox full (", options_.mailbox_capacity, " messages)"));
    }
    return absl::UnavailableError(absl::StrCat("actor ", options_.name, " is stopped"));
  }

  static Task<absl::Status> Run(std::shared_ptr<ActorCell> cell) {
    std::unique_ptr<Actor<Msg, Reply>> actor = cell->factory_();
    for (;;) {
      absl::StatusOr<Envelope<Msg, Reply>> envelope = co_await cell->mailbox_.Receive();
      if (!envelope.ok()) break;  // Closed and drained, or the loop is stopping.
      absl::StatusOr<Reply> result = co_await actor->Handle(std::move(envelope->message));
      absl::Status status = result.status();
      if (envelope->reply) envelope->reply->Set(std::move(result));
      if (!IsActorFailure(status)) continue;
      RestartPolicy decision = cell->OnFailure(status);
      if (decision == RestartPolicy::kStop) break;
      if (decision == RestartPolicy::kRestart) {
        actor = cell->factory_();
        cell->restarts_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    cell->stopped_.store(true);
    cell->mailbox_.Close();
    // Messages left behind: their askers get UNAVAILABLE (broken promise).
    while (cell->mailbox_.TryReceive()) {
    }
    co_return absl::OkStatus();
  }

  EventLoop& loop() { return loop_; }
  const ActorOptions& options() const { return options_; }
  Channel<Envelope<Msg, Reply>>& mailbox() { return mailbox_; }
  bool stopped() const { return stopped_.load(); }
  int64_t restarts() const { return restarts_.load(std::memory_order_relaxed); }
  int64_t failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  RestartPolicy OnFailure(const absl::Status& failure) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    FANOUT_LOG(WARNING) << "actor " << options_.name << " failed: " << failure;
    if (options_.on_failure) options_.on_failure(options_.name, failure);
    if (options_.policy != RestartPolicy::kRestart) return options_.policy;
    absl::Time now = absl::Now();
    while (!recent_restarts_.empty() && now - recent_restarts_.front() > options_.restart_window) {
      recent_restarts_.pop_front();
    }
    if (static_cast<int>(recent_restarts_.size()) >= options_.max_restarts) {
      FANOUT_LOG(ERROR) << "actor " << options_.name << ": more than " << options_.max_restarts
                        << " restarts within " << options_.restart_window << "; stopping";
      return RestartPolicy::kStop;
    }
    recent_restarts_.push_back(now);
    return RestartPolicy::kRestart;
  }

  EventLoop& loop_;
  Factory factory_;
  const ActorOptions options_;
  Channel<Envelope<Msg, Reply>> mailbox_;
  std::atomic<bool> stopped_{false};
  std::atomic<int64_t> restarts_{0};
  std::atomic<int64_t> failures_{0};
  std::deque<absl::Time> recent_restarts_;  // Owning actor only.
};

}  // namespace internal

template <typename Msg, typename Reply>
class ActorRef {
 public:
  ActorRef() = default;
  explicit ActorRef(std::shared_ptr<internal::ActorCell<Msg, Reply>> cell)
      : cell_(std::move(cell)) {}

  // Enqueues without waiting: RESOURCE_EXHAUSTED when full, UNAVAILABLE when stopped.
  absl::Status Tell(Msg message) const {
    absl::Status s = cell_->mailbox().TrySend({std::move(message), std::nullopt});
    return s.ok() ? s : cell_->MailboxError(s);
  }

  // Enqueues, waiting while the mailbox is full.
  Task<absl::Status> Send(Msg message) const { return SendTo(cell_, std::move(message)); }

  // The handler's reply, waiting at most `timeout` for it.
  Task<absl::StatusOr<Reply>> Ask(Msg message, absl::Duration timeout) const {
    return AskOf(cell_, std::move(message), timeout);
  }

  // Closes the mailbox: what is queued is still handled, then the actor ends.
  void Stop() const { cell_->mailbox().Close(); }
  bool stopped() const { return cell_->stopped() || cell_->mailbox().closed(); }
  EventLoop& loop() const { return cell_->loop(); }
  const std::string& name() const { return cell_->options().name; }
  int64_t restarts() const { return cell_->restarts(); }
  int64_t failures() const { return cell_->failures(); }
  size_t mailbox_depth() const { return cell_->mailbox().size(); }

 private:
  using Cell = internal::ActorCell<Msg, Reply>;
  // Coroutines own copies of what they use: the ActorRef they were called
  // on may be gone before they run.
  static Task<absl::Status> SendTo(std::shared_ptr<Cell> cell, Msg message) {
    absl::Status s = co_await cell->mailbox().Send({std::move(message), std::nullopt});
    co_return s.ok() || !absl::IsFailedPrecondition(s) ? s : cell->MailboxError(s);
  }
  static Task<absl::StatusOr<Reply>> AskOf(std::shared_ptr<Cell> cell, Msg message,
                                           absl::Duration timeout) {
    auto [promise, future] = MakePromise<absl::StatusOr<Reply>>();
    absl::Status sent = cell->mailbox().TrySend({std::move(message), std::move(promise)});
    if (!sent.ok()) co_return cell->MailboxError(sent);
    co_return co_await WithTimeout(Await(std::move(future)), timeout);
  }
  static Task<absl::StatusOr<Reply>> Await(Future<absl::StatusOr<Reply>> future) {
    co_return co_await future.Get();
  }

  std::shared_ptr<Cell> cell_;
};

// Starts an actor on `loop`. Thread-safe.
template <typename Msg, typename Reply>
ActorRef<Msg, Reply> SpawnActor(EventLoop& loop,
                                std::function<std::unique_ptr<Actor<Msg, Reply>>()> factory,
                                ActorOptions options) {
  auto cell = std::make_shared<internal::ActorCell<Msg, Reply>>(loop, std::move(factory),
                                                                std::move(options));
  Spawn(loop, internal::ActorCell<Msg, Reply>::Run(cell), "actor " + cell->options().name);
  return ActorRef<Msg, Reply>(std::move(cell));
}

}  // namespace fanout
