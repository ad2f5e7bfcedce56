// The gateway's REST and gRPC doors against real backends on 127.0.0.1:0: a lab
// server, a hand-written flaky one, and a dead address. Every behaviour a
// caller relies on: concurrency, dependencies, partial answers, deadlines,
// bulkheads, shedding, the breaker, retries, hedging, cancellation,
// streaming, and clear answers to bad input.
#include "gateway/gateway.h"

#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "fanout/gateway/v1/gateway.grpc.pb.h"
#include "fanout/lab/v1/lab.grpc.pb.h"
#include "node/async/sleep.h"
#include "node/config/yaml_proto.h"
#include "node/telemetry/metrics.h"
#include "services/lab/lab_service.h"
#include "tests/support/eventually.h"
#include "tests/support/generic_unary.h"
#include "tests/support/http_client.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/status_matchers.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::Eventually;
using ::fanout::testing::HttpCall;
using ::fanout::testing::HttpResult;
using ::fanout::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kRoutes[] = R"yaml(
rest_address: 127.0.0.1:0
max_body_bytes: 1024
routes:
  - name: three
    path: /three
    calls:
      - {name: a, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: "=a", delay_ms: query.delay}}
      - {name: b, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: "=b", delay_ms: query.delay}}
      - {name: c, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: "=c", delay_ms: query.delay}}
  - name: chain
    path: /chain/{word}
    calls:
      - {name: first, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: path.word}, output: "-"}
      - {name: second, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: parts.first.message}, select: message, output: echoed.twice}
  - name: partial
    path: /partial
    calls:
      - {name: main, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: "=ok"}}
      - {name: extra, backend: lab, method: fanout.lab.v1.Lab/Echo, optional: true,
         request: {error_code: query.code, error_message: "=extra is down"}}
      - {name: after_extra, backend: lab, method: fanout.lab.v1.Lab/Echo, optional: true,
         request: {message: parts.extra.message}}
  - name: needs_optional
    path: /needs-optional
    calls:
      - {name: extra, backend: lab, method: fanout.lab.v1.Lab/Echo, optional: true,
         request: {error_code: query.code, error_message: "=extra is down"}}
      - {name: main, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: parts.extra.message}}
  - name: echo
    http_method: POST
    path: /echo
    respond_with: echo
    calls:
      - {name: echo, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {"*": body}}
  - name: sleep
    path: /sleep/{ms}
    respond_with: echo
    calls:
      - {name: echo, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: path.ms}}
  - name: hasty
    path: /hasty/{ms}
    respond_with: echo
    calls:
      - {name: echo, backend: hasty, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: path.ms}}
  - name: hasty-call
    path: /hasty-call/{ms}
    respond_with: echo
    calls:
      - {name: echo, backend: hasty, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: path.ms},
         timeout_ms: 100}
  - name: narrow
    path: /narrow/{ms}
    respond_with: echo
    calls:
      - {name: echo, backend: narrow, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: path.ms}}
  - name: fragile
    path: /fragile
    respond_with: echo
    calls:
      - {name: echo, backend: fragile, method: fanout.lab.v1.Lab/Echo, request: {error_code: query.code, delay_ms: query.delay}}
  - name: retried
    path: /retried
    respond_with: echo
    calls:
      - name: echo
        backend: budgeted
        method: fanout.lab.v1.Lab/Echo
        request: {error_code: "=14"}
        retry: {max_attempts: 3, initial_backoff_ms: 1, max_backoff_ms: 2}
  - name: hedged
    path: /hedged
    respond_with: echo
    calls:
      - {name: echo, backend: flaky, method: fanout.lab.v1.Lab/Echo, hedge_delay_ms: 50, request: {message: "=hedge"}}
  - name: warm
    path: /warm
    respond_with: echo
    calls:
      - {name: echo, backend: flaky, method: fanout.lab.v1.Lab/Echo, request: {message: "=warm"}}
  - name: dead
    path: /dead
    calls:
      - {name: main, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: "=ok"}}
      - {name: gone, backend: dead, method: fanout.lab.v1.Lab/Echo}
  - name: liar
    path: /liar
    calls:
      - {name: lie, backend: liar, method: fanout.lab.v1.Lab/Echo}
  - name: stream
    path: /stream
    stream: true
    calls:
      - {name: slow, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: "=400"}}
      - {name: fast, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: "=quick"}}
      - {name: broken, backend: lab, method: fanout.lab.v1.Lab/Echo, optional: true, request: {error_code: "=14"}}
  - name: picky
    path: /picky
    respond_with: echo
    calls:
      - {name: echo, backend: picky, method: fanout.lab.v1.Lab/Echo, request: {error_code: query.code}}
  - name: generous
    path: /generous
    respond_with: echo
    calls:
      - {name: echo, backend: generous, method: fanout.lab.v1.Lab/Echo, request: {error_code: query.code},
         retry: {max_attempts: 2, initial_backoff_ms: 1}}
  - name: limited
    path: /limited/{ms}
    max_in_flight: 1
    respond_with: echo
    calls:
      - {name: echo, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: path.ms}}
)yaml";

// A Lab whose first "hedge" Echo hangs for seconds and the rest answer at
// once: a slow tail for hedging to cut.
class FlakyLab {
 public:
  void Register(Server& server) { server.RegisterService(&service_); }
  void Serve(Server& server) {
    server.ServeUnary(&service_, &lab::v1::Lab::AsyncService::RequestEcho,
                      [this](grpc::ServerContext&, const lab::v1::EchoRequest& request) {
                        return Echo(request.message() == "hedge" && hedge_calls_.fetch_add(1) == 0);
                      });
  }
  Task<absl::StatusOr<lab::v1::EchoResponse>> Echo(bool slow) {
    if (slow) {
      absl::Status slept = co_await Sleep(absl::Seconds(5));
      if (!slept.ok()) {
        ++cancelled_;
        co_return slept;
      }
    }
    lab::v1::EchoResponse response;
    response.set_message(slow ? "slow" : "fast");
    co_return response;
  }
  std::atomic<int> hedge_calls_{0};
  std::atomic<int> cancelled_{0};

 private:
  lab::v1::Lab::AsyncService service_;
};

// Answers every call with bytes that are no EchoResponse.
Task<absl::Status> Garbage(GenericCall& call) {
  (void)co_await call.Read();
  std::string junk = "\x0a\xff\xff\xff";
  grpc::Slice slice(junk);
  Bytes bytes(&slice, 1);
  co_return co_await call.Write(bytes);
}

// The string at a dotted path of a JSON text, or "" when absent.
std::string JsonAt(const std::string& json, const std::string& path) {
  absl::StatusOr<Value> value = ParseJson(json);
  if (!value.ok()) return "";
  const Value* at = FindPath(*value, path);
  return at ? at->string_value() : "";
}

class GatewayRestTest : public ::testing::Test {
 protected:
  GatewayRestTest() {
    lab_.Register(backend_);
    flaky_.Register(flaky_server_);
    liar_server_.RegisterGenericService(&liar_service_);
    EXPECT_THAT(backend_.Start(), IsOk());
    EXPECT_THAT(flaky_server_.Start(), IsOk());
    EXPECT_THAT(liar_server_.Start(), IsOk());
    lab_.Serve(backend_);
    flaky_.Serve(flaky_server_);
    liar_server_.ServeGeneric(&liar_service_, Garbage);
  }
  ~GatewayRestTest() override {
    if (gateway_) gateway_->Stop();
    front_.Shutdown(absl::Seconds(1));
    backend_.Shutdown(absl::Seconds(1));
    flaky_server_.Shutdown(absl::Milliseconds(100));
    liar_server_.Shutdown(absl::Milliseconds(100));
  }

