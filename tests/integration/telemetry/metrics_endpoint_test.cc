// /metrics on a real admin server: well-formed Prometheus text, and the
// runtime's own series (loop lag, offload pools, actor mailboxes) moving as
// work flows. Waits are bounded polls of the endpoint; nothing asserts time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "node/actor/actor.h"
#include "node/async/channel.h"
#include "node/async/offload.h"
#include "node/async/spawn.h"
#include "node/base/status_macros.h"
#include "node/http/admin_server.h"
#include "node/loop/event_loop.h"
#include "node/telemetry/metrics.h"
#include "tests/support/eventually.h"
#include "tests/support/http_client.h"
#include "tests/support/metrics_scrape.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/status_matchers.h"

namespace fanout {
namespace {

using ::fanout::testing::Eventually;
using ::fanout::testing::HttpCall;
using ::fanout::testing::HttpResult;
using ::fanout::testing::IsOk;
using ::fanout::testing::ParsePrometheusText;
using ::fanout::testing::PrometheusText;
using ::fanout::testing::ScrapeMetrics;
using ::fanout::testing::StatusIs;
using ::testing::Optional;

class MetricsEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_THAT(admin_.Start(), IsOk()); }

  PrometheusText Scrape() { return ScrapeMetrics(admin_.port()); }
  double Value(const std::string& name, const testing::PrometheusLabels& labels) {
    return Scrape().Value(name, labels).value_or(-1);
  }

  AdminServer admin_{{}};  // The default registry, on 127.0.0.1:0.
};

TEST_F(MetricsEndpointTest, ServesTheDefaultRegistryAsPrometheusText) {
  metrics::Counter& counter =
      metrics::DefaultRegistry()
          .AddCounter("fanout_test_endpoint_total", "A counter of this test.", {"case"})
          .With({"served \"quoted\""});
  counter.Increment(4);
  HttpResult result = HttpCall(admin_.port(), "GET", "/metrics");
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  absl::StatusOr<PrometheusText> text = ParsePrometheusText(result.body);
  ASSERT_THAT(text.status(), IsOk()) << result.body;
  EXPECT_THAT(text->Value("fanout_test_endpoint_total", {{"case", "served \"quoted\""}}),
              Optional(static_cast<double>(counter.value())));
  EXPECT_EQ(text->types.at("fanout_test_endpoint_total"), "counter");
  EXPECT_EQ(HttpCall(admin_.port(), "HEAD", "/metrics").status, 200);
}

TEST(MetricsEndpointOptionsTest, ServesTheRegistryItIsGivenOrNone) {
  metrics::Registry own;
  own.AddGauge("only_here", "In a private registry.").With({}).Set(2);
  AdminServer with_own({.metrics = &own});
  AdminServer without({.metrics = nullptr});
  ASSERT_THAT(with_own.Start(), IsOk());
  ASSERT_THAT(without.Start(), IsOk());
  EXPECT_EQ(HttpCall(with_own.port(), "GET", "/metrics").body,
            "# HELP only_here In a private registry.\n# TYPE only_here gauge\nonly_here 2\n");
  EXPECT_EQ(HttpCall(without.port(), "GET", "/metrics").status, 404);
}

TEST_F(MetricsEndpointTest, LoopLagIsSampledOnEveryLoopAndStopsWithIt) {
  // Other tests' loops share these labels: compare with what was there.
  auto samples = [&](int loop) {
    return Scrape()
        .Value("fanout_loop_lag_seconds_count", {{"loop", std::to_string(loop)}})
        .value_or(0);
  };
  double before0 = samples(0);
  double before1 = samples(1);
  {
    LoopGroup loops({.num_loops = 2, .lag_probe_interval = absl::Milliseconds(2)});
    EXPECT_TRUE(Eventually([&] { return samples(0) >= before0 + 3 && samples(1) >= before1 + 3; }));
    PrometheusText text = Scrape();
    EXPECT_EQ(text.types.at("fanout_loop_lag_seconds"), "histogram");
    EXPECT_GT(text.Sum("fanout_loop_lag_seconds_sum", {{"loop", "0"}}), 0);
    EXPECT_GE(text.Value("fanout_loop_tasks", {{"loop", "0"}}).value_or(-1), 0);
    loops.Stop(absl::Now() + absl::Seconds(5));
  }
  // Stopped and destroyed: a scrape still works and reads nothing of it.
  Scrape();
}

