#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "node/async/as_completed.h"
#include "node/async/gather.h"
#include "node/async/task_group.h"
#include "node/async/with_deadline.h"
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

// Answers `value` after `delay` (or the sleep's cancellation reason).
Task<absl::StatusOr<int>> After(absl::Duration delay, int value) {
  FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(delay));
  co_return value;
}

Task<absl::StatusOr<int>> FailAfter(absl::Duration delay, absl::Status error) {
  FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(delay));
  co_return error;
}

// Sleeps "forever" and records how it ended.
Task<absl::StatusOr<int>> Forever(absl::Status* ended) {
  *ended = co_await Sleep(absl::Hours(1));
  co_return *ended;
}

// Simulated time: the sleeps below take no wall-clock time, and tasks end
// in exactly the order of their deadlines.
class CombinatorsTest : public testing::SimulatedLoopTest {};

TEST_F(CombinatorsTest, TaskReturnsValueThroughNestedAwaits) {
  auto outer = []() -> Task<absl::StatusOr<int>> {
    FANOUT_CO_ASSIGN_OR_RETURN(int a, co_await After(absl::ZeroDuration(), 20));
    FANOUT_CO_ASSIGN_OR_RETURN(int b, co_await After(absl::Milliseconds(1), 22));
    co_return a + b;
  };
  EXPECT_THAT(Run(outer()), IsOkAndHolds(42));
}

TEST_F(CombinatorsTest, DeepSynchronousChainDoesNotGrowTheStack) {
#if defined(__SANITIZE_ADDRESS__) || defined(FANOUT_TSAN)
  // Sanitizers instrument frames and GCC then emits no tail call for symmetric
  // transfer: the property only holds in uninstrumented optimised builds.
  GTEST_SKIP() << "symmetric transfer is not a tail call under sanitizers";
#endif
  // Symmetric transfer: a million synchronous awaits in a chain would
  // overflow the stack if each resume nested.
  struct Chain {
    static Task<int> Step(int n) {
      if (n == 0) co_return 0;
      co_return 1 + co_await Step(n - 1);
    }
  };
  auto run = []() -> Task<absl::StatusOr<int>> {
    int total = 0;
    for (int i = 0; i < 1000; ++i) total += co_await Chain::Step(100);
    co_return total;
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(100000));
}

TEST_F(CombinatorsTest, GatherReturnsAllValuesInOrder) {
  auto run = []() -> Task<absl::StatusOr<std::vector<int>>> {
    std::vector<Task<absl::StatusOr<int>>> tasks;
    tasks.push_back(After(absl::Milliseconds(20), 1));
    tasks.push_back(After(absl::Milliseconds(1), 2));
    tasks.push_back(After(absl::ZeroDuration(), 3));
    co_return co_await Gather(std::move(tasks));
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(ElementsAre(1, 2, 3)));
}

TEST_F(CombinatorsTest, GatherRunsTasksConcurrently) {
  // All three are asleep at once: concurrency shown by the peak, and by
  // the simulated time they took together.
  int asleep = 0;
  int peak = 0;
  auto nap = [&](int value) -> Task<absl::StatusOr<int>> {
    peak = std::max(peak, ++asleep);
    absl::Status slept = co_await Sleep(absl::Milliseconds(50));
    --asleep;
    if (!slept.ok()) co_return slept;
    co_return value;
  };
  auto run = [&]() -> Task<absl::StatusOr<std::tuple<int, int, int>>> {
    co_return co_await Gather(nap(1), nap(2), nap(3));
  };
  const absl::Time start = clock().Now();
  EXPECT_THAT(Run(run()), IsOkAndHolds(std::make_tuple(1, 2, 3)));
  EXPECT_EQ(peak, 3);
  EXPECT_EQ(clock().Now() - start, absl::Milliseconds(50));
}

TEST_F(CombinatorsTest, GatherFirstErrorCancelsTheRest) {
  absl::Status sibling;
  auto run = [&]() -> Task<absl::StatusOr<std::tuple<int, int>>> {
    co_return co_await Gather(FailAfter(absl::Milliseconds(1), absl::NotFoundError("no user")),
                              Forever(&sibling));
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kNotFound, "no user"));
  EXPECT_THAT(sibling, StatusIs(absl::StatusCode::kCancelled));
}

TEST_F(CombinatorsTest, GatherOfStatusesReportsFirstError) {
  auto ok = []() -> Task<absl::Status> { co_return absl::OkStatus(); };
  auto bad = []() -> Task<absl::Status> { co_return absl::InternalError("boom"); };
  auto run = [&]() -> Task<absl::Status> {
    std::vector<Task<absl::Status>> tasks;
    tasks.push_back(ok());
    tasks.push_back(bad());
    tasks.push_back(ok());
    co_return co_await Gather(std::move(tasks));
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kInternal, "boom"));
}

TEST_F(CombinatorsTest, GatherSettledKeepsPartialResults) {
  auto run = []() -> Task<absl::StatusOr<std::string>> {
    auto [a, b, c] =
        co_await GatherSettled(After(absl::Milliseconds(5), 1),
                               FailAfter(absl::Milliseconds(1), absl::UnavailableError("down")),
                               After(absl::ZeroDuration(), 3));
    co_return absl::StrCat(a.ok() ? *a : -1, ",",
                           b.status().code() == absl::StatusCode::kUnavailable, ",",
                           c.ok() ? *c : -1);
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds("1,1,3"));
}