  // `max_body_bytes` replaces the routes' 1 KiB when set.
  void StartGateway(std::string extra_yaml = "", int64_t max_body_bytes = 0) {
    config::v1::GatewayConfig config;
    ASSERT_THAT(YamlTextToMessage(std::string(kRoutes) + extra_yaml, "test", &config), IsOk());
    if (max_body_bytes > 0) config.set_max_body_bytes(max_body_bytes);
    Gateway::Options options{.config = config, .clock = &breaker_clock_};
    auto lab_target = absl::StrCat("127.0.0.1:", backend_.port());
    config::v1::Backend narrow;
    narrow.set_max_concurrent_calls(1);
    narrow.set_max_queued_calls(1);
    config::v1::Backend fragile;
    fragile.mutable_circuit_breaker()->set_enabled(true);
    fragile.mutable_circuit_breaker()->set_min_calls(4);
    fragile.mutable_circuit_breaker()->set_open_ms(300);
    fragile.mutable_circuit_breaker()->set_half_open_calls(1);
    config::v1::Backend budgeted;
    budgeted.mutable_retry_budget()->set_max_tokens(10);
    config::v1::Backend hasty;
    hasty.set_timeout_ms(300);
    // Opens at one failure in four within a second (the defaults: two in
    // four within ten seconds).
    config::v1::Backend picky = fragile;
    picky.mutable_circuit_breaker()->set_failure_rate(0.25);
    picky.mutable_circuit_breaker()->set_window_ms(1000);
    // Each success gives back a whole token (the default: a tenth).
    config::v1::Backend generous;
    generous.mutable_retry_budget()->set_max_tokens(4);
    generous.mutable_retry_budget()->set_token_ratio(1);
    options.backends = {
        {"lab", {}},      {"narrow", narrow}, {"fragile", fragile},  {"budgeted", budgeted},
        {"flaky", {}},    {"dead", {}},       {"liar", {}},          {"self", {}},
        {"hasty", hasty}, {"picky", picky},   {"generous", generous}};
    std::map<std::string, std::string> targets = {
        {"lab", lab_target},     {"narrow", lab_target},
        {"fragile", lab_target}, {"budgeted", lab_target},
        {"picky", lab_target},   {"generous", lab_target},
        {"hasty", lab_target},   {"flaky", absl::StrCat("127.0.0.1:", flaky_server_.port())},
        {"dead", "127.0.0.1:1"}, {"liar", absl::StrCat("127.0.0.1:", liar_server_.port())}};
    options.channel = [this, targets](const std::string& name) {
      // "self": the gateway's own gRPC port (bound by the time channels are made).
      std::string target =
          name == "self" ? absl::StrCat("127.0.0.1:", front_.port()) : targets.at(name);
      return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
    };
    options.backend_address = [this, targets](const std::string& name) {
      return name == "self" ? absl::StrCat("127.0.0.1:", front_.port()) : targets.at(name);
    };
    auto gateway = Gateway::Create(std::move(options));
    ASSERT_THAT(gateway, IsOk());
    gateway_ = *std::move(gateway);
    gateway_->Register(front_);
    ASSERT_THAT(front_.Start(), IsOk());
    ASSERT_THAT(gateway_->Start(front_), IsOk());
    port_ = gateway_->rest_port();
  }

  HttpResult Get(const std::string& target,
                 const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return HttpCall(port_, "GET", target, "", headers);
  }

  Server backend_{{.listen_addresses = {"127.0.0.1:0"}, .num_loops = 2}};
  Server flaky_server_{{.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1}};
  Server liar_server_{{.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1}};
  Server front_{{.listen_addresses = {"127.0.0.1:0"}, .num_loops = 2}};
  lab::LabService lab_{{.name = "lab"}};
  FlakyLab flaky_;
  grpc::AsyncGenericService liar_service_;
  ManualClock breaker_clock_;  // The breakers' time: "open_ms has passed" by hand.
  std::unique_ptr<Gateway> gateway_;
  int port_ = 0;
};

// proves: gateway.rest_address, gateway.routes.*.calls.*.name
TEST_F(GatewayRestTest, IndependentCallsRunConcurrently) {
  StartGateway();
  HttpResult r = Get("/three?delay=500");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(JsonAt(r.body, "a.message"), "a");
  EXPECT_EQ(JsonAt(r.body, "c.message"), "c");
  EXPECT_EQ(r.headers["x-fanout-completed"], "true");
  // Sequential calls would never overlap at the backend; concurrent ones
  // are all asleep there at once. Nothing is timed, so a slow run cannot fail it.
  EXPECT_EQ(lab_.peak_concurrent_sleeps(), 3);
}

// proves: gateway.routes.*.path, gateway.routes.*.calls.*.backend, gateway.routes.*.calls.*.method
// proves: gateway.routes.*.calls.*.request, gateway.routes.*.calls.*.output
// proves: gateway.routes.*.calls.*.select
TEST_F(GatewayRestTest, DependentCallUsesTheEarlierAnswer) {
  StartGateway();
  HttpResult r = Get("/chain/hello");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "{\"echoed\":{\"twice\":\"hello\"}}\n");  // "first" is left out ("-").
}

// proves: gateway.routes.*.calls.*.optional
TEST_F(GatewayRestTest, OptionalPartFailureGivesAPartialAnswer) {
  StartGateway();
  HttpResult r = Get("/partial?code=14");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["x-fanout-completed"], "false");
  EXPECT_EQ(JsonAt(r.body, "main.message"), "ok");
  EXPECT_THAT(r.body, HasSubstr(R"("part":"extra")"));
  EXPECT_THAT(r.body, HasSubstr(R"("status":"UNAVAILABLE")"));
  EXPECT_THAT(r.body, HasSubstr("extra is down"));
  // A part that needs the failed one is reported, not run.
  EXPECT_THAT(r.body, HasSubstr(R"(needs part \"extra\", which failed (UNAVAILABLE))"));
  HttpResult whole = Get("/partial");
  EXPECT_EQ(whole.headers["x-fanout-completed"], "true");
}

TEST_F(GatewayRestTest, ARequiredPartThatNeedsAFailedOneFailsWithItsCode) {
  StartGateway();
  HttpResult r = Get("/needs-optional?code=14");
  EXPECT_EQ(r.status, 503) << r.body;  // The backend's outage, not a client error.
  EXPECT_THAT(r.body, HasSubstr(R"(needs part \"extra\", which failed (UNAVAILABLE))"));
  EXPECT_EQ(Get("/needs-optional").status, 200);
}

TEST_F(GatewayRestTest, RequiredPartFailureFailsTheRequestWithItsStatus) {
  StartGateway();
  HttpResult r =
      HttpCall(port_, "POST", "/echo", R"({"errorCode": 5, "errorMessage": "no such thing"})");
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr(R"("code":5,"status":"NOT_FOUND")"));
  EXPECT_THAT(r.body, HasSubstr("no such thing"));
  EXPECT_THAT(r.body, HasSubstr(R"(part \"echo\")"));
}

TEST_F(GatewayRestTest, BackendSeesTheRemainingBudget) {
  StartGateway();
  HttpResult r =
      HttpCall(port_, "POST", "/echo", R"({"message": "x"})", {{"Request-Timeout", "1s"}});
  ASSERT_EQ(r.status, 200) << r.body;
  absl::StatusOr<Value> body = ParseJson(r.body);
  ASSERT_THAT(body, IsOk());
  int64_t remaining = 0;
  ASSERT_TRUE(absl::SimpleAtoi(FindPath(*body, "deadlineRemainingMs")->string_value(), &remaining))
      << r.body;
  EXPECT_GT(remaining, 0);
  // The caller's second, not the route's 10 s; give or take 100 ms: gRPC
  // computes grpc-timeout from its cached clock, which can lag.
  EXPECT_LE(remaining, 1000 + 100);
}

TEST_F(GatewayRestTest, CallerDeadlinePassingIs504AndCancelsTheBackendCall) {
  StartGateway();
  ASSERT_EQ(Get("/sleep/0").status, 200);  // Connected: the call reaches the backend in time.
  // The same second either way: gRPC's "1000m" is milliseconds, not minutes
  // (a budget that also covers reaching the backend on a loaded machine).
  for (const auto& header : {std::pair<std::string, std::string>{"Request-Timeout", "1s"},
                             std::pair<std::string, std::string>{"Grpc-Timeout", "1000m"}}) {
    SCOPED_TRACE(header.first);
    int64_t interrupted = lab_.interrupted_calls();
    int64_t calls = lab_.calls();
    HttpResult r = Get("/sleep/5000", {header});
    EXPECT_EQ(r.status, 504) << r.body;
    ASSERT_GT(lab_.calls(), calls) << "the call never reached the backend";
    EXPECT_THAT(r.body, HasSubstr("DEADLINE_EXCEEDED"));
    EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() > interrupted; }));
  }
}

