// RunRoute's dependency graph, against a real lab backend on port 0: each
// call starts once what it needs has answered, independent calls run at
// once, a required failure cancels the rest, an optional one leaves a
// partial answer, and both ways of printing the merged answer agree.
// Concurrency is read from the lab's own counters, never from timings.
#include "gateway/aggregator.h"

#include <google/protobuf/message.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/create_channel.h>

#include "absl/strings/str_cat.h"
#include "fanout/lab/v1/lab.pb.h"
#include "gateway/route_compile.h"
#include "node/async/with_deadline.h"
#include "node/config/yaml_proto.h"
#include "services/lab/lab_service.h"
#include "tests/support/eventually.h"
#include "tests/support/loop_fixture.h"
#include "tests/support/route_context.h"
#include "tests/support/status_matchers.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::Eventually;
using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

class AggregatorTest : public testing::LoopTest {
 protected:
  AggregatorTest() : LoopTest(1) {
    lab_.Register(server_);
    EXPECT_THAT(server_.Start(), IsOk());
    lab_.Serve(server_);
    backends_["lab"] = LabBackend(server_.port());
    env_.backends = &backends_;
    env_.new_message = [](const google::protobuf::Descriptor* type) {
      return std::unique_ptr<google::protobuf::Message>(
          google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
    };
  }
  ~AggregatorTest() override { server_.Shutdown(absl::Seconds(1)); }

  // The backend "lab", served on `port` of 127.0.0.1.
  static std::unique_ptr<Backend> LabBackend(int port) {
    return std::make_unique<Backend>(
        "lab",
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()),
        config::v1::Backend());
  }

  // One route from its YAML (a config::v1::Route), calling the lab.
  CompiledRoute Compile(const std::string& yaml) {
    config::v1::Route route;
    EXPECT_THAT(YamlTextToMessage(yaml, "test", &route), IsOk());
    absl::StatusOr<CompiledRoute> compiled = CompileRoute(route, testing::TestRouteContext());
    EXPECT_THAT(compiled, IsOk());
    return compiled.ok() ? *std::move(compiled) : CompiledRoute();
  }

  RouteResult RunToEnd(const CompiledRoute& route, const RequestInput& input = {},
                       PartSink sink = nullptr) {
    absl::StatusOr<RouteResult> result = Run(RunRoute(route, input, env_, std::move(sink)));
    EXPECT_THAT(result, IsOk());  // RunRoute reports inside RouteResult.
    return result.ok() ? *std::move(result) : RouteResult();
  }

  static std::vector<std::string> Names(const RouteResult& result) {
    std::vector<std::string> names;
    for (const PartResult& part : result.parts) names.push_back(part.name);
    return names;
  }

  static std::string EchoOf(const PartResult* part) {
    if (part == nullptr || part->message == nullptr) return "<no answer>";
    return static_cast<const lab::v1::EchoResponse&>(*part->message).message();
  }

  Server server_{{.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1}};
  lab::LabService lab_{{.name = "lab"}};
  BackendMap backends_;
  RouteEnv env_;
};

TEST_F(AggregatorTest, ADiamondRunsEachCallOnceAfterWhatItNeeds) {
  CompiledRoute route = Compile(R"(
name: diamond
path: /d/{word}
calls:
  - {name: d, backend: lab, method: fanout.lab.v1.Lab/Echo,
     request: {message: parts.b.message, error_message: parts.c.message}}
  - {name: b, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: parts.a.message}}
  - {name: c, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: parts.a.message}}
  - {name: a, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: path.word}}
)");
  RouteResult result = RunToEnd(route, {.path = {{"word", "top"}}});
  ASSERT_THAT(result.status, IsOk());
  EXPECT_TRUE(result.completed);
  std::vector<std::string> order = Names(result);
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order.front(), "a");  // Completion order: a first, d last, b and c between.
  EXPECT_EQ(order.back(), "d");
  EXPECT_EQ(EchoOf(result.Find("d")), "top");  // a's answer, through b.
  EXPECT_EQ(lab_.calls(), 4);
  EXPECT_EQ(backends_["lab"]->stats().attempts.load(), 4);
}

TEST_F(AggregatorTest, IndependentCallsRunAtOnceAndAChainOneAfterAnother) {
  CompiledRoute apart = Compile(R"(
name: apart
path: /a
calls:
  - {name: x, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: "=50"}}
  - {name: y, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: "=50"}}
)");
  ASSERT_THAT(RunToEnd(apart).status, IsOk());
  EXPECT_EQ(lab_.peak_concurrent_sleeps(), 2);

  lab::LabService chain_lab({.name = "chain"});
  Server chain_server({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1});
  chain_lab.Register(chain_server);
  ASSERT_THAT(chain_server.Start(), IsOk());
  chain_lab.Serve(chain_server);
  backends_["lab"] = LabBackend(chain_server.port());
  CompiledRoute chain = Compile(R"(
name: chain
path: /c
calls:
  - {name: first, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: "=50"}}
  - {name: second, backend: lab, method: fanout.lab.v1.Lab/Echo,
     request: {delay_ms: "=50", message: parts.first.message}}
)");
  RouteResult result = RunToEnd(chain);
  ASSERT_THAT(result.status, IsOk());
  EXPECT_THAT(Names(result), ElementsAre("first", "second"));
  EXPECT_EQ(chain_lab.peak_concurrent_sleeps(), 1);
  EXPECT_EQ(chain_lab.calls(), 2);
  chain_server.Shutdown(absl::Seconds(1));
}

