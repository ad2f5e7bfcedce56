#include "node/actor/actor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "node/actor/actor_registry.h"
#include "node/async/gather.h"
#include "node/async/sleep.h"
#include "node/async/with_deadline.h"
#include "node/base/clock.h"
#include "node/base/status_macros.h"
#include "tests/support/loop_fixture.h"
#include "tests/support/status_matchers.h"

namespace fanout {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::IsOkAndHolds;
using ::fanout::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Holds a handler inside its message until the test opens it, and tells the
// test when the handler got there: then every message before it is done and
// the mailbox holds only what came after.
class Gate {
 public:
  // In the handler.
  Task<absl::Status> Pass() {
    entered_.first.Set(absl::OkStatus());
    co_return co_await opened_.second.Get();
  }
  // In the test, once.
  Task<absl::Status> Entered() { co_return co_await entered_.second.Get(); }
  void Open() { opened_.first.Set(absl::OkStatus()); }

 private:
  std::pair<Promise<absl::Status>, Future<absl::Status>> entered_ = MakePromise<absl::Status>();
  std::pair<Promise<absl::Status>, Future<absl::Status>> opened_ = MakePromise<absl::Status>();
};

struct Op {
  int value = 0;
  absl::Duration pause = absl::ZeroDuration();    // Sleeps in the handler.
  absl::StatusCode fail = absl::StatusCode::kOk;  // Replies with this code.
  std::shared_ptr<Gate> gate;                     // Waits in the handler.
  bool marker = false;                            // Drain's: neither recorded nor counted.
};

// What a Recorder saw. Written on the actor's loop only; the test reads it
// after an answer from the actor (a reply, Gate::Entered) has ordered the
// writes before the read.
struct Journal {
  std::vector<int> handled;  // Values, in the order their handlers completed.
  int in_handler = 0;
  int most_in_handler = 0;
  std::set<EventLoop*> loops;
};

// Replies with how many messages this instance has handled: a fresh
// instance's first reply is 1.
class Recorder : public Actor<Op, int> {
 public:
  // Without a journal, keeps its own (actors on different loops must not share one).
  explicit Recorder(Journal* journal) : journal_(journal != nullptr ? journal : &own_) {}

  Task<absl::StatusOr<int>> Handle(Op op) override {
    journal_->loops.insert(EventLoop::Current());
    journal_->most_in_handler = std::max(journal_->most_in_handler, ++journal_->in_handler);
    absl::Status status;
    if (op.gate) status = co_await op.gate->Pass();
    if (status.ok() && op.pause > absl::ZeroDuration()) status = co_await Sleep(op.pause);
    --journal_->in_handler;
    FANOUT_CO_RETURN_IF_ERROR(status);
    if (op.fail != absl::StatusCode::kOk) co_return absl::Status(op.fail, "asked to fail");
    if (op.marker) co_return 0;
    journal_->handled.push_back(op.value);
    co_return ++seen_;
  }

 private:
  Journal own_;
  Journal* journal_;
  int seen_ = 0;
};

// Answers which loop it runs on.
class Locator : public Actor<int, int> {
 public:
  Task<absl::StatusOr<int>> Handle(int) override { co_return EventLoop::Current()->index(); }
};

// A task for GatherSettled beside Asks: opens the gate once they are queued.
Task<absl::StatusOr<int>> OpenGate(std::shared_ptr<Gate> gate) {
  gate->Open();
  co_return 0;
}

template <typename T>
std::vector<Task<T>> Tasks(Task<T> a, Task<T> b) {
  std::vector<Task<T>> tasks;
  tasks.push_back(std::move(a));
  tasks.push_back(std::move(b));
  return tasks;
}

// On simulated time: Ask timeouts, handler pauses and the restart window
// take no wall-clock time.
class ActorTest : public testing::SimulatedLoopTest {
 protected:
  // Handlers may still run when the test body ends: stop them before the
  // journal goes away.
  void TearDown() override { loops().Stop(absl::Now() + absl::Seconds(5)); }