// proves: backends.*.timeout_ms, gateway.routes.*.calls.*.timeout_ms
TEST_F(GatewayRestTest, ABackendsTimeoutMsLimitsEachCallAndSaysSo) {
  StartGateway();
  // Connected, and quick calls pass (the first, connecting, may take longer
  // than 300 ms on a slow sanitized build).
  ASSERT_TRUE(Eventually([&] { return Get("/hasty/0").status == 200; }));
  int64_t interrupted = lab_.interrupted_calls();
  // The route allows 10 s; backends.hasty.timeout_ms is 300.
  HttpResult r = Get("/hasty/5000");
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_THAT(r.body, HasSubstr("backends.hasty.timeout_ms"));
  EXPECT_THAT(r.body, HasSubstr("300ms"));
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() > interrupted; }));
  // A call's own timeout_ms, shorter, wins and is named instead.
  r = Get("/hasty-call/5000");
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_THAT(r.body, HasSubstr("the call's timeout_ms"));
  EXPECT_THAT(r.body, HasSubstr("100ms"));
  // The caller's own shorter deadline is the caller's: not blamed on config.
  r = Get("/hasty/5000", {{"Request-Timeout", "50ms"}});
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_THAT(r.body, Not(HasSubstr("timeout_ms")));
}

// proves: backends.*.max_concurrent_calls, backends.*.max_queued_calls
TEST_F(GatewayRestTest, FullBulkheadFailsFastWithResourceExhausted) {
  StartGateway();
  // One in flight, one queued: the third finds the queue full.
  std::vector<std::thread> callers;
  std::vector<int> statuses(2);
  for (int i = 0; i < 2; ++i) {
    callers.emplace_back([&, i] { statuses[i] = Get("/narrow/4000").status; });
  }
  ASSERT_TRUE(Eventually([&] {
    const Semaphore& bulkhead = gateway_->backends().at("narrow")->bulkhead();
    return bulkhead.in_use() == 1 && bulkhead.waiters() == 1;
  }));
  HttpResult third = Get("/narrow/0");
  EXPECT_EQ(third.status, 429) << third.body;
  EXPECT_THAT(third.body, HasSubstr("RESOURCE_EXHAUSTED"));
  EXPECT_THAT(third.body, HasSubstr("bulkhead"));
  for (auto& t : callers) t.join();
  EXPECT_EQ(statuses, (std::vector<int>{200, 200}));
  EXPECT_EQ(gateway_->backends().at("narrow")->stats().bulkhead_rejected.load(), 1);
}

// proves: gateway.routes.*.max_in_flight
TEST_F(GatewayRestTest, RouteLimitShedsAt503WithRetryAfter) {
  StartGateway();
  std::thread slow([&] { EXPECT_EQ(Get("/limited/5000").status, 200); });
  ASSERT_TRUE(Eventually([&] { return gateway_->admission().in_flight() == 1; }));
  HttpResult shed = Get("/limited/0");
  EXPECT_EQ(shed.status, 503);
  EXPECT_EQ(shed.headers["retry-after"], "1");
  EXPECT_THAT(shed.body, HasSubstr("overloaded"));
  EXPECT_EQ(Get("/sleep/0").status, 200);  // Other routes still flow.
  slow.join();
}

// proves: gateway.max_in_flight
TEST_F(GatewayRestTest, GlobalLimitShedsEveryRoute) {
  StartGateway("max_in_flight: 1\n");
  std::thread slow([&] { EXPECT_EQ(Get("/sleep/5000").status, 200); });
  ASSERT_TRUE(Eventually([&] { return gateway_->admission().in_flight() == 1; }));
  EXPECT_EQ(Get("/three?delay=0").status, 503);
  slow.join();
  EXPECT_EQ(Get("/three?delay=0").status, 200);
  EXPECT_EQ(gateway_->admission().shed(), 1);
}

// max_in_flight 0 means the default named in gateway_config.proto: 10000
// for the gateway, no limit of its own for a route (never a limit of zero).
TEST_F(GatewayRestTest, MaxInFlightLeftAtZeroIsTheGatewaysDefault) {
  StartGateway();
  EXPECT_EQ(gateway_->admission().limit(), 10000);
}

TEST_F(GatewayRestTest, ARouteWithoutItsOwnLimitIsBoundOnlyByTheGateways) {
  StartGateway("max_in_flight: 2\n");  // /sleep sets no max_in_flight
  std::thread first([&] { EXPECT_EQ(Get("/sleep/2000").status, 200); });
  std::thread second([&] { EXPECT_EQ(Get("/sleep/2000").status, 200); });
  ASSERT_TRUE(Eventually([&] { return gateway_->admission().in_flight() == 2; }));
  EXPECT_EQ(Get("/sleep/0").status, 503);  // The gateway's limit, not the route's.
  first.join();
  second.join();
  EXPECT_EQ(gateway_->admission().shed(), 1);
  EXPECT_EQ(Get("/sleep/0").status, 200);
}

TEST_F(GatewayRestTest, CallersOwnShortDeadlinesDoNotOpenTheCircuit) {
  StartGateway();
  // Eight callers each giving up after 20 ms on a 500 ms answer: their
  // deadlines, not the backend's failures (min_calls is 4).
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(Get("/fragile?delay=500", {{"Request-Timeout", "20ms"}}).status, 504);
  }
  EXPECT_EQ(gateway_->backends().at("fragile")->breaker().state(), CircuitBreaker::State::kClosed);
  EXPECT_EQ(Get("/fragile").status, 200);
}

// proves: backends.*.circuit_breaker.enabled, backends.*.circuit_breaker.min_calls
// proves: backends.*.circuit_breaker.open_ms, backends.*.circuit_breaker.half_open_calls
TEST_F(GatewayRestTest, CircuitOpensOnFailuresAndClosesAfterAProbe) {
  StartGateway();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Get("/fragile?code=14").status, 503);
  int64_t calls = lab_.calls();
  HttpResult refused = Get("/fragile");
  EXPECT_EQ(refused.status, 503);
  EXPECT_THAT(refused.body, HasSubstr("circuit breaker"));
  EXPECT_EQ(lab_.calls(), calls);                   // Refused without calling the backend.
  breaker_clock_.Advance(absl::Milliseconds(350));  // open_ms: 300
  EXPECT_EQ(Get("/fragile").status, 200);           // The probe passes: closed again.
  EXPECT_EQ(Get("/fragile").status, 200);
  EXPECT_EQ(gateway_->backends().at("fragile")->breaker().state(), CircuitBreaker::State::kClosed);
}

// proves: backends.*.retry_budget.max_tokens, gateway.routes.*.calls.*.retry.max_attempts
// proves: backends.*.circuit_breaker.failure_rate, backends.*.circuit_breaker.window_ms
TEST_F(GatewayRestTest, TheBreakersRateAndWindowComeFromTheConfig) {
  StartGateway();
  const CircuitBreaker& breaker = gateway_->backends().at("picky")->breaker();
  // Three failures, then a second passes (window_ms 1000): they are gone,
  // so a fourth is one call of one, under min_calls (ten seconds, the
  // default window, would hold four failures in four calls: open).
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Get("/picky?code=14").status, 503);
  breaker_clock_.Advance(absl::Milliseconds(1100));
  EXPECT_EQ(Get("/picky?code=14").status, 503);
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::kClosed);
  // A clean window: one failure in four calls opens it at failure_rate
  // 0.25 (the default 0.5 needs two).
  breaker_clock_.Advance(absl::Milliseconds(1100));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Get("/picky").status, 200);
  EXPECT_EQ(Get("/picky?code=14").status, 503);
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::kOpen);
  EXPECT_THAT(Get("/picky").body, HasSubstr("circuit breaker"));
}

// proves: backends.*.retry_budget.token_ratio
TEST_F(GatewayRestTest, SuccessesRefillTheRetryBudgetByTokenRatio) {
  StartGateway();
  const BackendStats& stats = gateway_->backends().at("generous")->stats();
  // Four tokens: the first failure leaves three (more than half): retried;
  // the second request's first failure leaves one: not.
  EXPECT_EQ(Get("/generous?code=14").status, 503);
  EXPECT_EQ(Get("/generous?code=14").status, 503);
  EXPECT_EQ(stats.retries.load(), 1);
  // Three successes give back a token each (at the default 0.1, 0.3 in all).
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Get("/generous").status, 200);
  EXPECT_EQ(Get("/generous?code=14").status, 503);
  EXPECT_EQ(stats.retries.load(), 2);
}

TEST_F(GatewayRestTest, RetriesStopWhenTheBudgetIsSpent) {
  StartGateway();
  const BackendStats& stats = gateway_->backends().at("budgeted")->stats();
  EXPECT_EQ(Get("/retried").status, 503);
  EXPECT_EQ(stats.attempts.load(), 3);  // Three attempts, two retries.
  EXPECT_EQ(stats.retries.load(), 2);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Get("/retried").status, 503);
  // A 10-token budget drained by failures: later requests are not retried.
  EXPECT_LT(stats.attempts.load(), 6 * 3);
  EXPECT_EQ(stats.attempts.load(), 6 + stats.retries.load());
}

