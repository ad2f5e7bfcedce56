#include "node/actor/actor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "node/actor/actor_registry.h"
#include "node/async/gather.h"
#include "node/base/status_macros.h"
#include "node/loop/timer.h"
#include "tests/support/loop_fixture.h"
#include "tests/support/status_matchers.h"

namespace fanout {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::IsOkAndHolds;
using ::fanout::testing::StatusIs;
using ::testing::ElementsAre;

struct Op {
  int value = 0;
  absl::Duration pause = absl::ZeroDuration();
  absl::StatusCode fail = absl::StatusCode::kOk;
  Notification* gate = nullptr;  // The handler blocks its loop until notified (for overflow tests).
};

// Appends values to a log; replies with how many it has seen since (re)start.
class Recorder : public Actor<Op, int> {
 public:
  // `log` may be null; one log must not be shared by actors on different loops.
  explicit Recorder(std::vector<int>* log) : log_(log) {}
  Task<absl::StatusOr<int>> Handle(Op op) override {
    if (op.gate) op.gate->WaitForNotification();
    if (op.pause > absl::ZeroDuration()) FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(op.pause));
    if (op.fail != absl::StatusCode::kOk) co_return absl::Status(op.fail, "asked to fail");
    if (log_ != nullptr) log_->push_back(op.value);
    co_return ++seen_;
  }

 private:
  std::vector<int>* log_;
  int seen_ = 0;
};

class ActorTest : public testing::LoopTest {
 protected:
  ActorRef<Op, int> Start(ActorOptions options = {}) {
    return SpawnActor<Op, int>(
        loop(1), [this] { return std::make_unique<Recorder>(&log_); }, std::move(options));
  }
  // Ask refuses while the mailbox is full; try until there is room.
  static Task<absl::StatusOr<int>> AskWhenRoom(ActorRef<Op, int> actor, Op op) {
    for (;;) {
      absl::StatusOr<int> seen = co_await actor.Ask(op, absl::Seconds(5));
      if (!absl::IsResourceExhausted(seen.status())) co_return seen;
      FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(absl::Microseconds(100)));
    }
  }
  std::vector<int> log_;  // Written on loop 1 only; read after an Ask has synchronised.
};

TEST_F(ActorTest, HandlesOneMessageAtATimeInOrder) {
  auto actor = Start();
  // Even with handlers that suspend, messages do not interleave.
  for (int i = 0; i < 5; ++i) ASSERT_THAT(actor.Tell({.value = i, .pause = absl::Microseconds(200)}), IsOk());
  EXPECT_THAT(Run(actor.Ask({.value = 5}, absl::Seconds(5))), IsOkAndHolds(6));
  EXPECT_THAT(log_, ElementsAre(0, 1, 2, 3, 4, 5));
}

TEST_F(ActorTest, AskFromAnotherLoopResumesOnTheAskersLoop) {
  auto actor = Start();
  auto run = [&]() -> Task<absl::StatusOr<bool>> {
    FANOUT_CO_ASSIGN_OR_RETURN(int seen, co_await actor.Ask({.value = 1}, absl::Seconds(5)));
    co_return seen == 1 && EventLoop::Current() == &loop(0);
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(true));
}