  // A Recorder on loop 1; the test's tasks run on loop 0.
  ActorRef<Op, int> Start(ActorOptions options = {}) {
    return SpawnActor<Op, int>(
        loop(1), [this] { return std::make_unique<Recorder>(&journal_); }, std::move(options));
  }

  // Returns once everything queued before has been handled: a gated marker
  // waits for room, the handler reaches it (the mailbox is then empty), and
  // an Ask behind it answers.
  absl::Status Drain(const ActorRef<Op, int>& actor) {
    auto gate = std::make_shared<Gate>();
    FANOUT_RETURN_IF_ERROR(Run(actor.Send({.gate = gate, .marker = true})));
    FANOUT_RETURN_IF_ERROR(Run(gate->Entered()));
    gate->Open();
    return Run(actor.Ask({.marker = true}, absl::Seconds(5))).status();
  }

  Journal journal_;
};

TEST_F(ActorTest, HandlesOneMessageAtATimeInOrder) {
  auto actor = Start();
  // Earlier messages sleep longer: handlers that overlapped would finish out of order.
  for (int i = 0; i < 5; ++i) {
    ASSERT_THAT(actor.Tell({.value = i, .pause = absl::Milliseconds(5 - i)}), IsOk());
  }
  EXPECT_THAT(Run(actor.Ask({.value = 5}, absl::Seconds(5))), IsOkAndHolds(6));
  EXPECT_THAT(journal_.handled, ElementsAre(0, 1, 2, 3, 4, 5));
  EXPECT_EQ(journal_.most_in_handler, 1);
}

TEST_F(ActorTest, AskFromAnotherLoopResumesOnTheAskersLoop) {
  auto actor = Start();
  auto ask = [&]() -> Task<absl::StatusOr<EventLoop*>> {
    FANOUT_CO_ASSIGN_OR_RETURN(int seen, co_await actor.Ask({.value = 1}, absl::Seconds(5)));
    EXPECT_EQ(seen, 1);
    co_return EventLoop::Current();
  };
  EXPECT_THAT(Run(ask()), IsOkAndHolds(&loop(0)));
  EXPECT_THAT(journal_.loops, ElementsAre(&loop(1)));
}

TEST_F(ActorTest, AskGivesUpAtItsTimeoutButTheMessageIsStillHandled) {
  auto actor = Start();
  auto gate = std::make_shared<Gate>();
  EXPECT_THAT(Run(actor.Ask({.value = 1, .gate = gate}, absl::Milliseconds(5))),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  gate->Open();
  EXPECT_THAT(Run(actor.Ask({.value = 2}, absl::Seconds(5))), IsOkAndHolds(2));
  EXPECT_THAT(journal_.handled, ElementsAre(1, 2));
}

TEST_F(ActorTest, AskNeverWaitsPastTheCallersDeadline) {
  auto actor = Start();
  auto gate = std::make_shared<Gate>();
  // A deadline with no timer behind it, as a server call's: Ask enforces it.
  auto ask = [&]() -> Task<absl::StatusOr<int>> {
    TaskContext context = co_await CurrentContext();
    CancellationSource caller(context.token, clock().Now() + absl::Milliseconds(5));
    Op gated{.gate = gate};  // Named: see SendHandsOverTheMessageIntact.
    TaskContext with_deadline{context.loop, caller.token()};  // Named: Known traps.
    co_return co_await actor.Ask(std::move(gated), absl::Hours(1)).WithContext(with_deadline);
  };
  EXPECT_THAT(Run(ask()), StatusIs(absl::StatusCode::kDeadlineExceeded));
  gate->Open();
}

TEST_F(ActorTest, AskWithNoTimeLeftIsNotSent) {
  auto actor = Start({.name = "late"});
  auto gate = std::make_shared<Gate>();
  ASSERT_THAT(actor.Tell({.value = 0, .gate = gate}), IsOk());
  ASSERT_THAT(Run(gate->Entered()), IsOk());
  EXPECT_THAT(Run(actor.Ask({.value = 1}, absl::ZeroDuration())),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("actor late")));
  EXPECT_EQ(actor.mailbox_depth(), 0u);
  gate->Open();
  ASSERT_THAT(Drain(actor), IsOk());
  EXPECT_THAT(journal_.handled, ElementsAre(0));
}

TEST_F(ActorTest, FullMailboxRefusesTellAndAsk) {
  auto actor = Start({.name = "tiny", .mailbox_capacity = 2});
  auto gate = std::make_shared<Gate>();
  ASSERT_THAT(actor.Tell({.value = 0, .gate = gate}), IsOk());
  ASSERT_THAT(Run(gate->Entered()), IsOk());
  ASSERT_THAT(actor.Tell({.value = 1}), IsOk());
  ASSERT_THAT(actor.Tell({.value = 2}), IsOk());
  EXPECT_THAT(actor.Tell({.value = 3}), StatusIs(absl::StatusCode::kResourceExhausted,
                                                 HasSubstr("actor tiny: mailbox full")));
  EXPECT_THAT(Run(actor.Ask({.value = 4}, absl::Seconds(5))),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("tiny")));
  gate->Open();
  ASSERT_THAT(Drain(actor), IsOk());
  EXPECT_THAT(journal_.handled, ElementsAre(0, 1, 2));
}