// proves: gateway.routes.*.calls.*.hedge_delay_ms
TEST_F(GatewayRestTest, HedgingCutsTheSlowTail) {
  StartGateway();
  // A connected channel first, so the first copy reaches the backend first.
  ASSERT_EQ(Get("/warm").status, 200);
  HttpResult r = Get("/hedged");
  ASSERT_EQ(r.status, 200) << r.body;
  // The hedge's answer, not the first copy's (5 s late): a win, not a clock.
  EXPECT_THAT(r.body, HasSubstr(R"("message":"fast")"));
  const BackendStats& stats = gateway_->backends().at("flaky")->stats();
  EXPECT_EQ(stats.hedges.load(), 1);
  EXPECT_EQ(stats.hedge_wins.load(), 1);
  EXPECT_TRUE(
      Eventually([&] { return flaky_.cancelled_.load() == 1; }));  // The loser is cancelled.
}

TEST_F(GatewayRestTest, CallerLeavingCancelsTheBackendCalls) {
  StartGateway();
  int64_t interrupted = lab_.interrupted_calls();
  int64_t calls = lab_.calls();
  {
    ::fanout::testing::TestHttpClient connection(port_);
    ASSERT_TRUE(connection.Send(
        ::fanout::testing::HttpRequestText("GET", "/three?delay=5000", "", {}, false)));
    // All three calls reached the backend...
    ASSERT_TRUE(Eventually([&] { return lab_.calls() >= calls + 3; }));
  }  // ... and the caller leaves before any answer.
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() >= interrupted + 3; }));
  EXPECT_TRUE(Eventually([&] { return gateway_->admission().in_flight() == 0; }));
}

// proves: gateway.routes.*.stream
TEST_F(GatewayRestTest, StreamSendsPartsInCompletionOrder) {
  StartGateway();
  HttpResult r = Get("/stream");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/x-ndjson");
  std::vector<std::string> lines = absl::StrSplit(r.body, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << r.body;
  EXPECT_THAT(lines[3], HasSubstr(R"("completed":false)"));
  EXPECT_THAT(lines[2], HasSubstr(R"("part":"slow")"));  // Listed first, arrives last.
  bool fast = false, broken = false;
  for (const std::string& line : lines) {
    if (JsonAt(line, "part") == "fast") fast = JsonAt(line, "value.message") == "quick";
    if (JsonAt(line, "part") == "broken") broken = JsonAt(line, "error.status") == "UNAVAILABLE";
  }
  EXPECT_TRUE(fast && broken) << r.body;
}

TEST_F(GatewayRestTest, StreamAsServerSentEvents) {
  StartGateway();
  HttpResult r = Get("/stream", {{"Accept", "text/event-stream"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/event-stream");
  EXPECT_THAT(r.body, HasSubstr("event: part\ndata: {\"part\":\"fast\""));
  EXPECT_THAT(r.body, HasSubstr("event: end\ndata: {\"completed\":false}"));
}

TEST_F(GatewayRestTest, DeadBackendIsUnavailable) {
  StartGateway();
  HttpResult r = Get("/dead", {{"Request-Timeout", "2s"}});
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"(part \"gone\")"));
}

TEST_F(GatewayRestTest, GarbageFromABackendIsAnInternalErrorAndTheGatewayGoesOn) {
  StartGateway();
  HttpResult r = Get("/liar");
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_THAT(r.body, HasSubstr("bytes that are not a fanout.lab.v1.EchoResponse"));
  EXPECT_EQ(Get("/sleep/0").status, 200);
}

// One request of 800 KB, nested 200,000 deep: refused at the depth limit,
// parsed off the loops, while a request beside it is answered.
TEST_F(GatewayRestTest, NestingBombIsRefusedWhileOtherRequestsAreAnswered) {
  StartGateway("", 1 << 20);
  std::string bomb = R"({"message": )" + std::string(200000, '[') + std::string(200000, ']') + "}";
  HttpResult refused;
  std::thread sender([&] { refused = HttpCall(port_, "POST", "/echo", bomb); });
  HttpResult beside = Get("/three?delay=0");
  sender.join();
  EXPECT_EQ(beside.status, 200) << beside.body;
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_THAT(refused.body, HasSubstr("nesting deeper than 64 levels (gateway.json.max_depth)"));
  // And the gateway goes on.
  EXPECT_EQ(HttpCall(port_, "POST", "/echo", R"({"message": "after"})").status, 200);
}

TEST_F(GatewayRestTest, ABodyOfManyKeysIsRefusedAtTheElementLimit) {
  StartGateway("", 2 << 20);
  std::string body = "{";
  for (int i = 0; i < 100000; ++i) absl::StrAppend(&body, i ? "," : "", "\"k", i, "\":0");
  body += "}";
  HttpResult r = HttpCall(port_, "POST", "/echo", body);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.body, HasSubstr("more than 10000 values (gateway.json.max_elements)"));
}

// proves: gateway.json.max_depth, gateway.json.max_string_bytes, gateway.json.max_elements
TEST_F(GatewayRestTest, JsonLimitsComeFromTheConfig) {
  StartGateway("json: {max_depth: 2, max_string_bytes: 8, max_elements: 3}\n");  // "message" is 7.
  EXPECT_EQ(HttpCall(port_, "POST", "/echo", R"({"message": "12345678"})").status, 200);
  HttpResult deep = HttpCall(port_, "POST", "/echo", R"({"message": [[1]]})");
  EXPECT_EQ(deep.status, 400);
  EXPECT_THAT(deep.body, HasSubstr("nesting deeper than 2 levels"));
  HttpResult longer = HttpCall(port_, "POST", "/echo", R"({"message": "123456789"})");
  EXPECT_EQ(longer.status, 400);
  EXPECT_THAT(longer.body, HasSubstr("longer than 8 bytes"));
  HttpResult many = HttpCall(port_, "POST", "/echo", R"({"message": [1, 2, 3]})");  // Four.
  EXPECT_EQ(many.status, 400);
  EXPECT_THAT(many.body, HasSubstr("more than 3 values (gateway.json.max_elements)"));
}

// proves: gateway.json.offload_bytes
TEST_F(GatewayRestTest, BodiesOverOffloadBytesAreParsedOffTheLoops) {
  StartGateway("json: {offload_bytes: 100}\n");
  auto parsed_off_the_loops = [] {
    absl::StatusOr<testing::PrometheusText> text =
        testing::ParsePrometheusText(metrics::DefaultRegistry().Render());
    EXPECT_TRUE(text.ok()) << text.status();
    return text.ok() ? text->Value("fanout_offload_run_seconds_count", {{"pool", "gateway-json"}})
                           .value_or(0)
                     : -1;
  };
  double before = parsed_off_the_loops();
  EXPECT_EQ(HttpCall(port_, "POST", "/echo", R"({"message": "small"})").status, 200);
  EXPECT_EQ(parsed_off_the_loops(), before);
  // 200 bytes: over 100 (the default, 65536, parses it on the loop).
  std::string big = absl::StrCat(R"({"message": ")", std::string(180, 'x'), R"("})");
  EXPECT_EQ(HttpCall(port_, "POST", "/echo", big).status, 200);
  EXPECT_EQ(parsed_off_the_loops(), before + 1);
}

// The REST door counts headers and connections as the config says.
// proves: gateway.max_headers, gateway.max_connections
TEST_F(GatewayRestTest, HeaderAndConnectionCountsComeFromTheConfig) {
  StartGateway("max_headers: 4\nmax_connections: 1\n");
  testing::TestHttpClient kept(port_);
  ASSERT_TRUE(kept.Send("GET /partial HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"));
  std::optional<testing::TestHttpResponse> four = kept.ReadResponse();
  ASSERT_TRUE(four.has_value());
  EXPECT_EQ(four->status, 200);
  // A second connection while the first is open: closed unanswered.
  testing::TestHttpClient second(port_);
  EXPECT_TRUE(second.ServerClosed());
  // Five headers on the first: 431 (the default allows 100).
  ASSERT_TRUE(
      kept.Send("GET /partial HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"));
  std::optional<testing::TestHttpResponse> five = kept.ReadResponse();
  ASSERT_TRUE(five.has_value());
  EXPECT_EQ(five->status, 431);
}

// What a route makes of its answer: one part's value as the whole body, a
// status of its own, fields dropped and renamed; and its own deadline.
constexpr char kShaped[] = R"yaml(
  - name: shaped
    path: /shaped
    respond_with: echo
    success_status: 201
    calls:
      - {name: echo, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: "=m"},
         drop_fields: [servedBy], rename_fields: {message: said}}
  - name: plain
    path: /plain
    calls:
      - {name: echo, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: "=m"}}
  - name: capped
    path: /capped/{ms}
    timeout_ms: 200
    respond_with: echo
    calls:
      - {name: echo, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: path.ms}}
  - name: stubborn
    path: /stubborn
    respond_with: echo
    calls:
      - {name: echo, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {error_code: query.code},
         retry: {max_attempts: 2, initial_backoff_ms: 1, retryable_codes: [NOT_FOUND]}}
)yaml";

