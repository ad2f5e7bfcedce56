// Actors: state owned by one coroutine on one loop, reached only by messages.
//
//   class Counter : public Actor<Add, int64_t> {
//    public:
//     Task<absl::StatusOr<int64_t>> Handle(Add add) override {
//       total_ += add.n;  // No lock: one message at a time, always on this loop.
//       co_return total_;
//     }
//
//    private:
//     int64_t total_ = 0;
//   };
//
//   ActorRef<Add, int64_t> counter = SpawnActor<Add, int64_t>(
//       loops.At(0), [] { return std::make_unique<Counter>(); }, {.name = "counter"});
//   FANOUT_RETURN_IF_ERROR(counter.Tell(Add{1}));  // fire and forget
//   Add add{2};  // Named: GCC 12 destroys an aggregate temporary inside co_await twice.
//   FANOUT_CO_RETURN_IF_ERROR(co_await counter.Send(add));  // waits for room
//   absl::StatusOr<int64_t> total = co_await counter.Ask(add, absl::Milliseconds(100));
//
// The mailbox is bounded. When it is full, Tell and Ask refuse at once with
// RESOURCE_EXHAUSTED and Send suspends until there is room (backpressure).
// Ask then waits for the reply at most its timeout, and never past the
// asker's own deadline: DEADLINE_EXCEEDED (the message is still handled,
// only the answer is dropped). An actor must not Ask itself: it would wait
// for its own turn.
//
// One message at a time: the handler runs on the actor's loop, and the next
// message is not taken before the previous handler's Task has completed,
// even across its co_awaits.
//
// Supervision. A handler's result is the reply. Codes INTERNAL, UNKNOWN and
// DATA_LOSS mean the actor itself is broken (its state can no longer be
// trusted); every other code (NOT_FOUND, INVALID_ARGUMENT, ...) is an
// ordinary answer. A failure is logged, counted and reported to the
// `supervisor`, and the policy applies before the asker gets the failure:
// kResume keeps the instance, kRestart builds a fresh one from the factory
// (the mailbox and its messages are kept), kStop stops the actor. More than
// `max_restarts` restarts within `restart_window` stop it too.
//
// Lifetime. The actor ends when its mailbox is closed (Stop(), kStop) and
// drained, or when its loop stops. A stopped actor answers UNAVAILABLE:
// Tell, Send and Ask, and askers whose messages were still queued.
//
// Work in flight. unfinished() counts the messages sent and not yet handled
// (queued, or in the handler), from before they enter the mailbox: at zero,
// and with no other ActorRef held, nothing can reach the actor, which is
// when ActorRegistry may evict it.
//
// Metrics, by `kind` (node/actor/actor_metrics.h): mailbox depth and live
// actors read at scrape time; messages handled and refused, failures and
// restarts counted.
#pragma once

#include <algorithm>
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "node/actor/actor_metrics.h"
#include "node/async/channel.h"
#include "node/async/promise.h"
#include "node/async/spawn.h"
#include "node/async/with_deadline.h"
#include "node/base/clock.h"
#include "node/base/log.h"
#include "node/telemetry/trace_span.h"

namespace fanout {

// Owning actor only: Handle runs on the actor's loop, one call at a time,
// so the subclass's state needs no lock.
template <typename Msg, typename Reply>
class Actor {
 public:
  virtual ~Actor() = default;
  virtual Task<absl::StatusOr<Reply>> Handle(Msg message) = 0;
};

// INTERNAL, UNKNOWN, DATA_LOSS: the actor is broken, not just the request.
bool IsActorFailure(const absl::Status& status);

enum class RestartPolicy { kResume, kRestart, kStop };
std::string_view RestartPolicyName(RestartPolicy policy);

// What a supervisor hears: which actor failed, how, and what was done
// (kStop also when a kRestart actor ran out of restarts).
struct ActorFailure {
  std::string_view actor;  // Valid during the call.
  absl::Status status;
  RestartPolicy action;
};
// Called on the actor's loop, after the log line and before the asker of
// the failing message gets its answer.
using Supervisor = std::function<void(const ActorFailure&)>;

struct ActorOptions {
  std::string name = "actor";  // In logs and in error messages.
  // The `actor` label of its metrics; empty: `name`. Actors of one kind add
  // up, so it must not name one actor (ActorRegistry uses its own name).
  std::string kind;
  size_t mailbox_capacity = 256;
  RestartPolicy policy = RestartPolicy::kRestart;
  int max_restarts = 3;  // Within restart_window; one more stops the actor.
  absl::Duration restart_window = absl::Seconds(10);
  Supervisor supervisor;   // Optional.
  Clock* clock = nullptr;  // For the restart window; null: the actor's loop's clock.
};

namespace internal {

template <typename Msg, typename Reply>
struct Envelope {
  Msg message;
  std::optional<Promise<absl::StatusOr<Reply>>> reply;  // Set for Ask.
};

// The restart policy and failure reporting of one actor. Owning actor only.
class Supervision {
 public:
  // `loop_clock`: the restart window's clock unless the options name one.
  Supervision(const ActorOptions* options, Clock* loop_clock)
      : options_(options), clock_(options->clock != nullptr ? options->clock : loop_clock) {}
  // Logs and reports `failure`; returns what to do about it.
  RestartPolicy OnFailure(const absl::Status& failure);

