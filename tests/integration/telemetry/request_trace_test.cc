// One user request, followed across every hop: a whole fanoutd node (every
// role, SQLite in a scratch directory) in this process, exporting to a real
// OTLP collector on 127.0.0.1:0, called through the gateway's REST and gRPC
// doors.

#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "fanout/gateway/v1/gateway.grpc.pb.h"
#include "node/telemetry/trace.h"
#include "services/fanoutd/node.h"
#include "tests/support/eventually.h"
#include "tests/support/http_client.h"
#include "tests/support/metrics_scrape.h"
#include "tests/support/otlp_collector.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/status_matchers.h"

namespace fanout {
namespace {

using ::testing::Contains;
using testing::Eventually;
using testing::HttpCall;
using ::testing::IsEmpty;
using testing::OtlpCollector;
using OtlpSpan = opentelemetry::proto::trace::v1::Span;

constexpr char kTraceId[] = "0af7651916cd43dd8448eb211c80319c";
constexpr char kCallerSpan[] = "b7ad6b7169203331";
constexpr char kTraceparent[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

std::string Hex(const std::string& bytes) { return absl::BytesToHexString(bytes); }

std::string Attribute(const OtlpSpan& span, const std::string& key) {
  for (const auto& kv : span.attributes()) {
    if (kv.key() != key) continue;
    if (kv.value().has_string_value()) return kv.value().string_value();
    if (kv.value().has_int_value()) return absl::StrCat(kv.value().int_value());
    if (kv.value().has_bool_value()) return kv.value().bool_value() ? "true" : "false";
  }
  return "";
}

class RequestTraceTest : public ::testing::Test {
 protected:
  void StartNode(const std::string& otlp_endpoint) {
    data_dir_ = std::filesystem::temp_directory_path() /
                absl::StrCat("fanout-trace-test-", ::getpid(), "-", ++serial_);
    config::v1::NodeConfig config = fanoutd::DefaultNodeConfig();
    config.set_grpc_address("127.0.0.1:0");
    config.set_admin_address("127.0.0.1:0");
    config.set_loops(2);
    config.set_data_dir(data_dir_.string());
    config.mutable_gateway()->set_rest_address("127.0.0.1:0");
    config.mutable_tracing()->set_otlp_endpoint(otlp_endpoint);
    config.mutable_tracing()->set_flush_interval_ms(50);
    config.mutable_tracing()->set_export_timeout_ms(1000);
    ASSERT_THAT(fanoutd::ValidateNodeConfig(config), testing::IsOk());
    node_ = std::make_unique<fanoutd::Node>(config);
    ASSERT_THAT(node_->Start(), testing::IsOk());
    testing::HttpResult created = HttpCall(node_->rest_port(), "POST", "/v1/users",
                                           R"({"name":"Ada","email":"ada@example.com"})");
    ASSERT_EQ(created.status, 201) << created.body;
  }

  void TearDown() override {
    node_.reset();
    std::filesystem::remove_all(data_dir_);
  }

  // Every span of `trace_id` the collector has, once `done(spans)` holds
  // (or after 10 s: the assertions then say what is missing).
  template <typename Done>
  std::vector<OtlpCollector::ReceivedSpan> TraceSpans(const std::string& trace_id, Done done) {
    std::vector<OtlpCollector::ReceivedSpan> mine;
    absl::Time give_up = absl::Now() + absl::Seconds(10);
    do {
      mine.clear();
      for (auto& received : collector_.Spans()) {
        if (Hex(received.span.trace_id()) == trace_id) mine.push_back(std::move(received));
      }
      if (done(mine)) break;
      absl::SleepFor(absl::Milliseconds(20));
    } while (absl::Now() < give_up);
    return mine;
  }

  static int Count(const std::vector<OtlpCollector::ReceivedSpan>& spans, OtlpSpan::SpanKind kind) {
    int n = 0;
    for (const auto& s : spans) n += s.span.kind() == kind;
    return n;
  }

  OtlpCollector collector_;
  std::filesystem::path data_dir_;
  std::unique_ptr<fanoutd::Node> node_;
  static inline int serial_ = 0;
};

TEST_F(RequestTraceTest, OneDashboardRequestIsOneTraceAcrossEveryService) {
  StartNode(collector_.address());
  testing::HttpResult r = HttpCall(node_->rest_port(), "GET", "/v1/users/1/dashboard", "",
                                   {{"traceparent", kTraceparent}});
  ASSERT_EQ(r.status, 200) << r.body;
  // Gateway: 1 server span, 3 client spans; users, orders, recommendations:
  // 1 server span each; recommendations' own call to orders: 1 client and 1
  // server span.
  std::vector<OtlpCollector::ReceivedSpan> spans = TraceSpans(kTraceId, [](const auto& s) {
    return Count(s, OtlpSpan::SPAN_KIND_SERVER) >= 5 && Count(s, OtlpSpan::SPAN_KIND_CLIENT) >= 4;
  });

  std::multimap<std::string, const OtlpCollector::ReceivedSpan*> children;
  for (const auto& s : spans) {
    children.emplace(Hex(s.span.parent_span_id()), &s);
  }
  // The caller's span parents exactly one span: the gateway's REST span.
  ASSERT_EQ(children.count(kCallerSpan), 1u);
  const OtlpCollector::ReceivedSpan& root = *children.find(kCallerSpan)->second;
  EXPECT_EQ(root.service_name, "fanout-gateway");
  EXPECT_EQ(root.span.kind(), OtlpSpan::SPAN_KIND_SERVER);
  EXPECT_EQ(root.span.name(), "GET dashboard");
  EXPECT_EQ(Attribute(root.span, "http.route"), "dashboard");
  EXPECT_EQ(Attribute(root.span, "http.request.method"), "GET");
  EXPECT_EQ(Attribute(root.span, "http.response.status_code"), "200");

  // Each backend call is a client span under it, and each is answered by
  // that service's server span, under the client span.
  const std::map<std::string, std::string> served_by = {
      {"fanout.users.v1.Users/GetUser", "fanout-users"},
      {"fanout.orders.v1.Orders/ListOrders", "fanout-orders"},
      {"fanout.recommendations.v1.Recommendations/Recommend", "fanout-recommendations"},
  };
  std::set<std::string> called;
  const OtlpCollector::ReceivedSpan* recommend_server = nullptr;
  auto [first, last] = children.equal_range(Hex(root.span.span_id()));
  for (auto it = first; it != last; ++it) {
    const OtlpCollector::ReceivedSpan& client = *it->second;
    if (client.span.kind() != OtlpSpan::SPAN_KIND_CLIENT) continue;
    called.insert(client.span.name());
    EXPECT_EQ(client.service_name, "fanout-gateway");
    EXPECT_EQ(Attribute(client.span, "rpc.system"), "grpc");
    EXPECT_EQ(Attribute(client.span, "rpc.grpc.status_code"), "0") << client.span.name();
    auto server = children.equal_range(Hex(client.span.span_id()));
    ASSERT_NE(server.first, server.second) << "no server span under " << client.span.name();
    const OtlpCollector::ReceivedSpan& answer = *server.first->second;
    EXPECT_EQ(answer.span.kind(), OtlpSpan::SPAN_KIND_SERVER);
    EXPECT_EQ(answer.span.name(), client.span.name());
    EXPECT_EQ(answer.service_name, served_by.at(client.span.name()));
    EXPECT_EQ(Attribute(answer.span, "rpc.service") + "/" + Attribute(answer.span, "rpc.method"),
              answer.span.name());
    if (answer.service_name == "fanout-recommendations") recommend_server = &answer;
    if (answer.service_name == "fanout-users") {
      // Users reads SQLite off its loop: the trace shows that turn.
      std::set<std::string> events;
      for (const auto& event : answer.span.events()) events.insert(event.name());
      EXPECT_THAT(events, Contains("offload"));
    }
  }
  EXPECT_EQ(called.size(), 3u) << "the gateway's client spans: GetUser, ListOrders, Recommend";

  // A hop deeper: recommendations' own call to orders.
  ASSERT_NE(recommend_server, nullptr);
  const OtlpCollector::ReceivedSpan* deeper = nullptr;
  auto [r_first, r_last] = children.equal_range(Hex(recommend_server->span.span_id()));
  for (auto it = r_first; it != r_last; ++it) {
    if (it->second->span.kind() == OtlpSpan::SPAN_KIND_CLIENT) deeper = it->second;
  }
  ASSERT_NE(deeper, nullptr) << "recommendations made no traced call to orders";
  EXPECT_EQ(deeper->span.name(), "fanout.orders.v1.Orders/ListOrders");
  EXPECT_EQ(deeper->service_name, "fanout-recommendations");
  auto orders = children.equal_range(Hex(deeper->span.span_id()));
  ASSERT_NE(orders.first, orders.second);
  EXPECT_EQ(orders.first->second->service_name, "fanout-orders");
}

TEST_F(RequestTraceTest, ARequestWithoutTraceparentStartsATrace) {
  StartNode(collector_.address());
  testing::HttpResult r = HttpCall(node_->rest_port(), "GET", "/v1/users/1");
  ASSERT_EQ(r.status, 200) << r.body;
  std::optional<OtlpCollector::ReceivedSpan> root;
  for (absl::Time give_up = absl::Now() + absl::Seconds(10); !root && absl::Now() < give_up;
       absl::SleepFor(absl::Milliseconds(20))) {
    for (const auto& s : collector_.Spans()) {
      if (s.span.name() == "GET get-user") root = s;
    }
  }
  ASSERT_TRUE(root.has_value());
  EXPECT_THAT(root->span.parent_span_id(), IsEmpty());
  std::string trace_id = Hex(root->span.trace_id());
  EXPECT_NE(trace_id, std::string(32, '0'));
  std::vector<OtlpCollector::ReceivedSpan> spans =
      TraceSpans(trace_id, [](const auto& s) { return s.size() >= 3; });
  std::set<std::string> names;
  for (const auto& s : spans) names.insert(absl::StrCat(s.service_name, " ", s.span.name()));
  EXPECT_THAT(names, Contains("fanout-gateway fanout.users.v1.Users/GetUser"));
  EXPECT_THAT(names, Contains("fanout-users fanout.users.v1.Users/GetUser"));
}

TEST_F(RequestTraceTest, TheGrpcDoorContinuesTheCallersTrace) {
  StartNode(collector_.address());
  auto stub = gateway::v1::Gateway::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", node_->grpc_port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.AddMetadata("traceparent", kTraceparent);
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  gateway::v1::DashboardRequest request;
  request.set_id(1);
  gateway::v1::Dashboard reply;
  ASSERT_TRUE(stub->GetDashboard(&context, request, &reply).ok());
  std::vector<OtlpCollector::ReceivedSpan> spans =
      TraceSpans(kTraceId, [](const auto& s) { return Count(s, OtlpSpan::SPAN_KIND_SERVER) >= 5; });
  const OtlpCollector::ReceivedSpan* root = nullptr;
  for (const auto& s : spans) {
    if (Hex(s.span.parent_span_id()) == kCallerSpan) root = &s;
  }
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root->span.name(), "fanout.gateway.v1.Gateway/GetDashboard");
  EXPECT_EQ(root->service_name, "fanout-gateway");
  EXPECT_EQ(Attribute(root->span, "rpc.grpc.status_code"), "0");
}

TEST_F(RequestTraceTest, ACollectorThatIsDownDropsAndCountsAndRequestsStillSucceed) {
  // Nothing listens on port 1: every export fails at once.
  StartNode("127.0.0.1:1");
  for (int i = 0; i < 20; ++i) {
    testing::HttpResult r = HttpCall(node_->rest_port(), "GET", "/v1/users/1/dashboard");
    ASSERT_EQ(r.status, 200) << r.body;
  }
  trace::Tracer* tracer = trace::GlobalTracer();
  ASSERT_NE(tracer, nullptr);
  Eventually([&] { return tracer->stats().dropped >= 20 * 5; }, absl::Seconds(10));
  trace::Tracer::Stats stats = tracer->stats();
  EXPECT_GE(stats.dropped, 20 * 5) << "each dashboard request ends at least 5 spans";
  EXPECT_EQ(stats.exported, 0);
  EXPECT_GT(stats.export_failures, 0);
}

// /metrics of the same node: valid Prometheus text, and the request shows
// at every layer it went through.
TEST_F(RequestTraceTest, MetricsMoveAsARequestFlows) {
  StartNode(collector_.address());
  testing::PrometheusText before = testing::ScrapeMetrics(node_->admin_port());
  testing::HttpResult r = HttpCall(node_->rest_port(), "GET", "/v1/users/1/dashboard");
  ASSERT_EQ(r.status, 200) << r.body;
  // The export of this request's spans is counted too. Wait on the scraped
  // delta: StartNode's own request exports its spans around `before`.
  testing::PrometheusText after;
  Eventually(
      [&] {
        after = testing::ScrapeMetrics(node_->admin_port());
        return after.Delta(before, "fanout_trace_spans_exported_total", {}) >= 9;
      },
      absl::Seconds(10));
  auto moved = [&](const std::string& name, const testing::PrometheusLabels& labels) {
    return after.Delta(before, name, labels);
  };
  EXPECT_EQ(moved("fanout_http_server_duration_seconds_count",
                  {{"route", "dashboard"}, {"method", "GET"}, {"status", "200"}}),
            1);
  EXPECT_GE(moved("fanout_rpc_server_duration_seconds_count",
                  {{"service", "fanout.users.v1.Users"}, {"method", "GetUser"}, {"code", "OK"}}),
            1);
  EXPECT_GE(
      moved("fanout_rpc_client_duration_seconds_count",
            {{"service", "fanout.orders.v1.Orders"}, {"method", "ListOrders"}, {"code", "OK"}}),
      2)
      << "the gateway's call and recommendations' call";
  EXPECT_GE(moved("fanout_gateway_backend_attempts_total", {{"backend", "users"}}), 1);
  EXPECT_EQ(
      after.Value("fanout_gateway_circuit_state", {{"backend", "users"}, {"state", "closed"}}), 1);
  EXPECT_GE(moved("fanout_trace_spans_exported_total", {}), 9);
  EXPECT_EQ(after.types.at("fanout_rpc_server_in_flight"), "gauge");
}

}  // namespace
}  // namespace fanout