// proves: gateway.routes.*.respond_with, gateway.routes.*.success_status
// proves: gateway.routes.*.calls.*.drop_fields, gateway.routes.*.calls.*.rename_fields
TEST_F(GatewayRestTest, ARouteShapesItsAnswer) {
  StartGateway(kShaped);
  HttpResult plain = Get("/plain");
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_EQ(JsonAt(plain.body, "echo.message"), "m");
  EXPECT_EQ(JsonAt(plain.body, "echo.servedBy"), "lab");
  HttpResult shaped = Get("/shaped");
  ASSERT_EQ(shaped.status, 201) << shaped.body;
  EXPECT_EQ(JsonAt(shaped.body, "said"), "m");  // The part's value is the body.
  EXPECT_THAT(shaped.body, Not(HasSubstr("message")));
  EXPECT_THAT(shaped.body, Not(HasSubstr("servedBy")));
}

// proves: gateway.routes.*.timeout_ms
TEST_F(GatewayRestTest, ARoutesTimeoutCapsItsRequests) {
  StartGateway(kShaped);
  // Connected (the first call may outlast the cap on a slow sanitized build).
  ASSERT_TRUE(Eventually([&] { return Get("/capped/0").status == 200; }));
  int64_t interrupted = lab_.interrupted_calls();
  HttpResult r = Get("/capped/5000");  // The gateway's default would wait 10 s.
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() > interrupted; }));
}

// proves: gateway.routes.*.calls.*.retry.retryable_codes
TEST_F(GatewayRestTest, OnlyTheCodesNamedAreRetried) {
  StartGateway(kShaped);
  const BackendStats& stats = gateway_->backends().at("lab")->stats();
  EXPECT_EQ(Get("/stubborn?code=5").status, 404);
  EXPECT_EQ(stats.retries.load(), 1);  // NOT_FOUND is named.
  EXPECT_EQ(Get("/stubborn?code=14").status, 503);
  EXPECT_EQ(stats.retries.load(), 1);  // UNAVAILABLE, the default, is not.
}

// proves: gateway.max_header_bytes, gateway.max_requests_per_connection, gateway.idle_timeout_ms
// proves: gateway.read_timeout_ms
TEST_F(GatewayRestTest, RestDoorLimitsComeFromTheConfig) {
  StartGateway(
      "max_header_bytes: 1024\nmax_requests_per_connection: 2\nidle_timeout_ms: 100\n"
      "read_timeout_ms: 100\n");
  // A header section over the limit: 431, named, and the connection closed.
  testing::TestHttpClient big(port_);
  ASSERT_TRUE(big.Send(absl::StrCat(
      "GET /partial HTTP/1.1\r\nHost: t\r\nX-Big: ", std::string(2000, 'a'), "\r\n\r\n")));
  std::optional<testing::TestHttpResponse> refused = big.ReadResponse();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 431);
  EXPECT_THAT(refused->body, HasSubstr("exceeds the limit of 1024 bytes"));
  EXPECT_TRUE(big.ServerClosed());

  // The second request of a connection is its last: Connection: close.
  testing::TestHttpClient kept(port_);
  const std::string get = "GET /partial HTTP/1.1\r\nHost: t\r\n\r\n";
  ASSERT_TRUE(kept.Send(get));
  std::optional<testing::TestHttpResponse> first = kept.ReadResponse();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->Header("connection"), "");
  ASSERT_TRUE(kept.Send(get));
  std::optional<testing::TestHttpResponse> last = kept.ReadResponse();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->status, 200);
  EXPECT_EQ(last->Header("connection"), "close");
  EXPECT_TRUE(kept.ServerClosed());

  // A kept-alive connection that asks nothing more is closed (idle_timeout).
  testing::TestHttpClient idle(port_);
  ASSERT_TRUE(idle.Send(get));
  ASSERT_TRUE(idle.ReadResponse().has_value());
  EXPECT_TRUE(idle.ServerClosed());
  // So is one whose request stops half-way (read_timeout).
  testing::TestHttpClient partial(port_);
  ASSERT_TRUE(partial.Send("GET /partial HTTP/1.1\r\nHo"));
  EXPECT_TRUE(partial.ServerClosed());
}

TEST_F(GatewayRestTest, DirectCallOfAnyUnaryMethod) {
  StartGateway();
  HttpResult r = HttpCall(port_, "POST", "/v1/fanout.lab.v1.Lab/Echo", R"({"message": "direct"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("message":"direct")"));
  HttpResult unknown = HttpCall(port_, "POST", "/v1/fanout.lab.v1.Lab/Nope", "{}");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_THAT(unknown.body, HasSubstr("has no method \\\"Nope\\\""));
  HttpResult stream = HttpCall(port_, "POST", "/v1/fanout.lab.v1.Lab/Stream", "{}");
  EXPECT_EQ(stream.status, 400);
}

// The gRPC door: routes by name (Aggregate), the proxy for everything else.
class GatewayGrpcTest : public GatewayRestTest {
 protected:
  void SetUp() override {
    StartGateway();
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", front_.port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = gateway::v1::Gateway::NewStub(channel_);
  }
  grpc::Status Aggregate(const std::string& route, std::map<std::string, std::string> params,
                         gateway::v1::AggregateResponse* reply, grpc::ClientContext* context,
                         absl::Duration timeout = absl::Seconds(5)) {
    gateway::v1::AggregateRequest request;
    request.set_route(route);
    request.mutable_params()->insert(params.begin(), params.end());
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    return stub_->Aggregate(context, request, reply);
  }
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<gateway::v1::Gateway::Stub> stub_;
};

// proves: gateway.routes.*.name
TEST_F(GatewayGrpcTest, AggregateRunsARouteByName) {
  gateway::v1::AggregateResponse reply;
  grpc::ClientContext context;
  grpc::Status status = Aggregate("three", {{"delay", "0"}}, &reply, &context);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(reply.completed());
  EXPECT_EQ(reply.parts_size(), 3);
  EXPECT_EQ(reply.result().fields().at("b").struct_value().fields().at("message").string_value(),
            "b");
  EXPECT_EQ(context.GetServerTrailingMetadata().find("x-fanout-completed")->second, "true");
}

TEST_F(GatewayGrpcTest, PartialAnswerSaysWhichPartFailed) {
  gateway::v1::AggregateResponse reply;
  grpc::ClientContext context;
  ASSERT_TRUE(Aggregate("partial", {{"code", "14"}}, &reply, &context).ok());
  EXPECT_FALSE(reply.completed());
  bool saw = false;
  for (const auto& part : reply.parts()) {
    if (part.name() == "extra") {
      saw = true;
      EXPECT_EQ(part.code(), grpc::StatusCode::UNAVAILABLE);
      EXPECT_EQ(part.message(), "part \"extra\" (lab /fanout.lab.v1.Lab/Echo): extra is down");
    }
  }
  EXPECT_TRUE(saw);
  EXPECT_EQ(context.GetServerTrailingMetadata().find("x-fanout-completed")->second, "false");
}