TEST_F(MetricsEndpointTest, OffloadPoolReportsDepthRunningWaitsAndRefusals) {
  const std::string pool_name = "metrics_endpoint_test";
  const testing::PrometheusLabels pool = {{"pool", pool_name}};
  LoopGroup loops({.num_loops = 1});
  OffloadPool offload({.threads = 1, .queue_capacity = 1, .name = pool_name});
  Notification started, release;
  std::vector<absl::Status> results(3);
  Channel<int> done(3);
  auto job = [&](int i, bool hold) -> Task<absl::Status> {
    results[i] = co_await Offload(offload, [&, hold]() -> absl::Status {
      if (hold) {
        started.Notify();
        release.WaitForNotification();
      }
      return absl::OkStatus();
    });
    co_return done.TrySend(i);
  };
  PrometheusText before = Scrape();
  Spawn(loops.At(0), job(0, true));
  started.WaitForNotification();  // The one thread is busy...
  Spawn(loops.At(0), job(1, false));
  ASSERT_TRUE(Eventually([&] { return offload.queue_depth() == 1; }));  // ...one job waits...
  Spawn(loops.At(0), job(2, false));                                    // ...one is refused.
  ASSERT_TRUE(Eventually([&] { return done.size() == 1; }));
  EXPECT_THAT(results[2], StatusIs(absl::StatusCode::kResourceExhausted));

  PrometheusText busy = Scrape();
  EXPECT_THAT(busy.Value("fanout_offload_queue_depth", pool), Optional(1.0));
  EXPECT_THAT(busy.Value("fanout_offload_running", pool), Optional(1.0));
  EXPECT_EQ(busy.Delta(before, "fanout_offload_rejected_total", pool), 1);

  release.Notify();
  ASSERT_TRUE(Eventually([&] { return done.size() == 3; }));
  EXPECT_THAT(results[0], IsOk());
  EXPECT_THAT(results[1], IsOk());
  PrometheusText idle = Scrape();
  EXPECT_THAT(idle.Value("fanout_offload_queue_depth", pool), Optional(0.0));
  EXPECT_THAT(idle.Value("fanout_offload_running", pool), Optional(0.0));
  EXPECT_EQ(idle.Delta(before, "fanout_offload_run_seconds_count", pool), 2);
  EXPECT_EQ(idle.Delta(before, "fanout_offload_queue_wait_seconds_count", pool), 2);
  EXPECT_GT(idle.Delta(before, "fanout_offload_run_seconds_sum", pool), 0);
}

// Holds each message until the test lets one through.
class Held : public Actor<int, int> {
 public:
  explicit Held(std::shared_ptr<Channel<int>> gate) : gate_(std::move(gate)) {}
  Task<absl::StatusOr<int>> Handle(int n) override {
    FANOUT_CO_RETURN_IF_ERROR((co_await gate_->Receive()).status());
    co_return n;
  }

 private:
  std::shared_ptr<Channel<int>> gate_;
};

TEST_F(MetricsEndpointTest, ActorMailboxDepthHandledAndRefusedByKind) {
  const testing::PrometheusLabels kind = {{"actor", "metrics_endpoint_test/held"}};
  LoopGroup loops({.num_loops = 1});
  auto gate = std::make_shared<Channel<int>>(8);
  auto spawn = [&](std::string name) {
    return SpawnActor<int, int>(
        loops.At(0), [gate] { return std::make_unique<Held>(gate); },
        {.name = std::move(name), .kind = kind.at("actor"), .mailbox_capacity = 2});
  };
  PrometheusText before = Scrape();
  ActorRef<int, int> first = spawn("held-1");
  ActorRef<int, int> second = spawn("held-2");
  ASSERT_THAT(first.Tell(1), IsOk());
  ASSERT_TRUE(Eventually([&] { return first.mailbox_depth() == 0; }));  // 1 is in the handler.
  ASSERT_THAT(first.Tell(2), IsOk());
  ASSERT_THAT(first.Tell(3), IsOk());
  EXPECT_THAT(first.Tell(4), StatusIs(absl::StatusCode::kResourceExhausted));
  ASSERT_THAT(second.Tell(5), IsOk());
  ASSERT_TRUE(Eventually([&] { return second.mailbox_depth() == 0; }));

  PrometheusText busy = Scrape();
  EXPECT_THAT(busy.Value("fanout_actor_mailbox_depth", kind), Optional(2.0));  // Summed.
  EXPECT_THAT(busy.Value("fanout_actors", kind), Optional(2.0));
  EXPECT_EQ(busy.Delta(before, "fanout_actor_messages_refused_total", kind), 1);
  EXPECT_EQ(busy.Delta(before, "fanout_actor_messages_handled_total", kind), 0);

  for (int i = 0; i < 4; ++i) ASSERT_THAT(gate->TrySend(0), IsOk());
  EXPECT_TRUE(Eventually(
      [&] { return Scrape().Delta(before, "fanout_actor_messages_handled_total", kind) == 4; }));
  EXPECT_THAT(Scrape().Value("fanout_actor_mailbox_depth", kind), Optional(0.0));

  first.Stop();
  second.Stop();
  // Finished actors leave the count, though these refs still hold them.
  EXPECT_TRUE(Eventually([&] { return Value("fanout_actors", kind) == 0; }));
  loops.Stop(absl::Now() + absl::Seconds(5));
}

}  // namespace
}  // namespace fanout