TEST_F(ActorTest, SendWaitsWhileFullAndCompletesOnceTheActorDrains) {
  auto actor = Start({.mailbox_capacity = 1});
  auto gate = std::make_shared<Gate>();
  ASSERT_THAT(actor.Tell({.value = 0, .gate = gate}), IsOk());
  ASSERT_THAT(Run(gate->Entered()), IsOk());
  ASSERT_THAT(actor.Tell({.value = 1}), IsOk());  // Now full.
  bool sent = false;                              // On loop 0.
  auto sender = [&]() -> Task<absl::Status> {
    Op op{.value = 2};
    absl::Status status = co_await actor.Send(std::move(op));
    sent = true;
    co_return status;
  };
  // Starts once the sender is suspended; nothing drains while the gate is shut.
  auto opener = [&]() -> Task<absl::Status> {
    EXPECT_FALSE(sent);
    EXPECT_EQ(actor.mailbox_depth(), 1u);
    gate->Open();
    co_return absl::OkStatus();
  };
  EXPECT_THAT(Run(GatherSettled(Tasks(sender(), opener()))), ElementsAre(IsOk(), IsOk()));
  EXPECT_TRUE(sent);
  ASSERT_THAT(Drain(actor), IsOk());
  EXPECT_THAT(journal_.handled, ElementsAre(0, 1, 2));
}

// GCC 12 destroys an aggregate temporary written inside a co_await
// expression twice; Send must not hand its message over that way.
TEST_F(ActorTest, SendHandsOverTheMessageIntact) {
  auto actor = Start();
  auto gate = std::make_shared<Gate>();
  ASSERT_THAT(Run(actor.Send({.value = 1, .gate = gate})), IsOk());
  ASSERT_THAT(Run(gate->Entered()), IsOk());
  EXPECT_EQ(gate.use_count(), 2);  // Ours and the handler's message.
  gate->Open();
  ASSERT_THAT(Drain(actor), IsOk());
  EXPECT_THAT(journal_.handled, ElementsAre(1));
}

TEST_F(ActorTest, OrdinaryErrorsAreRepliesNotFailures) {
  int reported = 0;
  auto actor = Start({.supervisor = [&](const ActorFailure&) { ++reported; }});
  EXPECT_THAT(Run(actor.Ask({.fail = absl::StatusCode::kNotFound}, absl::Seconds(5))),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Run(actor.Ask({.value = 1}, absl::Seconds(5))), IsOkAndHolds(1));
  EXPECT_EQ(actor.failures(), 0);
  EXPECT_EQ(reported, 0);
}