TEST_F(GatewayGrpcTest, RequiredFailureIsTheCallsStatus) {
  gateway::v1::AggregateResponse reply;
  grpc::ClientContext context;
  grpc::Status status = Aggregate("fragile", {{"code", "5"}}, &reply, &context);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext unknown;
  EXPECT_EQ(Aggregate("nope", {}, &reply, &unknown).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GatewayGrpcTest, CallerDeadlineReachesTheBackends) {
  gateway::v1::AggregateResponse reply;
  grpc::ClientContext warm;
  ASSERT_TRUE(Aggregate("sleep", {{"ms", "0"}}, &reply, &warm).ok());
  int64_t interrupted = lab_.interrupted_calls();
  grpc::ClientContext context;
  // A second: long enough for the call to reach the backend on a loaded
  // sanitizer run, so what ends it there is the deadline, not its absence.
  grpc::Status status = Aggregate("sleep", {{"ms", "30000"}}, &reply, &context, absl::Seconds(1));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(Eventually([&] { return lab_.interrupted_calls() > interrupted; }));
}

TEST_F(GatewayGrpcTest, OtherMethodsAreProxiedToTheirBackend) {
  auto lab = lab::v1::Lab::NewStub(channel_);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  lab::v1::EchoRequest request;
  request.set_message("through");
  lab::v1::EchoResponse reply;
  grpc::Status status = lab->Echo(&context, request, &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reply.message(), "through");
  EXPECT_EQ(reply.served_by(), "lab");
  // The backend's own metadata comes back both ways.
  auto initial = context.GetServerInitialMetadata().find("x-lab-served-by");
  ASSERT_NE(initial, context.GetServerInitialMetadata().end());
  EXPECT_EQ(initial->second, "lab");
  auto trailing = context.GetServerTrailingMetadata().find("x-lab-code");
  ASSERT_NE(trailing, context.GetServerTrailingMetadata().end());
  EXPECT_EQ(trailing->second, "0");
}

TEST_F(GatewayGrpcTest, AProxiedFailureKeepsTheBackendsStatusAndTrailers) {
  auto lab = lab::v1::Lab::NewStub(channel_);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  lab::v1::EchoRequest request;
  request.set_error_code(static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
  request.set_error_message("not now");
  request.set_error_details(std::string("\x08\x09\x12\x07not now", 11));
  lab::v1::EchoResponse reply;
  grpc::Status status = lab->Echo(&context, request, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "not now");
  EXPECT_EQ(status.error_details(), request.error_details());  // grpc-status-details-bin
  auto trailing = context.GetServerTrailingMetadata().find("x-lab-code");
  ASSERT_NE(trailing, context.GetServerTrailingMetadata().end());
  EXPECT_EQ(trailing->second, "9");
}

TEST_F(GatewayGrpcTest, UnknownServiceIsUnimplemented) {
  grpc::Status status = testing::GenericUnaryStatus(channel_, "/nope.v1.Nothing/Here");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(status.error_message(), HasSubstr("no backend serves nope.v1.Nothing"));
}

// A route limited per caller, and the proxy in front of the gateway whose
// X-Forwarded-For names the caller. The gateway's clock is the test's:
// buckets refill only when it moves.
constexpr char kMetered[] = R"yaml(
  - name: metered
    path: /metered
    rate_limit: {requests_per_second: 1, burst: 3}
    respond_with: echo
    calls:
      - {name: echo, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: "=m"}}
)yaml";

// proves: gateway.routes.*.rate_limit.requests_per_second, gateway.routes.*.rate_limit.burst
// proves: gateway.rate_limiting.trusted_proxies
TEST_F(GatewayRestTest, ARouteRateLimitIsABucketPerCallerExactToTheToken) {
  StartGateway(std::string(kMetered) + "rate_limiting: {trusted_proxies: [127.0.0.0/8]}\n");
  const int64_t calls = lab_.calls();
  for (int i = 0; i < 3; ++i) {
    HttpResult r = Get("/metered");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.headers["ratelimit-limit"], "3");
    EXPECT_EQ(r.headers["ratelimit-remaining"], absl::StrCat(2 - i));
  }
  HttpResult refused = Get("/metered");
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(refused.headers["retry-after"], "1");
  EXPECT_EQ(refused.headers["ratelimit-remaining"], "0");
  EXPECT_EQ(refused.headers["ratelimit-reset"], "3");
  EXPECT_THAT(refused.body, HasSubstr("rate limited: route \\\"metered\\\"'s limit"));
  EXPECT_EQ(lab_.calls(), calls + 3);  // The refused request reached no backend.
  // Behind the trusted proxy, another caller has a bucket of its own.
  EXPECT_EQ(Get("/metered", {{"X-Forwarded-For", "203.0.113.7"}}).status, 200);
  EXPECT_EQ(Get("/metered", {{"X-Forwarded-For", "203.0.113.7, 127.0.0.9"}}).status, 200);
  // One token a second.
  breaker_clock_.Advance(absl::Milliseconds(999));
  EXPECT_EQ(Get("/metered").status, 429);
  breaker_clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(Get("/metered").status, 200);
  EXPECT_EQ(Get("/metered").status, 429);
}

TEST_F(GatewayRestTest, ACallerCannotNameItselfWithoutATrustedProxy) {
  StartGateway(kMetered);  // No trusted proxies: X-Forwarded-For is not read.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Get("/metered", {{"X-Forwarded-For", absl::StrCat("198.51.100.", i)}}).status, 200);
  }
  EXPECT_EQ(Get("/metered", {{"X-Forwarded-For", "198.51.100.99"}}).status, 429);
}

// proves: gateway.rate_limiting.global.requests_per_second, gateway.rate_limiting.global.burst
TEST_F(GatewayRestTest, TheGlobalRateLimitCoversBothDoors) {
  StartGateway("rate_limiting: {global: {requests_per_second: 1, burst: 3}}\n");
  auto stub = lab::v1::Lab::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", front_.port()),
                                                        grpc::InsecureChannelCredentials()));
  auto echo = [&](grpc::ClientContext* context) {
    lab::v1::EchoRequest request;
    request.set_message("hi");
    lab::v1::EchoResponse reply;
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    return stub->Echo(context, request, &reply);
  };
  grpc::ClientContext first, second;
  EXPECT_TRUE(echo(&first).ok());
  EXPECT_TRUE(echo(&second).ok());
  EXPECT_EQ(Get("/three?delay=0").status, 200);  // The same caller's third token.
  grpc::ClientContext refused;
  grpc::Status status = echo(&refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("the gateway's limit"));
  auto retry = refused.GetServerTrailingMetadata().find("retry-after");
  ASSERT_NE(retry, refused.GetServerTrailingMetadata().end());
  EXPECT_EQ(std::string(retry->second.data(), retry->second.size()), "1");
  EXPECT_EQ(Get("/three?delay=0").status, 429);
}

// Forty callers, one token each, where buckets are kept for one caller (a
// shard): past it newcomers share a bucket, so some are refused; with the
// default 100000 each has its own (ARouteRateLimitIsABucketPerCaller...).
// proves: gateway.rate_limiting.max_callers
TEST_F(GatewayRestTest, PastMaxCallersNewcomersShareABucket) {
  StartGateway(
      "rate_limiting: {global: {requests_per_second: 1, burst: 1}, trusted_proxies: "
      "[127.0.0.0/8], max_callers: 1}\n");
  int refused = 0;
  for (int i = 0; i < 40; ++i) {
    int status = Get("/sleep/0", {{"X-Forwarded-For", absl::StrCat("198.51.100.", i)}}).status;
    ASSERT_TRUE(status == 200 || status == 429) << status;
    refused += status == 429;
  }
  EXPECT_GT(refused, 0);
}

TEST(GatewayConfigTest, RateLimitingMistakesAreNamed) {
  auto check = [](const std::string& yaml) {
    config::v1::GatewayConfig config;
    EXPECT_THAT(YamlTextToMessage(yaml, "test", &config), IsOk());
    return CheckGatewayConfig(config, {});
  };
  absl::Status bad = check("rate_limiting: {trusted_proxies: [10.0.0.0/33]}");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("gateway.rate_limiting.trusted_proxies: \"10.0.0.0/33\""));
  EXPECT_THAT(check("rate_limiting: {global: {burst: 5}}").message(),
              HasSubstr("gateway.rate_limiting.global: burst without requests_per_second"));
  EXPECT_THAT(
      check("routes: [{name: r, path: /r, rate_limit: {requests_per_second: -1}, calls: []}]")
          .message(),
      HasSubstr("rate_limit: requests_per_second and burst must be >= 0"));
  EXPECT_THAT(check("rate_limiting: {trusted_proxies: [10.0.0.0/8, \"::1\"], "
                    "global: {requests_per_second: 0.5}}"),
              IsOk());
}

// CORS: the gateway answers preflights itself, header by header, and marks
// answers to allowed origins; a route may have its own policy.
constexpr char kCors[] = R"yaml(
  - name: partner
    path: /partner
    cors: {allowed_origins: ["https://partner.example"], allow_credentials: true}
    respond_with: echo
    calls:
      - {name: echo, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: "=p"}}
cors:
  allowed_origins: ["https://app.example", "http://localhost:3000"]
  max_age_s: 120
)yaml";