TEST_F(ActorTest, AskTimesOut) {
  auto actor = Start();
  EXPECT_THAT(Run(actor.Ask({.pause = absl::Seconds(10)}, absl::Milliseconds(5))),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(ActorTest, FullMailboxRefusesTellAndAsk) {
  auto actor = Start({.name = "tiny", .mailbox_capacity = 2});
  Notification gate;
  ASSERT_THAT(actor.Tell({.gate = &gate}), IsOk());
  // Wait until the actor holds the gated message: the mailbox is then empty.
  while (actor.mailbox_depth() != 0) std::this_thread::yield();
  ASSERT_THAT(actor.Tell({.value = 1}), IsOk());
  ASSERT_THAT(actor.Tell({.value = 2}), IsOk());
  EXPECT_THAT(actor.Tell({.value = 3}),
              StatusIs(absl::StatusCode::kResourceExhausted, ::testing::HasSubstr("tiny")));
  EXPECT_THAT(Run(actor.Ask({.value = 4}, absl::Seconds(1))),
              StatusIs(absl::StatusCode::kResourceExhausted));
  gate.Notify();
  EXPECT_THAT(Run(AskWhenRoom(actor, {.value = 5})), IsOk());
  EXPECT_THAT(log_, ElementsAre(0, 1, 2, 5));
}

TEST_F(ActorTest, SendWaitsForRoomInsteadOfFailing) {
  auto actor = Start({.mailbox_capacity = 1});
  auto run = [&]() -> Task<absl::StatusOr<int>> {
    for (int i = 0; i < 20; ++i) {
      FANOUT_CO_RETURN_IF_ERROR(co_await actor.Send({.value = i, .pause = absl::Microseconds(100)}));
    }
    co_return co_await AskWhenRoom(actor, {.value = 20});
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(21));
  EXPECT_EQ(log_.size(), 21u);
}

TEST_F(ActorTest, OrdinaryErrorsAreRepliesNotFailures) {
  auto actor = Start();
  EXPECT_THAT(Run(actor.Ask({.fail = absl::StatusCode::kNotFound}, absl::Seconds(5))),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Run(actor.Ask({.value = 1}, absl::Seconds(5))), IsOkAndHolds(1));
  EXPECT_EQ(actor.failures(), 0);
}

TEST_F(ActorTest, RestartGivesAFreshInstanceAndReportsTheFailure) {
  std::vector<std::string> reported;  // Written on the actor's loop.
  auto actor = Start({.name = "flaky",
                      .policy = RestartPolicy::kRestart,
                      .on_failure = [&](const std::string& name, const absl::Status& s) {
                        reported.push_back(name + ": " + std::string(s.message()));
                      }});
  EXPECT_THAT(Run(actor.Ask({.value = 1}, absl::Seconds(5))), IsOkAndHolds(1));
  EXPECT_THAT(Run(actor.Ask({.value = 2}, absl::Seconds(5))), IsOkAndHolds(2));
  EXPECT_THAT(Run(actor.Ask({.fail = absl::StatusCode::kInternal}, absl::Seconds(5))),
              StatusIs(absl::StatusCode::kInternal));
  // The new instance starts counting from zero.
  EXPECT_THAT(Run(actor.Ask({.value = 3}, absl::Seconds(5))), IsOkAndHolds(1));
  EXPECT_EQ(actor.restarts(), 1);
  EXPECT_THAT(reported, ElementsAre("flaky: asked to fail"));
}

TEST_F(ActorTest, ResumeKeepsState) {
  auto actor = Start({.policy = RestartPolicy::kResume});
  EXPECT_THAT(Run(actor.Ask({.value = 1}, absl::Seconds(5))), IsOkAndHolds(1));
  EXPECT_THAT(Run(actor.Ask({.fail = absl::StatusCode::kDataLoss}, absl::Seconds(5))),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(Run(actor.Ask({.value = 2}, absl::Seconds(5))), IsOkAndHolds(2));
}

TEST_F(ActorTest, StopPolicyMakesTheActorUnavailable) {
  auto actor = Start({.policy = RestartPolicy::kStop});
  EXPECT_THAT(Run(actor.Ask({.fail = absl::StatusCode::kUnknown}, absl::Seconds(5))),
              StatusIs(absl::StatusCode::kUnknown));
  // The mailbox closes right after the failing message.
  EXPECT_THAT(Run(actor.Ask({.value = 1}, absl::Seconds(5))),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(actor.Tell({.value = 2}), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(ActorTest, TooManyRestartsStopsTheActor) {
  auto actor = Start({.max_restarts = 2, .restart_window = absl::Hours(1)});
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(Run(actor.Ask({.fail = absl::StatusCode::kInternal}, absl::Seconds(5))),
                StatusIs(absl::StatusCode::kInternal));
  }
  EXPECT_THAT(Run(actor.Ask({.value = 1}, absl::Seconds(5))),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(actor.restarts(), 2);
}

TEST_F(ActorTest, RegistryKeepsOneActorPerKeyAndSpreadsKeys) {
  std::atomic<int> created{0};
  ActorRegistry<std::string, Op, int> registry(
      loops(),
      [&](const std::string&) {
        ++created;
        return std::make_unique<Recorder>(nullptr);
      },
      {.actor = {.name = "user"}, .max_actors = 16});
  auto a1 = registry.Get("alice");
  auto a2 = registry.Get("alice");
  ASSERT_THAT(a1, IsOk());
  ASSERT_THAT(a2, IsOk());
  EXPECT_EQ(&a1->loop(), &a2->loop());
  EXPECT_EQ(a1->name(), "user/alice");
  EXPECT_THAT(Run(a1->Ask({.value = 1}, absl::Seconds(5))), IsOkAndHolds(1));
  EXPECT_THAT(Run(a2->Ask({.value = 2}, absl::Seconds(5))), IsOkAndHolds(2));  // same actor
  std::set<EventLoop*> used;
  for (int i = 0; i < 15; ++i) {
    auto ref = registry.Get("user-" + std::to_string(i));
    ASSERT_THAT(ref, IsOk());
    used.insert(&ref->loop());
    EXPECT_THAT(Run(ref->Ask({.value = i}, absl::Seconds(5))), IsOkAndHolds(1));  // a new actor
  }
  EXPECT_EQ(used.size(), 2u);  // 16 keys over 2 loops land on both.
  EXPECT_EQ(registry.size(), 16u);
  EXPECT_THAT(registry.Get("one-too-many"), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(created.load(), 16);
}

}  // namespace
}  // namespace fanout
