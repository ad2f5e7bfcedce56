// The gateway's protection pieces on a manual clock: circuit breaker,
// admission limiter, and the gRPC->HTTP table.
#include "absl/strings/str_cat.h"
#include "gateway/admission.h"
#include "gateway/circuit_breaker.h"
#include "gateway/http_status.h"
#include "gateway/json_value.h"
#include "tests/support/status_matchers.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using State = CircuitBreaker::State;

CircuitBreaker::Options Breaker(ManualClock* clock) {
  return {.name = "users",
          .failure_rate = 0.5,
          .min_calls = 4,
          .window = absl::Seconds(10),
          .open_for = absl::Seconds(5),
          .probes = 2,
          .clock = clock};
}

TEST(CircuitBreakerTest, OpensOnFailureRateAndRecoversThroughProbes) {
  ManualClock clock;
  CircuitBreaker breaker(Breaker(&clock));
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(breaker.Allow(), IsOk());
    breaker.Record(/*failed=*/true);
  }
  EXPECT_EQ(breaker.state(), State::kClosed);  // Under min_calls.
  ASSERT_THAT(breaker.Allow(), IsOk());
  breaker.Record(true);
  EXPECT_EQ(breaker.state(), State::kOpen);
  absl::Status refused = breaker.Allow();
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_NE(refused.message().find("backend \"users\" is open"), absl::string_view::npos);

  clock.Advance(absl::Seconds(5));
  ASSERT_THAT(breaker.Allow(), IsOk());  // Probe 1.
  EXPECT_EQ(breaker.state(), State::kHalfOpen);
  ASSERT_THAT(breaker.Allow(), IsOk());                                    // Probe 2.
  EXPECT_THAT(breaker.Allow(), StatusIs(absl::StatusCode::kUnavailable));  // No third.
  breaker.Record(false);
  breaker.Record(false);
  EXPECT_EQ(breaker.state(), State::kClosed);
  EXPECT_THAT(breaker.Allow(), IsOk());
}

TEST(CircuitBreakerTest, FailedProbeReopens) {
  ManualClock clock;
  CircuitBreaker breaker(Breaker(&clock));
  for (int i = 0; i < 4; ++i) {
    (void)breaker.Allow();
    breaker.Record(true);
  }
  clock.Advance(absl::Seconds(6));
  ASSERT_THAT(breaker.Allow(), IsOk());
  breaker.Record(true);
  EXPECT_EQ(breaker.state(), State::kOpen);
  EXPECT_THAT(breaker.Allow(), StatusIs(absl::StatusCode::kUnavailable));
}

TEST(CircuitBreakerTest, OldFailuresLeaveTheWindow) {
  ManualClock clock;
  CircuitBreaker breaker(Breaker(&clock));
  for (int i = 0; i < 3; ++i) breaker.Record(true);
  clock.Advance(absl::Seconds(11));
  for (int i = 0; i < 3; ++i) breaker.Record(false);
  breaker.Record(true);  // 1 of 4 in the window: stays closed.
  EXPECT_EQ(breaker.state(), State::kClosed);
}

TEST(CircuitBreakerTest, AbandonedProbeFreesItsSlot) {
  ManualClock clock;
  CircuitBreaker breaker(Breaker(&clock));
  for (int i = 0; i < 4; ++i) breaker.Record(true);
  clock.Advance(absl::Seconds(5));
  ASSERT_THAT(breaker.Allow(), IsOk());
  ASSERT_THAT(breaker.Allow(), IsOk());
  breaker.Abandon();
  EXPECT_THAT(breaker.Allow(), IsOk());
}