// proves: gateway.cors.allowed_origins, gateway.cors.max_age_s
// proves: gateway.routes.*.cors.allowed_origins, gateway.routes.*.cors.allow_credentials
TEST_F(GatewayRestTest, CorsPreflightsAreAnsweredHeaderByHeader) {
  StartGateway(kCors);
  const int64_t calls = lab_.calls();
  HttpResult ok = HttpCall(port_, "OPTIONS", "/three", "",
                           {{"Origin", "https://app.example"},
                            {"Access-Control-Request-Method", "GET"},
                            {"Access-Control-Request-Headers", "Content-Type, X-Request-Id"}});
  EXPECT_EQ(ok.status, 204) << ok.body;
  EXPECT_EQ(ok.headers["access-control-allow-origin"], "https://app.example");
  EXPECT_EQ(ok.headers["vary"], "Origin");
  EXPECT_EQ(ok.headers["access-control-allow-methods"], "GET, HEAD");
  EXPECT_EQ(ok.headers["access-control-allow-headers"], "content-type, x-request-id");
  EXPECT_EQ(ok.headers["access-control-max-age"], "120");
  EXPECT_EQ(ok.headers.count("access-control-allow-credentials"), 0u);
  EXPECT_EQ(lab_.calls(), calls);  // A preflight calls no backend.

  HttpResult other =
      HttpCall(port_, "OPTIONS", "/three", "",
               {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "GET"}});
  EXPECT_EQ(other.status, 403);
  EXPECT_THAT(other.body, HasSubstr("origin \\\"https://evil.example\\\" is not allowed"));
  EXPECT_EQ(other.headers.count("access-control-allow-origin"), 0u);
  HttpResult method =
      HttpCall(port_, "OPTIONS", "/three", "",
               {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "DELETE"}});
  EXPECT_EQ(method.status, 403);
  EXPECT_THAT(method.body, HasSubstr("method DELETE is not allowed here; allowed: GET, HEAD"));
  HttpResult header = HttpCall(port_, "OPTIONS", "/three", "",
                               {{"Origin", "https://app.example"},
                                {"Access-Control-Request-Method", "GET"},
                                {"Access-Control-Request-Headers", "x-secret"}});
  EXPECT_EQ(header.status, 403);
  EXPECT_THAT(header.body, HasSubstr("request header \\\"x-secret\\\" is not allowed"));

  // The route's own policy: its origin, with credentials.
  HttpResult partner =
      HttpCall(port_, "OPTIONS", "/partner", "",
               {{"Origin", "https://partner.example"}, {"Access-Control-Request-Method", "GET"}});
  EXPECT_EQ(partner.status, 204);
  EXPECT_EQ(partner.headers["access-control-allow-credentials"], "true");
  EXPECT_EQ(HttpCall(port_, "OPTIONS", "/partner", "",
                     {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "GET"}})
                .status,
            403);
}

TEST_F(GatewayRestTest, AnswersToAllowedOriginsSaySo) {
  StartGateway(kCors);
  HttpResult allowed = Get("/three?delay=0", {{"Origin", "http://localhost:3000"}});
  EXPECT_EQ(allowed.status, 200);
  EXPECT_EQ(allowed.headers["access-control-allow-origin"], "http://localhost:3000");
  EXPECT_EQ(allowed.headers["access-control-expose-headers"],
            "x-fanout-completed, retry-after, ratelimit-limit, ratelimit-remaining, "
            "ratelimit-reset");
  // Served all the same: CORS is the browser's protection.
  HttpResult stranger = Get("/three?delay=0", {{"Origin", "https://evil.example"}});
  EXPECT_EQ(stranger.status, 200);
  EXPECT_EQ(stranger.headers.count("access-control-allow-origin"), 0u);
  // Errors are readable too.
  HttpResult missing = Get("/nowhere", {{"Origin", "https://app.example"}});
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.headers["access-control-allow-origin"], "https://app.example");
}

// The lists a policy allows and exposes, the gateway's and a route's own.
constexpr char kCorsLists[] = R"yaml(
  - name: partner
    path: /partner
    cors: {allowed_origins: ["https://partner.example"], allowed_methods: [GET, PUT],
           allowed_headers: [x-partner], exposed_headers: [x-partner-id], max_age_s: 30}
    respond_with: echo
    calls:
      - {name: echo, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: "=p"}}
cors:
  allowed_origins: ["https://app.example"]
  allowed_methods: [GET, POST]
  allowed_headers: [x-tenant]
  exposed_headers: [x-fanout-completed]
  allow_credentials: true
)yaml";

// proves: gateway.cors.allowed_methods, gateway.cors.allowed_headers, gateway.cors.exposed_headers
// proves: gateway.cors.allow_credentials
// proves: gateway.routes.*.cors.allowed_methods, gateway.routes.*.cors.allowed_headers
// proves: gateway.routes.*.cors.exposed_headers, gateway.routes.*.cors.max_age_s
TEST_F(GatewayRestTest, CorsListsComeFromTheConfig) {
  StartGateway(kCorsLists);
  auto preflight = [&](const std::string& path, const std::string& origin,
                       const std::string& method, const std::string& headers) {
    return HttpCall(port_, "OPTIONS", path, "",
                    {{"Origin", origin},
                     {"Access-Control-Request-Method", method},
                     {"Access-Control-Request-Headers", headers}});
  };
  // The gateway's lists instead of the route's method and the built-in headers.
  HttpResult post = preflight("/three", "https://app.example", "POST", "X-Tenant");
  EXPECT_EQ(post.status, 204) << post.body;
  EXPECT_EQ(post.headers["access-control-allow-methods"], "GET, POST");
  EXPECT_EQ(post.headers["access-control-allow-headers"], "x-tenant");
  EXPECT_EQ(post.headers["access-control-max-age"], "600");
  EXPECT_EQ(post.headers["access-control-allow-credentials"], "true");
  EXPECT_EQ(preflight("/three", "https://app.example", "GET", "Content-Type").status, 403);
  EXPECT_EQ(Get("/three?delay=0", {{"Origin", "https://app.example"}})
                .headers["access-control-expose-headers"],
            "x-fanout-completed");
  // The route's own.
  HttpResult own = preflight("/partner", "https://partner.example", "GET", "X-Partner");
  EXPECT_EQ(own.status, 204) << own.body;
  EXPECT_EQ(own.headers["access-control-allow-methods"], "GET, PUT");  // Not the route's GET, HEAD.
  EXPECT_EQ(own.headers["access-control-allow-headers"], "x-partner");
  EXPECT_EQ(own.headers["access-control-max-age"], "30");
  EXPECT_EQ(preflight("/partner", "https://partner.example", "GET", "X-Tenant").status, 403);
  EXPECT_EQ(Get("/partner", {{"Origin", "https://partner.example"}})
                .headers["access-control-expose-headers"],
            "x-partner-id");
}

TEST_F(GatewayRestTest, WithoutCorsAnOptionsRequestIsJustAMethodNotAllowed) {
  StartGateway();
  HttpResult r =
      HttpCall(port_, "OPTIONS", "/three", "",
               {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "GET"}});
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers.count("access-control-allow-origin"), 0u);
}

TEST(GatewayConfigTest, CorsMistakesAreNamed) {
  auto check = [](const std::string& yaml) {
    config::v1::GatewayConfig config;
    EXPECT_THAT(YamlTextToMessage(yaml, "test", &config), IsOk());
    return CheckGatewayConfig(config, {});
  };
  EXPECT_THAT(check("cors: {allowed_origins: [app.example]}").message(),
              HasSubstr("gateway.cors.allowed_origins: \"app.example\" is not an origin"));
  EXPECT_THAT(check("cors: {allowed_origins: [\"*\"], allow_credentials: true}").message(),
              HasSubstr("allow_credentials cannot go with allowed_origins \"*\""));
  EXPECT_THAT(check("routes: [{name: r, path: /r, cors: {allowed_origins: [\"https://a/b\"]}, "
                    "calls: []}]")
                  .message(),
              HasSubstr("cors.allowed_origins: \"https://a/b\""));
  EXPECT_THAT(check("cors: {allowed_origins: [\"*\"]}"), IsOk());
}