TEST_F(AggregatorTest, ARequiredFailureCancelsWhatRunsAndStartsNothingMore) {
  CompiledRoute route = Compile(R"(
name: fails
path: /f
calls:
  - {name: slow, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: "=60000"}}
  - {name: broken, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {error_code: "=14"}}
  - {name: after, backend: lab, method: fanout.lab.v1.Lab/Echo,
     request: {message: parts.broken.message}}
)");
  RouteResult result = RunToEnd(route);
  EXPECT_THAT(result.status, StatusIs(absl::StatusCode::kUnavailable,
                                      HasSubstr("part \"broken\" (lab /fanout.lab.v1.Lab/Echo)")));
  EXPECT_THAT(Names(result), ElementsAre("broken", "slow"));
  ASSERT_NE(result.Find("slow"), nullptr);
  EXPECT_THAT(result.Find("slow")->status,
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("required part \"broken\" failed")));
  EXPECT_EQ(result.Find("after"), nullptr);  // Never started.
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() == 1; }));
  EXPECT_EQ(lab_.calls(), 2);
}

TEST_F(AggregatorTest, AnOptionalFailureLeavesAPartialAnswerListingWhatFailed) {
  CompiledRoute route = Compile(R"(
name: partial
path: /p
calls:
  - {name: main, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: "=ok"},
     output: main}
  - {name: extra, backend: lab, method: fanout.lab.v1.Lab/Echo, optional: true,
     request: {error_code: "=5", error_message: "=no such thing"}, output: extra}
  - {name: after_extra, backend: lab, method: fanout.lab.v1.Lab/Echo, optional: true,
     request: {message: parts.extra.message}, output: more.after}
)");
  RouteResult result = RunToEnd(route);
  ASSERT_THAT(result.status, IsOk());
  EXPECT_FALSE(result.completed);
  EXPECT_THAT(Names(result), UnorderedElementsAre("main", "extra", "after_extra"));
  EXPECT_THAT(result.Find("after_extra")->status,
              StatusIs(absl::StatusCode::kNotFound,
                       "part \"after_extra\" needs part \"extra\", which failed (NOT_FOUND)"));
  EXPECT_EQ(lab_.calls(), 2);  // after_extra never reached the backend.

  std::string merged;
  ASSERT_THAT(AppendMergedJson(route, result, &merged), IsOk());
  absl::StatusOr<Value> answer = ParseJson(merged);
  ASSERT_THAT(answer, IsOk());
  // The fast printer (fields in message order) and the Value tree (keys
  // sorted) print the same answer.
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(*answer, MergeParts(route, result)))
      << merged << "\n"
      << ToJson(MergeParts(route, result));
  EXPECT_EQ(FindPath(*answer, "main.message")->string_value(), "ok");
  EXPECT_EQ(FindPath(*answer, "extra"), nullptr);
  const Value* errors = FindPath(*answer, "errors");
  ASSERT_NE(errors, nullptr);
  ASSERT_EQ(errors->list_value().values_size(), 2);  // Route order, whatever the timing.
  EXPECT_EQ(FindPath(errors->list_value().values(0), "part")->string_value(), "extra");
  EXPECT_EQ(FindPath(errors->list_value().values(0), "status")->string_value(), "NOT_FOUND");
  EXPECT_EQ(FindPath(errors->list_value().values(0), "message")->string_value(),
            "part \"extra\" (lab /fanout.lab.v1.Lab/Echo): no such thing");
  EXPECT_EQ(FindPath(errors->list_value().values(1), "part")->string_value(), "after_extra");
}

TEST_F(AggregatorTest, TheCallersBadInputFailsTheRouteEvenInAnOptionalPart) {
  CompiledRoute route = Compile(R"(
name: bad
path: /b
calls:
  - {name: extra, backend: lab, method: fanout.lab.v1.Lab/Echo, optional: true,
     request: {delay_ms: query.delay}}
)");
  RouteResult result = RunToEnd(route, {.query = {{"delay", "soon"}}});
  EXPECT_THAT(result.status,
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("query parameter \"delay\" (for request field \"delay_ms\")")));
  EXPECT_EQ(lab_.calls(), 0);
}

TEST_F(AggregatorTest, TheSinkSeesEachPartInCompletionOrder) {
  CompiledRoute route = Compile(R"(
name: streamed
path: /s
calls:
  - {name: one, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: "=one"}}
  - {name: two, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: parts.one.message}}
  - {name: three, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: "=three"}}
)");
  std::vector<std::string> seen;
  RouteResult result = RunToEnd(route, {}, [&](const PartResult& part) -> Task<void> {
    seen.push_back(part.name);
    co_return;
  });
  ASSERT_THAT(result.status, IsOk());
  EXPECT_EQ(seen, Names(result));
  EXPECT_EQ(seen.size(), 3u);
}

TEST_F(AggregatorTest, CancellingTheRouteCancelsEveryBackendCall) {
  CompiledRoute route = Compile(R"(
name: hangs
path: /h
calls:
  - {name: x, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: "=60000"}}
  - {name: y, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: "=60000"}}
)");
  RequestInput input;
  // Long enough for both calls to reach the backend on a loaded sanitized
  // build (100 ms was not, once: a call cancelled before it is sent is
  // never counted as interrupted there).
  absl::StatusOr<RouteResult> result =
      Run(WithTimeout(RunRoute(route, input, env_), absl::Seconds(1)));
  // RunRoute reports inside its result: the calls' deadline failed the route.
  ASSERT_THAT(result, IsOk());
  EXPECT_THAT(result->status, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() == 2; }));
}

}  // namespace
}  // namespace fanout::gateway