TEST_F(CombinatorsTest, GatherSettledVectorDoesNotCancelSiblingsOnError) {
  auto run = []() -> Task<std::vector<absl::StatusOr<int>>> {
    std::vector<Task<absl::StatusOr<int>>> tasks;
    tasks.push_back(FailAfter(absl::ZeroDuration(), absl::InternalError("x")));
    tasks.push_back(After(absl::Milliseconds(10), 7));
    co_return co_await GatherSettled(std::move(tasks));
  };
  auto results = Run(run());
  ASSERT_EQ(results.size(), 2u);
  EXPECT_THAT(results[0], StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(results[1], IsOkAndHolds(7));
}

TEST_F(CombinatorsTest, WithDeadlineExpiresAndCancelsTheWork) {
  absl::Status work;
  auto run = [&]() -> Task<absl::StatusOr<int>> {
    co_return co_await WithTimeout(Forever(&work), absl::Milliseconds(5));
  };
  const absl::Time start = clock().Now();
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(work, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(clock().Now() - start, absl::Milliseconds(5));
}

TEST_F(CombinatorsTest, WithDeadlineReturnsResultInTime) {
  auto run = []() -> Task<absl::StatusOr<int>> {
    co_return co_await WithTimeout(After(absl::Milliseconds(1), 9), absl::Seconds(10));
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(9));
}

TEST_F(CombinatorsTest, DeadlineFlowsIntoNestedTasks) {
  auto inner = []() -> Task<absl::StatusOr<absl::Time>> {
    co_return (co_await CurrentContext()).token.deadline();
  };
  absl::Time deadline = clock().Now() + absl::Seconds(30);
  auto run = [&]() -> Task<absl::StatusOr<absl::Time>> {
    // The inner, later deadline cannot extend the outer one.
    co_return co_await WithDeadline(
        [&]() -> Task<absl::StatusOr<absl::Time>> {
          co_return co_await WithDeadline(inner(), deadline + absl::Hours(1));
        }(),
        deadline);
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(deadline));
}

TEST_F(CombinatorsTest, AsCompletedYieldsInCompletionOrder) {
  auto run = []() -> Task<absl::StatusOr<std::vector<size_t>>> {
    std::vector<Task<absl::StatusOr<int>>> tasks;
    // Simulated time keeps the order however close the deadlines are.
    tasks.push_back(After(absl::Milliseconds(2), 0));
    tasks.push_back(After(absl::ZeroDuration(), 1));
    tasks.push_back(After(absl::Milliseconds(1), 2));
    AsCompleted<absl::StatusOr<int>> stream(std::move(tasks));
    std::vector<size_t> order;
    while (auto done = co_await stream.Next()) {
      if (!done->result.ok() || *done->result != static_cast<int>(done->index)) {
        co_return absl::InternalError("result does not match its index");
      }
      order.push_back(done->index);
    }
    co_return order;
  };
  EXPECT_THAT(Run(run()), IsOkAndHolds(ElementsAre(1, 2, 0)));
}

TEST_F(CombinatorsTest, AbandonedAsCompletedCancelsTheRest) {
  absl::Status slow;
  auto run = [&]() -> Task<absl::Status> {
    std::vector<Task<absl::StatusOr<int>>> tasks;
    tasks.push_back(After(absl::ZeroDuration(), 1));
    tasks.push_back(Forever(&slow));
    {
      AsCompleted<absl::StatusOr<int>> stream(std::move(tasks));
      auto first = co_await stream.Next();
      if (!first || first->index != 0) co_return absl::InternalError("wrong first");
    }
    // The cancelled child winds down before any time passes.
    co_return co_await Sleep(absl::Milliseconds(5));
  };
  EXPECT_THAT(Run(run()), IsOk());
  EXPECT_THAT(slow, StatusIs(absl::StatusCode::kCancelled));
}

TEST_F(CombinatorsTest, TaskGroupWaitsForAllChildren) {
  int finished = 0;
  auto child = [&](absl::Duration d) -> Task<absl::Status> {
    FANOUT_CO_RETURN_IF_ERROR(co_await Sleep(d));
    ++finished;
    co_return absl::OkStatus();
  };
  auto run = [&]() -> Task<absl::Status> {
    TaskGroup group(co_await CurrentContext());
    for (int i = 0; i < 5; ++i) group.Spawn(child(absl::Milliseconds(i)));
    co_return co_await group.Wait();
  };
  EXPECT_THAT(Run(run()), IsOk());
  EXPECT_EQ(finished, 5);
}

TEST_F(CombinatorsTest, TaskGroupFailureCancelsSiblings) {
  absl::Status sibling;
  auto run = [&]() -> Task<absl::Status> {
    auto forever = [&]() -> Task<absl::Status> { co_return (co_await Forever(&sibling)).status(); };
    auto fail = []() -> Task<absl::Status> { co_return absl::DataLossError("bad disk"); };
    TaskGroup group(co_await CurrentContext());
    group.Spawn(forever());
    group.Spawn(fail());
    co_return co_await group.Wait();
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(sibling, StatusIs(absl::StatusCode::kCancelled, HasSubstr("bad disk")));
}

TEST_F(CombinatorsTest, CancellingTheParentCancelsEveryChild) {
  absl::Status a, b;
  auto run = [&]() -> Task<absl::StatusOr<std::tuple<int, int>>> {
    // The outer deadline cancels Gather, which cancels both children.
    co_return co_await WithTimeout(Gather(Forever(&a), Forever(&b)), absl::Milliseconds(2));
  };
  EXPECT_THAT(Run(run()), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(a, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(b, StatusIs(absl::StatusCode::kDeadlineExceeded));
}

}  // namespace
}  // namespace fanout