// The frame relay beside the gRPC door: a proxied call goes through it as
// through the door's proxy (grpc_relay_test.cc has the rest), the gateway's
// own methods stay on the door, and the gateway's drain waits for it.
// proves: gateway.grpc_relay_address
TEST_F(GatewayRestTest, TheFrameRelayServesProxiedCallsBesideTheGrpcDoor) {
  StartGateway("grpc_relay_address: 127.0.0.1:0\n");
  ASSERT_NE(gateway_->relay_port(), 0);
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->relay_port()),
                                     grpc::InsecureChannelCredentials());
  lab::v1::EchoRequest echo;
  echo.set_message("relayed");
  lab::v1::EchoResponse reply;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  grpc::Status status = lab::v1::Lab::NewStub(channel)->Echo(&context, echo, &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reply.message(), "relayed");
  EXPECT_EQ(context.GetServerInitialMetadata().find("x-lab-served-by")->second, "lab");
  grpc::Status own = testing::GenericUnaryStatus(channel, "/fanout.gateway.v1.Gateway/Aggregate");
  EXPECT_EQ(own.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  gateway_->BeginDrain();
  EXPECT_TRUE(gateway_->AwaitDrained(absl::Now() + absl::Seconds(5)));
}

// Streams through the proxy are admitted apart from unary calls (an idle
// stream must not hold a slot a request needs), and a unary call whose
// caller set no deadline gets the gateway's default one.
// proves: gateway.max_streams, gateway.default_timeout_ms
TEST_F(GatewayRestTest, ProxiedStreamsAreAdmittedApartAndUnaryCallsGetADefaultDeadline) {
  StartGateway("max_streams: 1\nmax_in_flight: 1\ndefault_timeout_ms: 300\n");
  auto stub = lab::v1::Lab::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", front_.port()),
                                                        grpc::InsecureChannelCredentials()));
  lab::v1::StreamRequest endless;
  endless.set_count(1000);
  endless.set_interval_ms(50);
  grpc::ClientContext streaming;
  auto reader = stub->Stream(&streaming, endless);
  lab::v1::EchoResponse item;
  ASSERT_TRUE(reader->Read(&item));  // The one stream slot is taken.

  grpc::ClientContext second;
  auto refused = stub->Stream(&second, endless);
  EXPECT_FALSE(refused->Read(&item));
  grpc::Status status = refused->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("gateway.max_streams"));

  // The open stream holds no unary slot (max_in_flight is 1).
  lab::v1::EchoRequest echo;
  echo.set_message("hi");
  lab::v1::EchoResponse reply;
  grpc::ClientContext unary;
  EXPECT_TRUE(stub->Echo(&unary, echo, &reply).ok());
  EXPECT_EQ(reply.message(), "hi");

  // No deadline from the caller: default_timeout_ms (300 ms), not forever.
  echo.set_delay_ms(60000);
  grpc::ClientContext patient;
  status = stub->Echo(&patient, echo, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();

  streaming.TryCancel();
  while (reader->Read(&item)) {
  }
  reader->Finish();
}

// Callers cannot mint metric series: made-up HTTP verbs fold into "other",
// gRPC methods this binary has no descriptor for into service and method
// "other". The first request of each kind makes the "other" series; the
// next 1,000 add none.
TEST_F(GatewayGrpcTest, MadeUpVerbsAndMethodsAddNoMetricSeries) {
  // The families labelled by what a caller sends (others, such as the loop
  // lag, gain series with time).
  auto series = [] {
    std::string text = metrics::DefaultRegistry().Render();
    return absl::c_count_if(absl::StrSplit(text, '\n'), [](absl::string_view line) {
      return absl::StartsWith(line, "fanout_http_server_") || absl::StartsWith(line, "fanout_rpc_");
    });
  };
  auto made_up = [&](int i) {
    HttpResult http = HttpCall(port_, absl::StrCat("VERB", i), absl::StrCat("/v1/made/up/", i));
    EXPECT_EQ(http.status, 404) << http.body;
    grpc::Status grpc = testing::GenericUnaryStatus(
        channel_, absl::StrCat("/made.up.v", i, ".Service", i, "/Method", i));
    EXPECT_EQ(grpc.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  };
  made_up(0);
  // Both doors record after the answer is out: wait for the "other" series.
  ASSERT_TRUE(Eventually([] {
    std::string text = metrics::DefaultRegistry().Render();
    return absl::StrContains(text, "method=\"other\",status=\"404\"") &&
           absl::StrContains(text, "service=\"other\",method=\"other\",code=\"UNIMPLEMENTED\"");
  }));
  const int64_t before = series();
  for (int i = 1; i <= 500; ++i) made_up(i);
  EXPECT_EQ(series(), before);
  std::string text = metrics::DefaultRegistry().Render();
  EXPECT_THAT(text, HasSubstr("method=\"other\""));
  EXPECT_THAT(text, HasSubstr("service=\"other\""));
  EXPECT_THAT(text, Not(HasSubstr("VERB")));
  EXPECT_THAT(text, Not(HasSubstr("made.up")));
}

// A gateway whose backend for a service is itself: each hop adds one to
// x-fanout-hops, and the call ends at the limit instead of multiplying.
TEST_F(GatewayRestTest, AProxyLoopEndsAtTheHopLimit) {
  StartGateway("services: {\"loop.v1.Loop\": self}\n");
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", front_.port()),
                                     grpc::InsecureChannelCredentials());
  grpc::Status status = testing::GenericUnaryStatus(channel, "/loop.v1.Loop/Call");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("passed through 8 gateways (x-fanout-hops)"));
}

struct BadInput {
  const char* name;
  const char* method;
  const char* target;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  int status;
  const char* says;
  friend void PrintTo(const BadInput& bad, std::ostream* os) { *os << bad.name; }
};

class GatewayBadInputTest : public GatewayRestTest,
                            public ::testing::WithParamInterface<BadInput> {};

// proves: gateway.max_body_bytes, gateway.routes.*.http_method
TEST_P(GatewayBadInputTest, ClearAnswerAndTheGatewayKeepsServing) {
  StartGateway();
  const BadInput& bad = GetParam();
  HttpResult r = HttpCall(port_, bad.method, bad.target, bad.body, bad.headers);
  EXPECT_EQ(r.status, bad.status) << r.body;
  EXPECT_THAT(r.body, HasSubstr(bad.says));
  EXPECT_EQ(Get("/sleep/0").status, 200);
}

INSTANTIATE_TEST_SUITE_P(
    Rest, GatewayBadInputTest,
    ::testing::Values(
        BadInput{
            "MalformedJson", "POST", "/echo", R"({"message": )", {}, 400, "body is not valid JSON"},
        BadInput{"WrongFieldType", "POST", "/echo", R"({"delayMs": "soon"})", {}, 400, "delay_ms"},
        BadInput{"UnknownField", "POST", "/echo", R"({"colour": "red"})", {}, 400, "colour"},
        BadInput{"NotAnObject", "POST", "/echo", R"([1, 2])", {}, 400, "expected a JSON object"},
        BadInput{"UnknownRoute", "GET", "/nowhere", "", {}, 404, "no route for GET /nowhere"},
        BadInput{"WrongMethod", "DELETE", "/echo", "", {}, 405, "DELETE is not allowed on /echo"},
        BadInput{"BodyTooLarge", "POST", "/echo", std::string(2000, ' '), {}, 413, ""},
        BadInput{
            "PathParamDoesNotParse", "GET", "/sleep/soon", "", {}, 400, R"(path parameter \"ms\")"},
        BadInput{"BadTimeoutHeader",
                 "GET",
                 "/sleep/0",
                 "",
                 {{"Request-Timeout", "never"}},
                 400,
                 "request-timeout"},
        BadInput{
            "HugeHeader", "GET", "/sleep/0", "", {{"X-Big", std::string(20000, 'x')}}, 431, ""},
        // gRPC cannot send it on (and 1.51 would abort): refused, naming it.
        BadInput{"HeaderNotSendableAsMetadata",
                 "GET",
                 "/sleep/0",
                 "",
                 {{"X-Request-Id", "caf\xc3\xa9"}},
                 400,
                 "header x-request-id: byte 0xC3 at 3"},
        BadInput{"GrpcTimeoutNotInGrpcForm",
                 "GET",
                 "/sleep/0",
                 "",
                 {{"Grpc-Timeout", "250ms"}},
                 400,
                 "grpc-timeout: expected gRPC's form"},
        // A subnormal number: valid JSON, and rendered back without a throw.
        BadInput{"TinyNumberInAnIntField",
                 "POST",
                 "/echo",
                 R"({"delayMs": 1e-310})",
                 {},
                 400,
                 "delay_ms"}),
    [](const ::testing::TestParamInfo<BadInput>& info) { return info.param.name; });

}  // namespace
}  // namespace fanout::gateway