 private:
  bool TakeRestart();  // False when the window's restarts are used up.
  const ActorOptions* options_;
  Clock* clock_;
  std::deque<absl::Time> recent_restarts_;
};

// The errors an actor's callers see.
absl::Status ActorRefusal(const ActorOptions& options, const absl::Status& mailbox_error);
absl::Status ActorStoppedError(const ActorOptions& options);
absl::Status NoTimeToAskError(const ActorOptions& options);
// The factory gave no actor: a bug in the caller; the actor stops.
absl::Status NoInstanceError(const ActorOptions& options);

// Shared by every ActorRef and the actor's run task. Thread-safe, except
// for what Run owns.
template <typename Msg, typename Reply>
class ActorCell final : public MailboxGauge {
 public:
  using Factory = std::function<std::unique_ptr<Actor<Msg, Reply>>()>;
  using Mailbox = Channel<Envelope<Msg, Reply>>;

  ActorCell(EventLoop& loop, Factory factory, ActorOptions options)
      : loop_(loop),
        factory_(std::move(factory)),
        options_(std::move(options)),
        mailbox_(options_.mailbox_capacity),
        supervision_(&options_, &loop.clock()),
        metrics_(ActorMetricsFor(options_.kind.empty() ? options_.name : options_.kind)) {
    metrics_.Add(this);
  }
  ~ActorCell() { metrics_.Remove(this); }
  ActorCell(const ActorCell&) = delete;
  ActorCell& operator=(const ActorCell&) = delete;

  // Finishes the actor when the run task's frame goes away, also when the
  // task never ran (its loop had stopped): askers then get UNAVAILABLE.
  class RunGuard {
   public:
    explicit RunGuard(std::shared_ptr<ActorCell> cell) : cell_(std::move(cell)) {}
    RunGuard(RunGuard&&) noexcept = default;  // Leaves the source empty.
    ~RunGuard() {
      if (cell_) cell_->Finish();
    }
    ActorCell& cell() { return *cell_; }

   private:
    std::shared_ptr<ActorCell> cell_;
  };

  // The actor's life on its loop: one message at a time, until the mailbox
  // is closed and drained or the loop stops.
  static Task<absl::Status> Run(RunGuard guard) {
    ActorCell& cell = guard.cell();
    const TaskContext context = co_await CurrentContext();
    std::unique_ptr<Actor<Msg, Reply>> actor = cell.factory_();
    if (actor == nullptr) {
      cell.Finish();
      co_return internal::NoInstanceError(cell.options_);
    }
    while (actor != nullptr && !context.token.cancelled()) {
      absl::StatusOr<Envelope<Msg, Reply>> envelope = co_await cell.mailbox_.Receive();
      if (!envelope.ok()) break;  // Closed and drained, or the loop is stopping.
      absl::StatusOr<Reply> result = co_await actor->Handle(std::move(envelope->message));
      cell.metrics_.handled.Increment();
      // The policy applies before the asker hears of the failure, so what
      // it does next already meets a fresh instance or a stopped actor.
      if (IsActorFailure(result.status()) && !cell.Supervise(result.status(), actor)) {
        actor.reset();
        cell.Finish();
      }
      // Finished before the answer: an asker that has its reply sees it done.
      cell.EndMessage();
      if (envelope->reply) envelope->reply->Set(std::move(result));
    }
    cell.Finish();
    co_return absl::OkStatus();
  }