TEST_F(ActorTest, RestartGivesAFreshInstanceAndReportsTheFailure) {
  std::vector<std::string> reported;  // Written on loop 1 before the failing Ask is answered.
  auto actor = Start({.name = "flaky",
                      .policy = RestartPolicy::kRestart,
                      .supervisor = [&](const ActorFailure& failure) {
                        reported.push_back(std::string(failure.actor) + ": " +
                                           std::string(failure.status.message()) + ": " +
                                           std::string(RestartPolicyName(failure.action)));
                      }});
  EXPECT_THAT(Run(actor.Ask({.value = 1}, absl::Seconds(5))), IsOkAndHolds(1));
  EXPECT_THAT(Run(actor.Ask({.value = 2}, absl::Seconds(5))), IsOkAndHolds(2));
  EXPECT_THAT(Run(actor.Ask({.fail = absl::StatusCode::kInternal}, absl::Seconds(5))),
              StatusIs(absl::StatusCode::kInternal, "asked to fail"));
  EXPECT_THAT(reported, ElementsAre("flaky: asked to fail: restart"));
  EXPECT_EQ(actor.failures(), 1);
  EXPECT_EQ(actor.restarts(), 1);
  EXPECT_THAT(Run(actor.Ask({.value = 3}, absl::Seconds(5))), IsOkAndHolds(1));
}

TEST_F(ActorTest, RestartKeepsTheMailbox) {
  auto actor = Start();
  auto gate = std::make_shared<Gate>();
  ASSERT_THAT(actor.Tell({.value = 0, .gate = gate}), IsOk());
  ASSERT_THAT(Run(gate->Entered()), IsOk());
  ASSERT_THAT(actor.Tell({.fail = absl::StatusCode::kDataLoss}), IsOk());
  ASSERT_THAT(actor.Tell({.value = 1}), IsOk());  // Queued behind the failure.
  gate->Open();
  // The fresh instance handled 1, then this.
  EXPECT_THAT(Run(actor.Ask({.value = 2}, absl::Seconds(5))), IsOkAndHolds(2));
  EXPECT_THAT(journal_.handled, ElementsAre(0, 1, 2));
  EXPECT_EQ(actor.restarts(), 1);
}

