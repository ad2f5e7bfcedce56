// The gateway's metrics read its live state at scrape time: what a door's
// admission holds and each backend's bulkhead and breaker, by name.
#include "gateway/gateway_metrics.h"

#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include "fanout/lab/v1/lab.pb.h"
#include "node/config/yaml_proto.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/status_matchers.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::IsOk;

TEST(GatewayMetricsTest, ScrapesReadTheLiveState) {
  (void)lab::v1::EchoRequest::descriptor();  // Links the type the route calls.
  config::v1::GatewayConfig config;
  ASSERT_THAT(YamlTextToMessage(R"(
routes:
  - {name: r, path: /r, max_in_flight: 5, calls: [{name: c, backend: lab, method: fanout.lab.v1.Lab/Echo}]}
)",
                                "test", &config),
              IsOk());
  config::v1::Backend lab;
  lab.set_max_concurrent_calls(7);
  auto state = GatewayState::Create({.config = config, .backends = {{"lab", lab}}});
  ASSERT_THAT(state, IsOk());
  // Channels connect on first use: none is made here.
  (*state)->ConnectBackends([](const std::string&) {
    return grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
  });
  std::vector<metrics::CallbackHandle> handles = ExportGatewayMetrics(**state);
  auto scrape = [] {
    absl::StatusOr<testing::PrometheusText> text =
        testing::ParsePrometheusText(metrics::DefaultRegistry().Render());
    EXPECT_THAT(text.status(), IsOk());
    return text.ok() ? *std::move(text) : testing::PrometheusText{};
  };
  testing::PrometheusText idle = scrape();
  EXPECT_EQ(idle.Value("fanout_gateway_in_flight"), 0);
  EXPECT_EQ(idle.Value("fanout_gateway_route_in_flight", {{"route", "r"}}), 0);
  EXPECT_EQ(idle.Value("fanout_gateway_bulkhead_permits", {{"backend", "lab"}}), 7);
  EXPECT_EQ(idle.Value("fanout_gateway_circuit_state", {{"backend", "lab"}, {"state", "closed"}}),
            1);
  EXPECT_EQ(idle.Value("fanout_gateway_circuit_state", {{"backend", "lab"}, {"state", "open"}}), 0);

  auto tickets = (*state)->Admit((*state)->routes()[0]);
  ASSERT_TRUE(tickets.has_value());
  testing::PrometheusText busy = scrape();
  EXPECT_EQ(busy.Value("fanout_gateway_in_flight"), 1);
  EXPECT_EQ(busy.Value("fanout_gateway_route_in_flight", {{"route", "r"}}), 1);
  tickets.reset();
  EXPECT_EQ(scrape().Value("fanout_gateway_in_flight"), 0);

  handles.clear();  // Gone from the registry with the handles.
  EXPECT_FALSE(scrape().Value("fanout_gateway_in_flight").has_value());
}

}  // namespace
}  // namespace fanout::gateway