  // Closes the mailbox and answers what is still queued with UNAVAILABLE.
  // Idempotent.
  void Finish() {
    stopped_.store(true);
    mailbox_.Close();
    while (std::optional<Envelope<Msg, Reply>> left = mailbox_.TryReceive()) {
      if (left->reply) left->reply->Set(ActorStoppedError(options_));
      EndMessage();
    }
    metrics_.Remove(this);  // No longer a live actor, though refs may keep the cell.
  }

  EventLoop& loop() { return loop_; }
  const ActorOptions& options() const { return options_; }
  Mailbox& mailbox() { return mailbox_; }
  size_t mailbox_depth() const override { return mailbox_.size(); }
  // The error a refused Tell or Ask returns; a full mailbox is counted.
  absl::Status Refusal(const absl::Status& mailbox_error) {
    if (absl::IsResourceExhausted(mailbox_error)) metrics_.refused.Increment();
    return ActorRefusal(options_, mailbox_error);
  }
  bool stopped() const { return stopped_.load(); }

  // Around every send: counted before the message can be taken, and
  // uncounted once handled, answered by Finish, or refused.
  void BeginMessage() { unfinished_.fetch_add(1, std::memory_order_relaxed); }
  void EndMessage() { unfinished_.fetch_sub(1, std::memory_order_release); }
  int64_t unfinished() const { return unfinished_.load(std::memory_order_acquire); }
  int64_t restarts() const { return restarts_.load(std::memory_order_relaxed); }
  int64_t failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  // Applies the policy to a failure; false when the actor must stop.
  bool Supervise(const absl::Status& failure, std::unique_ptr<Actor<Msg, Reply>>& actor) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    metrics_.failures.Increment();
    RestartPolicy action = supervision_.OnFailure(failure);
    if (action != RestartPolicy::kRestart) return action == RestartPolicy::kResume;
    actor.reset();  // The broken instance lets go of what it holds first.
    actor = factory_();
    restarts_.fetch_add(1, std::memory_order_relaxed);
    metrics_.restarts.Increment();
    if (actor == nullptr) FANOUT_LOG(ERROR) << NoInstanceError(options_);
    return actor != nullptr;
  }

  EventLoop& loop_;
  const Factory factory_;
  const ActorOptions options_;
  Mailbox mailbox_;
  Supervision supervision_;  // Owning actor only.
  std::atomic<bool> stopped_{false};
  std::atomic<int64_t> unfinished_{0};
  std::atomic<int64_t> restarts_{0};
  std::atomic<int64_t> failures_{0};
  ActorKindMetrics& metrics_;
};

}  // namespace internal

// A handle to an actor: cheap to copy. Thread-safe: any thread may Tell,
// any loop may Send and Ask. A default-constructed one is !valid().
template <typename Msg, typename Reply>
class ActorRef {
 public:
  ActorRef() = default;
  explicit ActorRef(std::shared_ptr<internal::ActorCell<Msg, Reply>> cell)
      : cell_(std::move(cell)) {}

  // Enqueues without waiting: RESOURCE_EXHAUSTED when full, UNAVAILABLE
  // when stopped.
  absl::Status Tell(Msg message) const {
    cell_->BeginMessage();
    absl::Status s = cell_->mailbox().TrySend({std::move(message), std::nullopt});
    if (s.ok()) return s;
    cell_->EndMessage();
    return cell_->Refusal(s);
  }

  // Enqueues, suspending while the mailbox is full. UNAVAILABLE when
  // stopped, the task's cancellation reason when it gives up waiting.
  Task<absl::Status> Send(Msg message) const { return SendTo(cell_, std::move(message)); }

  // The handler's reply. Refuses at once when the mailbox is full; waits at
  // most `timeout`, and never past the asking task's deadline.
  Task<absl::StatusOr<Reply>> Ask(Msg message, absl::Duration timeout) const {
    return AskOf(cell_, std::move(message), timeout);
  }