TEST(CircuitBreakerTest, OnlyBackendTroubleCounts) {
  EXPECT_TRUE(CircuitBreaker::CountsAsFailure(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(CircuitBreaker::CountsAsFailure(absl::StatusCode::kDeadlineExceeded));
  EXPECT_FALSE(CircuitBreaker::CountsAsFailure(absl::StatusCode::kNotFound));
  EXPECT_FALSE(CircuitBreaker::CountsAsFailure(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(CircuitBreaker::CountsAsFailure(absl::StatusCode::kCancelled));
}

TEST(AdmissionLimiterTest, ShedsAtTheLimitAndReadmitsAfterRelease) {
  AdmissionLimiter limiter(2);
  auto a = limiter.TryAdmit();
  auto b = limiter.TryAdmit();
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(limiter.TryAdmit());
  EXPECT_EQ(limiter.shed(), 1);
  a.reset();
  EXPECT_TRUE(limiter.TryAdmit());
  EXPECT_EQ(limiter.in_flight(), 1);
}

TEST(HttpStatusTest, EveryCodeHasAnHttpStatusAndAName) {
  const std::pair<absl::StatusCode, int> expected[] = {
      {absl::StatusCode::kOk, 200},
      {absl::StatusCode::kCancelled, 499},
      {absl::StatusCode::kUnknown, 500},
      {absl::StatusCode::kInvalidArgument, 400},
      {absl::StatusCode::kDeadlineExceeded, 504},
      {absl::StatusCode::kNotFound, 404},
      {absl::StatusCode::kAlreadyExists, 409},
      {absl::StatusCode::kPermissionDenied, 403},
      {absl::StatusCode::kResourceExhausted, 429},
      {absl::StatusCode::kFailedPrecondition, 400},
      {absl::StatusCode::kAborted, 409},
      {absl::StatusCode::kOutOfRange, 400},
      {absl::StatusCode::kUnimplemented, 501},
      {absl::StatusCode::kInternal, 500},
      {absl::StatusCode::kUnavailable, 503},
      {absl::StatusCode::kDataLoss, 500},
      {absl::StatusCode::kUnauthenticated, 401},
  };
  for (const auto& [code, http] : expected) {
    EXPECT_EQ(HttpStatusFromCode(code), http) << absl::StatusCodeToString(code);
    absl::StatusCode parsed;
    ASSERT_TRUE(ParseCodeName(CodeName(code), &parsed));
    EXPECT_EQ(parsed, code);
  }
}

TEST(HttpStatusTest, ErrorJsonIsValidJsonWithEscapes) {
  std::string body = ErrorJson(absl::NotFoundError("user \"7\"\nnot\tfound"));
  absl::StatusOr<Value> parsed = ParseJson(body);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(FindPath(*parsed, "code")->number_value(), 5);
  EXPECT_EQ(FindPath(*parsed, "status")->string_value(), "NOT_FOUND");
  EXPECT_EQ(FindPath(*parsed, "message")->string_value(), "user \"7\"\nnot\tfound");
}

TEST(JsonValueTest, PathsSetFindEraseMerge) {
  Value root = ObjectValue();
  SetPath(&root, "profile.user.name", StringValue("Ada"));
  ASSERT_NE(FindPath(root, "profile.user.name"), nullptr);
  EXPECT_EQ(FindPath(root, "profile.user.name")->string_value(), "Ada");
  EXPECT_EQ(FindPath(root, "profile.nope"), nullptr);
  ErasePath(&root, "profile.user.name");
  EXPECT_EQ(FindPath(root, "profile.user.name"), nullptr);
  Value more = ObjectValue();
  SetPath(&more, "x", StringValue("1"));
  MergeFields(more, &root);
  EXPECT_EQ(FindPath(root, "x")->string_value(), "1");
  EXPECT_THAT(ParseJson("{\"a\": nul}"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(JsonValueTest, PrintsSortedKeysAndExactNumbers) {
  absl::StatusOr<Value> v =
      ParseJson(R"({"z": 1, "a": [0.1, -3, 1e300, true, null], "m": {"y": "\u0001\"", "b": {}}})");
  ASSERT_THAT(v, IsOk());
  EXPECT_EQ(ToJson(*v), R"({"a":[0.1,-3,1e+300,true,null],"m":{"b":{},"y":"\u0001\""},"z":1})");
}

}  // namespace
}  // namespace fanout::gateway