TEST_F(ActorTest, ResumeKeepsTheInstance) {
  std::vector<RestartPolicy> actions;
  auto actor = Start({.policy = RestartPolicy::kResume,
                      .supervisor = [&](const ActorFailure& f) { actions.push_back(f.action); }});
  EXPECT_THAT(Run(actor.Ask({.value = 1}, absl::Seconds(5))), IsOkAndHolds(1));
  EXPECT_THAT(Run(actor.Ask({.fail = absl::StatusCode::kDataLoss}, absl::Seconds(5))),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(Run(actor.Ask({.value = 2}, absl::Seconds(5))), IsOkAndHolds(2));
  EXPECT_THAT(actions, ElementsAre(RestartPolicy::kResume));
  EXPECT_EQ(actor.restarts(), 0);
}

TEST_F(ActorTest, StopPolicyAnswersQueuedAndLaterMessagesUnavailable) {
  std::vector<RestartPolicy> actions;
  auto actor = Start({.name = "fragile",
                      .policy = RestartPolicy::kStop,
                      .supervisor = [&](const ActorFailure& f) { actions.push_back(f.action); }});
  auto gate = std::make_shared<Gate>();
  ASSERT_THAT(actor.Tell({.value = 0, .gate = gate}), IsOk());
  ASSERT_THAT(Run(gate->Entered()), IsOk());
  std::vector<Task<absl::StatusOr<int>>> tasks;
  tasks.push_back(actor.Ask({.fail = absl::StatusCode::kUnknown}, absl::Seconds(5)));
  tasks.push_back(actor.Ask({.value = 1}, absl::Seconds(5)));  // Queued behind the failure.
  tasks.push_back(OpenGate(gate));
  EXPECT_THAT(
      Run(GatherSettled(std::move(tasks))),
      ElementsAre(StatusIs(absl::StatusCode::kUnknown),
                  StatusIs(absl::StatusCode::kUnavailable, "actor fragile is stopped"), IsOk()));
  EXPECT_THAT(actions, ElementsAre(RestartPolicy::kStop));
  EXPECT_TRUE(actor.stopped());
  EXPECT_THAT(actor.Tell({.value = 2}), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Run(actor.Send({.value = 3})), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(journal_.handled, ElementsAre(0));
}

TEST_F(ActorTest, TooManyRestartsStopTheActor) {
  ManualClock own_clock;  // A clock of its own, as the option allows; it never moves.
  std::vector<RestartPolicy> actions;
  auto actor = Start({.max_restarts = 2,
                      .restart_window = absl::Minutes(1),
                      .supervisor = [&](const ActorFailure& f) { actions.push_back(f.action); },
                      .clock = &own_clock});
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(Run(actor.Ask({.fail = absl::StatusCode::kInternal}, absl::Seconds(5))),
                StatusIs(absl::StatusCode::kInternal));
  }
  EXPECT_THAT(actions,
              ElementsAre(RestartPolicy::kRestart, RestartPolicy::kRestart, RestartPolicy::kStop));
  EXPECT_EQ(actor.restarts(), 2);
  EXPECT_TRUE(actor.stopped());
  EXPECT_THAT(actor.Tell({.value = 1}), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(ActorTest, RestartsOlderThanTheWindowAreForgotten) {
  // The window is in the actor's loop's time (simulated here).
  std::vector<RestartPolicy> actions;
  auto actor = Start({.max_restarts = 1,
                      .restart_window = absl::Minutes(1),
                      .supervisor = [&](const ActorFailure& f) { actions.push_back(f.action); }});
  auto fail = [&] {
    return Run(actor.Ask({.fail = absl::StatusCode::kInternal}, absl::Seconds(5)));
  };
  EXPECT_THAT(fail(), StatusIs(absl::StatusCode::kInternal));
  clock().Advance(absl::Minutes(1));
  EXPECT_THAT(fail(), StatusIs(absl::StatusCode::kInternal));
  EXPECT_FALSE(actor.stopped());
  EXPECT_THAT(fail(), StatusIs(absl::StatusCode::kInternal));  // Two within a minute.
  EXPECT_THAT(actions,
              ElementsAre(RestartPolicy::kRestart, RestartPolicy::kRestart, RestartPolicy::kStop));
  EXPECT_TRUE(actor.stopped());
}

TEST_F(ActorTest, StopHandlesWhatIsQueuedThenRefuses) {
  auto actor = Start({.name = "closing"});
  auto gate = std::make_shared<Gate>();
  ASSERT_THAT(actor.Tell({.value = 0, .gate = gate}), IsOk());
  ASSERT_THAT(Run(gate->Entered()), IsOk());
  auto stop = [&]() -> Task<absl::StatusOr<int>> {
    actor.Stop();
    EXPECT_TRUE(actor.stopped());
    EXPECT_THAT(actor.Tell({.value = 2}),
                StatusIs(absl::StatusCode::kUnavailable, "actor closing is stopped"));
    gate->Open();
    co_return 0;
  };
  // The Ask is queued before Stop(): it is still answered.
  EXPECT_THAT(Run(GatherSettled(Tasks(actor.Ask({.value = 1}, absl::Seconds(5)), stop()))),
              ElementsAre(IsOkAndHolds(2), IsOk()));
  EXPECT_THAT(Run(actor.Ask({.value = 3}, absl::Seconds(5))),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(journal_.handled, ElementsAre(0, 1));
}

TEST_F(ActorTest, StoppingTheLoopEndsTheActor) {
  auto actor = Start();
  auto gate = std::make_shared<Gate>();
  ASSERT_THAT(actor.Tell({.value = 0, .gate = gate}), IsOk());
  ASSERT_THAT(Run(gate->Entered()), IsOk());
  ASSERT_THAT(actor.Tell({.value = 1}), IsOk());
  // The gated handler is cancelled; the actor ends instead of handling 1.
  loops().Stop(absl::Now() + absl::Seconds(5));
  EXPECT_EQ(loop(1).failures(), 0);
  EXPECT_TRUE(actor.stopped());
  EXPECT_EQ(actor.mailbox_depth(), 0u);
  EXPECT_THAT(actor.Tell({.value = 2}), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(journal_.handled, ElementsAre());
}

TEST_F(ActorTest, ActorOnAStoppedLoopIsUnavailable) {
  loops().Stop(absl::Now() + absl::Seconds(5));
  auto actor = Start();
  EXPECT_TRUE(actor.stopped());
  EXPECT_THAT(actor.Tell({.value = 1}), StatusIs(absl::StatusCode::kUnavailable));
}

class ActorRegistryTest : public testing::SimulatedLoopTest {
 protected:
  static std::unique_ptr<Actor<Op, int>> NewRecorder() {
    return std::make_unique<Recorder>(nullptr);
  }
};

// Places key k on loop k % loops, so a test knows where each key goes.
struct IdentityHash {
  size_t operator()(int key) const { return static_cast<size_t>(key); }
};

TEST_F(ActorRegistryTest, SameKeyGetsTheSameActorOnTheSameLoop) {
  std::atomic<int> created{0};
  auto factory = [&](const std::string&) {
    ++created;
    return NewRecorder();
  };
  ActorRegistry<std::string, Op, int> registry(loops(), factory, {.actor = {.name = "user"}});
  auto first = registry.Get("alice");
  auto second = registry.Get("alice");
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(first->name(), "user/alice");
  EXPECT_EQ(&first->loop(), &second->loop());
  EXPECT_EQ(&first->loop(), &loop(absl::Hash<std::string>{}("alice") % 2));
  EXPECT_THAT(Run(first->Ask({.value = 1}, absl::Seconds(5))), IsOkAndHolds(1));
  EXPECT_THAT(Run(second->Ask({.value = 2}, absl::Seconds(5))), IsOkAndHolds(2));  // Same one.
  EXPECT_EQ(registry.size(), 1u);
  EXPECT_EQ(created.load(), 1);
}

TEST_F(ActorRegistryTest, KeysAreSpreadOverTheLoopsByHash) {
  ActorRegistry<int, int, int, IdentityHash> registry(
      loops(), [](int) { return std::make_unique<Locator>(); }, {.actor = {.name = "where"}});
  for (int key = 0; key < 6; ++key) {
    auto ref = registry.Get(key);
    ASSERT_THAT(ref, IsOk());
    EXPECT_EQ(&ref->loop(), &loop(key % 2));
    EXPECT_THAT(Run(ref->Ask(0, absl::Seconds(5))), IsOkAndHolds(key % 2)) << "key " << key;
  }
  EXPECT_EQ(registry.size(), 6u);
}

TEST_F(ActorRegistryTest, TheCapEvictsTheLeastRecentlyUsedIdleActor) {
  ActorRegistry<int, Op, int> registry(loops(), [](int) { return NewRecorder(); },
                                       {.actor = {.name = "user"}, .max_actors = 100});
  size_t most = 0;
  for (int key = 0; key < 1000; ++key) {
    auto ref = registry.Get(key);
    ASSERT_THAT(ref, IsOk()) << "key " << key;
    ASSERT_THAT(Run(ref->Ask({.value = key}, absl::Seconds(5))), IsOkAndHolds(1)) << "key " << key;
    most = std::max(most, registry.size());
  }
  EXPECT_EQ(most, 100u);
  EXPECT_EQ(registry.evictions(), 900);
  // Key 999 is still there; key 0 was evicted: a message for it starts a
  // fresh actor (its count starts over), which evicts the oldest again.
  EXPECT_THAT(Run(registry.Get(999)->Ask({.value = 1}, absl::Seconds(5))), IsOkAndHolds(2));
  EXPECT_THAT(Run(registry.Get(0)->Ask({.value = 1}, absl::Seconds(5))), IsOkAndHolds(1));
  EXPECT_EQ(registry.size(), 100u);
  EXPECT_EQ(registry.evictions(), 901);
}

TEST_F(ActorRegistryTest, AnActorWithWorkInFlightIsNotEvicted) {
  ActorRegistry<int, Op, int> registry(loops(), [](int) { return NewRecorder(); },
                                       {.actor = {.name = "user"}, .max_actors = 1});
  auto gate = std::make_shared<Gate>();
  ASSERT_THAT(registry.Get(1)->Tell({.value = 1, .gate = gate}), IsOk());
  ASSERT_THAT(registry.Get(1)->Tell({.value = 2}), IsOk());  // Queued behind it.
  ASSERT_THAT(Run(gate->Entered()), IsOk());
  // No ref is held now, but actor 1 is in its handler with one more queued.
  EXPECT_THAT(registry.Get(2), StatusIs(absl::StatusCode::kResourceExhausted,
                                        HasSubstr("user: max_actors (1) reached and the 16 "
                                                  "least recently used are busy")));
  gate->Open();
  // The same instance handled all three: nothing was lost or reordered.
  EXPECT_THAT(Run(registry.Get(1)->Ask({.value = 3}, absl::Seconds(5))), IsOkAndHolds(3));
  EXPECT_EQ(registry.evictions(), 0);
  // Answered, and no ref held: idle, so it makes room.
  EXPECT_THAT(registry.Get(2), IsOk());
  EXPECT_EQ(registry.evictions(), 1);
  EXPECT_EQ(registry.size(), 1u);
}

TEST_F(ActorRegistryTest, AHeldRefPinsItsActor) {
  ActorRegistry<int, Op, int> registry(loops(), [](int) { return NewRecorder(); },
                                       {.actor = {.name = "user"}, .max_actors = 1});
  {
    absl::StatusOr<ActorRef<Op, int>> held = registry.Get(1);
    ASSERT_THAT(held, IsOk());
    EXPECT_THAT(registry.Get(2), StatusIs(absl::StatusCode::kResourceExhausted));
    EXPECT_THAT(Run(held->Ask({.value = 1}, absl::Seconds(5))), IsOkAndHolds(1));  // Still works.
  }
  EXPECT_THAT(registry.Get(2), IsOk());
  EXPECT_EQ(registry.evictions(), 1);
}

TEST_F(ActorRegistryTest, ActorsIdlePastTheTimeoutAreEvictedByLaterGets) {
  // Idle time is in the loops' time (simulated here).
  ActorRegistry<int, Op, int> registry(
      loops(), [](int) { return NewRecorder(); },
      {.actor = {.name = "user"}, .idle_timeout = absl::Minutes(1)});
  for (int key = 1; key <= 10; ++key) {
    ASSERT_THAT(Run(registry.Get(key)->Ask({.value = key}, absl::Seconds(5))), IsOkAndHolds(1));
  }
  clock().Advance(absl::Seconds(30));
  ASSERT_THAT(Run(registry.Get(1)->Ask({.value = 1}, absl::Seconds(5))), IsOkAndHolds(2));
  clock().Advance(absl::Seconds(40));  // Key 1 was used 40 s ago, keys 2..10 70 s ago.
  for (int key = 100; key < 105; ++key) ASSERT_THAT(registry.Get(key), IsOk());
  // Two idle ones per Get: all nine are gone, key 1 is not.
  EXPECT_EQ(registry.evictions(), 9);
  EXPECT_EQ(registry.size(), 6u);
  EXPECT_THAT(Run(registry.Get(1)->Ask({.value = 1}, absl::Seconds(5))), IsOkAndHolds(3));
  EXPECT_THAT(Run(registry.Get(2)->Ask({.value = 2}, absl::Seconds(5))), IsOkAndHolds(1));
}

TEST_F(ActorRegistryTest, AStoppedActorIsReplacedAndFreesItsSlot) {
  ActorRegistry<std::string, Op, int> registry(
      loops(), [](const std::string&) { return NewRecorder(); },
      {.actor = {.policy = RestartPolicy::kStop}, .max_actors = 1});
  auto broken = registry.Get("a");
  ASSERT_THAT(broken, IsOk());
  EXPECT_THAT(Run(broken->Ask({.value = 1}, absl::Seconds(5))), IsOkAndHolds(1));
  EXPECT_THAT(Run(broken->Ask({.fail = absl::StatusCode::kInternal}, absl::Seconds(5))),
              StatusIs(absl::StatusCode::kInternal));
  auto fresh = registry.Get("a");
  ASSERT_THAT(fresh, IsOk());
  EXPECT_THAT(Run(fresh->Ask({.value = 2}, absl::Seconds(5))), IsOkAndHolds(1));
  fresh->Stop();
  EXPECT_THAT(registry.Get("b"), IsOk());  // "a" stopped: its slot is free.
  EXPECT_EQ(registry.size(), 1u);
}

}  // namespace
}  // namespace fanout