  // Closes the mailbox: what is queued is still handled, then the actor ends.
  void Stop() const { cell_->mailbox().Close(); }

  bool valid() const { return cell_ != nullptr; }
  bool stopped() const { return cell_->stopped() || cell_->mailbox().closed(); }
  EventLoop& loop() const { return cell_->loop(); }
  const std::string& name() const { return cell_->options().name; }
  int64_t restarts() const { return cell_->restarts(); }
  int64_t failures() const { return cell_->failures(); }
  size_t mailbox_depth() const { return cell_->mailbox().size(); }
  // Messages sent and not yet handled: queued or in the handler.
  int64_t unfinished() const { return cell_->unfinished(); }

 private:
  template <typename K, typename M, typename R, typename H>
  friend class ActorRegistry;  // Reads how many refs share the actor.
  using Cell = internal::ActorCell<Msg, Reply>;

  // Coroutines own copies of what they use: the ActorRef they were called
  // on may be gone before they run.
  static Task<absl::Status> SendTo(std::shared_ptr<Cell> cell, Msg message) {
    // Named, not a braced temporary inside the co_await: GCC 12 destroys
    // such a temporary twice (a double free of whatever Msg owns).
    internal::Envelope<Msg, Reply> envelope{std::move(message), std::nullopt};
    cell->BeginMessage();
    absl::Status s = co_await cell->mailbox().Send(std::move(envelope));
    if (!s.ok()) cell->EndMessage();
    // FAILED_PRECONDITION is the closed mailbox; cancellation passes through.
    if (absl::IsFailedPrecondition(s)) co_return internal::ActorRefusal(cell->options(), s);
    cell.reset();  // Done with the actor: a registry may evict it once idle.
    co_return s;
  }
  static Task<absl::StatusOr<Reply>> AskOf(std::shared_ptr<Cell> cell, Msg message,
                                           absl::Duration timeout) {
    // The asker's own deadline is enforced here too: it may come with no
    // timer behind it (a server call's deadline, a bare CancellationSource).
    const TaskContext context = co_await CurrentContext();
    // In the loop's time, as the deadline and WithDeadline's timer are.
    const absl::Time now = context.loop->Now();
    const absl::Time deadline = std::min(now + timeout, context.token.deadline());
    if (context.token.cancelled()) co_return context.token.reason();
    if (deadline <= now) co_return internal::NoTimeToAskError(cell->options());
    auto [promise, future] = MakePromise<absl::StatusOr<Reply>>();
    // The asker's trace shows the actor's turn: queueing and handling.
    const bool traced = context.span && context.span->recording();
    const absl::Time asked = traced ? absl::Now() : absl::Time();
    cell->BeginMessage();
    absl::Status sent = cell->mailbox().TrySend({std::move(message), std::move(promise)});
    absl::StatusOr<Reply> reply;
    if (sent.ok()) {
      reply = co_await WithDeadline(AwaitReply(std::move(future)), deadline);
    } else {
      cell->EndMessage();
      reply = cell->Refusal(sent);
    }
    if (traced) {
      context.span->AddEvent("actor.ask",
                             {{"actor", cell->options().name},
                              {"duration_ms", absl::ToDoubleMilliseconds(absl::Now() - asked)},
                              {"code", absl::StatusCodeToString(reply.status().code())}});
    }
    cell.reset();  // Done with the actor: a registry may evict it once idle.
    co_return reply;
  }
  static Task<absl::StatusOr<Reply>> AwaitReply(Future<absl::StatusOr<Reply>> future) {
    co_return co_await future.Get();
  }

  std::shared_ptr<Cell> cell_;
};

// Starts an actor on `loop`, built by `factory` (again on each restart).
// Thread-safe.
template <typename Msg, typename Reply>
ActorRef<Msg, Reply> SpawnActor(EventLoop& loop,
                                std::function<std::unique_ptr<Actor<Msg, Reply>>()> factory,
                                ActorOptions options = {}) {
  using Cell = internal::ActorCell<Msg, Reply>;
  auto cell = std::make_shared<Cell>(loop, std::move(factory), std::move(options));
  Spawn(loop, Cell::Run(typename Cell::RunGuard(cell)), "actor " + cell->options().name);
  return ActorRef<Msg, Reply>(std::move(cell));
}

}  // namespace fanout
