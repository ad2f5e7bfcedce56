// Tracer and Span without sockets: batches go to an in-memory exporter.
// Sampling decisions, what a span records into its OTLP proto, limits, the
// bounded queue and how failed exports are counted.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "node/base/sync.h"
#include "node/telemetry/trace.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "tests/support/status_matchers.h"

namespace fanout::trace {
namespace {

using ::fanout::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using AnyValue = opentelemetry::proto::common::v1::AnyValue;
using SpanProto = opentelemetry::proto::trace::v1::Span;

// Keeps every batch; answers with `result`. Thread-safe (the test reads while
// the exporter thread writes).
class MemoryExporter final : public SpanExporter {
 public:
  absl::StatusOr<int64_t> Export(const ExportTraceServiceRequest& request,
                                 absl::Time deadline) override {
    MutexLock lock(&mu_);
    requests_.push_back(request);
    return result_;
  }
  std::string Describe() const override { return "memory"; }

  void set_result(absl::StatusOr<int64_t> result) {
    MutexLock lock(&mu_);
    result_ = std::move(result);
  }
  std::vector<ExportTraceServiceRequest> requests() const {
    MutexLock lock(&mu_);
    return requests_;
  }
  std::vector<SpanProto> spans() const {
    std::vector<SpanProto> spans;
    for (const auto& request : requests()) {
      for (const auto& resource_spans : request.resource_spans()) {
        for (const auto& scope_spans : resource_spans.scope_spans()) {
          spans.insert(spans.end(), scope_spans.spans().begin(), scope_spans.spans().end());
        }
      }
    }
    return spans;
  }

 private:
  mutable Mutex mu_;
  std::vector<ExportTraceServiceRequest> requests_ ABSL_GUARDED_BY(mu_);
  absl::StatusOr<int64_t> result_ ABSL_GUARDED_BY(mu_) = 0;
};

// The exporter thread only runs when told to (ForceFlush, destruction): the
// interval is an hour and a batch never fills.
Tracer::Options QuietOptions(std::shared_ptr<MemoryExporter> exporter) {
  return {.max_batch_spans = 100000,
          .flush_interval = absl::Hours(1),
          .export_timeout = absl::Seconds(60),
          .exporter = std::move(exporter)};
}

std::unique_ptr<Tracer> MakeTracer(Tracer::Options options) {
  absl::StatusOr<std::unique_ptr<Tracer>> tracer = Tracer::Create(std::move(options));
  EXPECT_TRUE(tracer.ok()) << tracer.status();
  return tracer.ok() ? *std::move(tracer) : nullptr;
}

std::string Attr(const google::protobuf::RepeatedPtrField<
                     opentelemetry::proto::common::v1::KeyValue>& attributes,
                 std::string_view key) {
  for (const auto& attribute : attributes) {
    if (attribute.key() == key) return attribute.value().ShortDebugString();
  }
  return "<missing>";
}

std::string Bytes(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

TEST(TracerCreateTest, RejectsBadOptionsNamingTheField) {
  struct Case {
    Tracer::Options options;
    std::string field;
  };
  auto memory = std::make_shared<MemoryExporter>();
  std::vector<Case> cases = {
      {{}, "exporter"},
      {{.sample_ratio = -0.1, .exporter = memory}, "sample_ratio"},
      {{.sample_ratio = 1.5, .exporter = memory}, "sample_ratio"},
      {{.max_queue_spans = 0, .exporter = memory}, "max_queue_spans"},
      {{.max_batch_spans = 0, .exporter = memory}, "max_batch_spans"},
      {{.flush_interval = absl::ZeroDuration(), .exporter = memory}, "flush_interval"},
      {{.export_timeout = -absl::Seconds(1), .exporter = memory}, "export_timeout"},
  };
  for (auto& c : cases) {
    EXPECT_THAT(Tracer::Create(std::move(c.options)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.field)));
  }
}

TEST(TracerTest, RootSpansFollowTheRatio) {
  auto exporter = std::make_shared<MemoryExporter>();
  auto options = QuietOptions(exporter);
  options.sample_ratio = 0.0;
  auto never = MakeTracer(options);
  options.sample_ratio = 1.0;
  auto always = MakeTracer(options);

  auto dropped = never->StartSpan("root", SpanKind::kServer, nullptr);
  EXPECT_TRUE(dropped->context().valid());  // still has ids to propagate
  EXPECT_FALSE(dropped->context().sampled());
  EXPECT_FALSE(dropped->recording());
  EXPECT_THAT(FormatTraceparent(dropped->context()), ::testing::EndsWith("-00"));

  auto kept = always->StartSpan("root", SpanKind::kServer, nullptr);
  EXPECT_TRUE(kept->context().sampled());
  EXPECT_TRUE(kept->recording());
  EXPECT_THAT(FormatTraceparent(kept->context()), ::testing::EndsWith("-01"));
  EXPECT_EQ(kept->proto()->parent_span_id(), "");
}

TEST(TracerTest, ChildrenFollowTheirParentAndInheritTracestate) {
  auto exporter = std::make_shared<MemoryExporter>();
  auto options = QuietOptions(exporter);
  options.sample_ratio = 0.0;  // would drop every root
  auto tracer = MakeTracer(options);

  SpanContext parent =
      *ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "k=v");
  auto child = tracer->StartSpan("child", SpanKind::kClient, &parent);
  ASSERT_TRUE(child->recording());
  EXPECT_EQ(child->context().trace_id, parent.trace_id);
  EXPECT_NE(child->context().span_id, parent.span_id);
  EXPECT_EQ(child->context().tracestate, "k=v");
  EXPECT_EQ(child->proto()->trace_id(), Bytes(parent.trace_id.data(), 16));
  EXPECT_EQ(child->proto()->parent_span_id(), Bytes(parent.span_id.data(), 8));
  EXPECT_EQ(child->proto()->span_id(), Bytes(child->context().span_id.data(), 8));
  EXPECT_EQ(child->proto()->trace_state(), "k=v");
  EXPECT_EQ(child->proto()->flags(), 1u);
  EXPECT_EQ(child->proto()->kind(), SpanProto::SPAN_KIND_CLIENT);

  options.sample_ratio = 1.0;  // would keep every root
  auto keep_all = MakeTracer(options);
  parent.flags = 0;
  auto unsampled_child = keep_all->StartSpan("child", SpanKind::kClient, &parent);
  EXPECT_FALSE(unsampled_child->recording());
  EXPECT_EQ(unsampled_child->context().trace_id, parent.trace_id);
  EXPECT_EQ(unsampled_child->context().tracestate, "k=v");
}

TEST(TracerTest, InvalidParentStartsANewTrace) {
  auto tracer = MakeTracer(QuietOptions(std::make_shared<MemoryExporter>()));
  SpanContext invalid;  // all-zero ids
  invalid.flags = 0;
  auto span = tracer->StartSpan("root", SpanKind::kServer, &invalid);
  EXPECT_TRUE(span->context().valid());
  EXPECT_TRUE(span->recording());  // ratio 1, not the invalid parent's flag
  EXPECT_EQ(span->proto()->parent_span_id(), "");
}

TEST(AttributeValueTest, KeepsItsType) {
  EXPECT_TRUE(std::holds_alternative<bool>(AttributeValue(true).value()));
  EXPECT_TRUE(std::holds_alternative<int64_t>(AttributeValue(7).value()));
  EXPECT_TRUE(std::holds_alternative<int64_t>(AttributeValue(uint16_t{7}).value()));
  EXPECT_TRUE(std::holds_alternative<double>(AttributeValue(1.5).value()));
  EXPECT_TRUE(std::holds_alternative<double>(AttributeValue(1.5f).value()));
  EXPECT_TRUE(std::holds_alternative<std::string_view>(AttributeValue("x").value()));
  const char* pointer = "y";
  EXPECT_TRUE(std::holds_alternative<std::string_view>(AttributeValue(pointer).value()));
}

TEST(SpanTest, AttributesOfEachTypeLandInTheProto) {
  auto tracer = MakeTracer(QuietOptions(std::make_shared<MemoryExporter>()));
  auto span = tracer->StartSpan("op", SpanKind::kInternal, nullptr);
  std::string owned = "owned";
  span->SetAttribute("literal", "text");
  span->SetAttribute("string", owned);
  span->SetAttribute("view", std::string_view("viewed"));
  span->SetAttribute("int", 42);
  span->SetAttribute("negative", int64_t{-5});
  span->SetAttribute("unsigned", uint8_t{200});
  span->SetAttribute("double", 0.25);
  span->SetAttribute("bool", true);
  span->SetAttribute("false", false);
  const auto& attributes = span->proto()->attributes();
  ASSERT_THAT(attributes, SizeIs(9));
  EXPECT_EQ(Attr(attributes, "literal"), "string_value: \"text\"");
  EXPECT_EQ(Attr(attributes, "string"), "string_value: \"owned\"");
  EXPECT_EQ(Attr(attributes, "view"), "string_value: \"viewed\"");
  EXPECT_EQ(Attr(attributes, "int"), "int_value: 42");
  EXPECT_EQ(Attr(attributes, "negative"), "int_value: -5");
  EXPECT_EQ(Attr(attributes, "unsigned"), "int_value: 200");
  EXPECT_EQ(Attr(attributes, "double"), "double_value: 0.25");
  // A bool is a bool on the wire, not int 1.
  EXPECT_EQ(Attr(attributes, "bool"), "bool_value: true");
  EXPECT_EQ(Attr(attributes, "false"), "bool_value: false");
}

TEST(SpanTest, SettingAKeyAgainReplacesIt) {
  auto tracer = MakeTracer(QuietOptions(std::make_shared<MemoryExporter>()));
  auto span = tracer->StartSpan("op", SpanKind::kInternal, nullptr);
  span->SetAttribute("k", 1);
  span->SetAttribute("k", "two");
  ASSERT_THAT(span->proto()->attributes(), SizeIs(1));
  EXPECT_EQ(Attr(span->proto()->attributes(), "k"), "string_value: \"two\"");
}

TEST(SpanTest, EventsAndErrorStatus) {
  auto tracer = MakeTracer(QuietOptions(std::make_shared<MemoryExporter>()));
  auto span = tracer->StartSpan("op", SpanKind::kServer, nullptr);
  span->AddEvent("retry", {{"attempt", 2}, {"backend", "users-1"}, {"hedged", false}});
  span->SetError("backend users: deadline exceeded");
  const SpanProto& proto = *span->proto();
  ASSERT_THAT(proto.events(), SizeIs(1));
  EXPECT_EQ(proto.events(0).name(), "retry");
  EXPECT_GE(proto.events(0).time_unix_nano(), proto.start_time_unix_nano());
  EXPECT_EQ(Attr(proto.events(0).attributes(), "attempt"), "int_value: 2");
  EXPECT_EQ(Attr(proto.events(0).attributes(), "backend"), "string_value: \"users-1\"");
  EXPECT_EQ(Attr(proto.events(0).attributes(), "hedged"), "bool_value: false");
  EXPECT_EQ(proto.status().code(), opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(proto.status().message(), "backend users: deadline exceeded");
}

TEST(SpanTest, LimitsAreCountedAsDropped) {
  auto tracer = MakeTracer(QuietOptions(std::make_shared<MemoryExporter>()));
  auto span = tracer->StartSpan("op", SpanKind::kInternal, nullptr);
  for (int i = 0; i < Span::kMaxAttributes + 3; ++i) span->SetAttribute(std::to_string(i), i);
  for (int i = 0; i < Span::kMaxEvents + 2; ++i) span->AddEvent("e");
  span->SetAttribute("0", "replacing an existing key is not dropped");
  const SpanProto& proto = *span->proto();
  EXPECT_THAT(proto.attributes(), SizeIs(Span::kMaxAttributes));
  EXPECT_EQ(proto.dropped_attributes_count(), 3u);
  EXPECT_THAT(proto.events(), SizeIs(Span::kMaxEvents));
  EXPECT_EQ(proto.dropped_events_count(), 2u);

  // An event's attributes come as a literal list; 34 of them, two past the limit.
  static_assert(Span::kMaxEventAttributes == 32);
  auto other = tracer->StartSpan("op", SpanKind::kInternal, nullptr);
  other->AddEvent(
      "big",
      {{"k0", 0},   {"k1", 1},   {"k2", 2},   {"k3", 3},   {"k4", 4},   {"k5", 5},   {"k6", 6},
       {"k7", 7},   {"k8", 8},   {"k9", 9},   {"k10", 10}, {"k11", 11}, {"k12", 12}, {"k13", 13},
       {"k14", 14}, {"k15", 15}, {"k16", 16}, {"k17", 17}, {"k18", 18}, {"k19", 19}, {"k20", 20},
       {"k21", 21}, {"k22", 22}, {"k23", 23}, {"k24", 24}, {"k25", 25}, {"k26", 26}, {"k27", 27},
       {"k28", 28}, {"k29", 29}, {"k30", 30}, {"k31", 31}, {"k32", 32}, {"k33", 33}});
  EXPECT_THAT(other->proto()->events(0).attributes(), SizeIs(Span::kMaxEventAttributes));
  EXPECT_EQ(other->proto()->events(0).dropped_attributes_count(), 2u);
}

TEST(SpanTest, UnsampledSpanRecordsAndSubmitsNothing) {
  auto exporter = std::make_shared<MemoryExporter>();
  auto options = QuietOptions(exporter);
  options.sample_ratio = 0.0;
  auto tracer = MakeTracer(options);
  auto span = tracer->StartSpan("op", SpanKind::kInternal, nullptr);
  span->SetAttribute("k", 1);
  span->AddEvent("e");
  span->SetError("bad");
  span->End();
  EXPECT_EQ(span->proto(), nullptr);
  tracer->ForceFlush();
  Tracer::Stats stats = tracer->stats();
  EXPECT_EQ(stats.exported + stats.dropped + stats.queued, 0);
  EXPECT_THAT(exporter->spans(), SizeIs(0));
}

TEST(SpanTest, FirstEndWinsAndTheDestructorEnds) {
  auto exporter = std::make_shared<MemoryExporter>();
  auto tracer = MakeTracer(QuietOptions(exporter));
  auto span = tracer->StartSpan("ended twice", SpanKind::kInternal, nullptr);
  span->End();
  EXPECT_FALSE(span->recording());
  span->SetAttribute("after end", 1);  // ignored
  span->End();
  tracer->StartSpan("dropped on the floor", SpanKind::kInternal, nullptr);
  EXPECT_EQ(tracer->stats().queued, 2);
  tracer->ForceFlush();
  std::vector<SpanProto> spans = exporter->spans();
  ASSERT_THAT(spans, SizeIs(2));
  EXPECT_EQ(spans[0].name(), "ended twice");
  EXPECT_THAT(spans[0].attributes(), SizeIs(0));
  EXPECT_GE(spans[0].end_time_unix_nano(), spans[0].start_time_unix_nano());
  EXPECT_EQ(spans[1].name(), "dropped on the floor");
  EXPECT_EQ(tracer->stats().exported, 2);
}

TEST(SpanTest, EndingAfterTheTracerIsGoneIsHarmless) {
  auto tracer = MakeTracer(QuietOptions(std::make_shared<MemoryExporter>()));
  auto span = tracer->StartSpan("late", SpanKind::kInternal, nullptr);
  tracer.reset();
  span->SetAttribute("still", "fine");
  span->End();  // dropped: the processor has shut down
  EXPECT_FALSE(span->recording());
}

TEST(TracerTest, ExportGroupsSpansByResource) {
  auto exporter = std::make_shared<MemoryExporter>();
  auto options = QuietOptions(exporter);
  options.service_name = "gateway";
  options.service_version = "1.2.3";
  options.instance_id = "pod-7";
  auto tracer = MakeTracer(options);
  int users = tracer->AddResource("users");
  EXPECT_EQ(users, 1);
  tracer->MapGrpcService("fanout.users.v1.Users", users);
  EXPECT_EQ(tracer->ResourceOfGrpcService("fanout.users.v1.Users"), users);
  EXPECT_EQ(tracer->ResourceOfGrpcService("fanout.orders.v1.Orders"), 0);

  tracer->StartSpan("a", SpanKind::kServer, nullptr)->End();
  tracer->StartSpan("b", SpanKind::kServer, nullptr, users)->End();
  tracer->StartSpan("c", SpanKind::kServer, nullptr)->End();
  tracer->StartSpan("unknown resource", SpanKind::kServer, nullptr, 99)->End();
  tracer->ForceFlush();

  std::vector<ExportTraceServiceRequest> requests = exporter->requests();
  ASSERT_THAT(requests, SizeIs(1));
  const auto& resource_spans = requests[0].resource_spans();
  ASSERT_THAT(resource_spans, SizeIs(2));
  EXPECT_EQ(Attr(resource_spans[0].resource().attributes(), "service.name"),
            "string_value: \"gateway\"");
  EXPECT_THAT(resource_spans[0].scope_spans(0).spans(), SizeIs(3));
  EXPECT_EQ(resource_spans[0].scope_spans(0).scope().name(), "fanout");
  EXPECT_EQ(Attr(resource_spans[1].resource().attributes(), "service.name"),
            "string_value: \"users\"");
  ASSERT_THAT(resource_spans[1].scope_spans(0).spans(), SizeIs(1));
  EXPECT_EQ(resource_spans[1].scope_spans(0).spans(0).name(), "b");
  // Shared attributes are on every resource.
  for (const auto& r : resource_spans) {
    EXPECT_EQ(Attr(r.resource().attributes(), "service.version"), "string_value: \"1.2.3\"");
    EXPECT_EQ(Attr(r.resource().attributes(), "service.instance.id"), "string_value: \"pod-7\"");
    EXPECT_EQ(Attr(r.resource().attributes(), "telemetry.sdk.name"), "string_value: \"fanout\"");
    EXPECT_EQ(Attr(r.resource().attributes(), "telemetry.sdk.language"), "string_value: \"cpp\"");
  }
}

TEST(TracerTest, ResourceCarriesKubernetesNamesFromTheEnvironment) {
  setenv("POD_NAME", "gateway-5d9f", 1);
  setenv("POD_NAMESPACE", "shop", 1);
  unsetenv("NODE_NAME");
  auto exporter = std::make_shared<MemoryExporter>();
  auto tracer = MakeTracer(QuietOptions(exporter));
  unsetenv("POD_NAME");
  unsetenv("POD_NAMESPACE");
  tracer->StartSpan("a", SpanKind::kServer, nullptr)->End();
  tracer->ForceFlush();
  std::vector<ExportTraceServiceRequest> requests = exporter->requests();
  ASSERT_THAT(requests, SizeIs(1));
  const auto& attributes = requests[0].resource_spans(0).resource().attributes();
  EXPECT_EQ(Attr(attributes, "service.name"), "string_value: \"fanout\"");
  EXPECT_EQ(Attr(attributes, "k8s.pod.name"), "string_value: \"gateway-5d9f\"");
  EXPECT_EQ(Attr(attributes, "k8s.namespace.name"), "string_value: \"shop\"");
  EXPECT_EQ(Attr(attributes, "k8s.node.name"), "<missing>");
  EXPECT_EQ(Attr(attributes, "service.version"), "<missing>");
  EXPECT_THAT(Attr(attributes, "service.instance.id"), HasSubstr(":"));  // host:pid
}

TEST(TracerTest, AFullQueueDropsAndCounts) {
  auto exporter = std::make_shared<MemoryExporter>();
  auto options = QuietOptions(exporter);
  options.max_queue_spans = 10;
  auto tracer = MakeTracer(options);
  for (int i = 0; i < 15; ++i) tracer->StartSpan("s", SpanKind::kInternal, nullptr)->End();
  Tracer::Stats stats = tracer->stats();
  EXPECT_EQ(stats.queued, 10);
  EXPECT_EQ(stats.dropped, 5);
  tracer->ForceFlush();
  stats = tracer->stats();
  EXPECT_EQ(stats.exported, 10);
  EXPECT_EQ(stats.dropped, 5);
  EXPECT_EQ(stats.queued, 0);
}

TEST(TracerTest, ForceFlushSplitsIntoBatches) {
  auto exporter = std::make_shared<MemoryExporter>();
  auto options = QuietOptions(exporter);
  options.max_batch_spans = 4;
  auto tracer = MakeTracer(options);
  // Filling a batch wakes the exporter thread; hold the spans until all exist.
  std::vector<std::shared_ptr<Span>> spans;
  for (int i = 0; i < 10; ++i)
    spans.push_back(tracer->StartSpan("s", SpanKind::kInternal, nullptr));
  spans.clear();
  tracer->ForceFlush();
  EXPECT_EQ(tracer->stats().exported, 10);
  for (const auto& request : exporter->requests()) {
    EXPECT_LE(request.resource_spans(0).scope_spans(0).spans_size(), 4);
  }
}

TEST(TracerTest, FailedAndRejectedExportsCountAsDropped) {
  auto exporter = std::make_shared<MemoryExporter>();
  auto tracer = MakeTracer(QuietOptions(exporter));
  exporter->set_result(absl::UnavailableError("collector down"));
  for (int i = 0; i < 3; ++i) tracer->StartSpan("s", SpanKind::kInternal, nullptr)->End();
  tracer->ForceFlush();
  Tracer::Stats stats = tracer->stats();
  EXPECT_EQ(stats.exported, 0);
  EXPECT_EQ(stats.dropped, 3);
  EXPECT_EQ(stats.export_failures, 1);

  exporter->set_result(1);  // partial success: one rejected
  for (int i = 0; i < 3; ++i) tracer->StartSpan("s", SpanKind::kInternal, nullptr)->End();
  tracer->ForceFlush();
  stats = tracer->stats();
  EXPECT_EQ(stats.exported, 2);
  EXPECT_EQ(stats.dropped, 4);
  EXPECT_EQ(stats.export_failures, 1);
}

TEST(TracerTest, DestructionExportsWhatIsQueued) {
  auto exporter = std::make_shared<MemoryExporter>();
  auto tracer = MakeTracer(QuietOptions(exporter));
  for (int i = 0; i < 5; ++i) tracer->StartSpan("s", SpanKind::kInternal, nullptr)->End();
  tracer.reset();
  EXPECT_THAT(exporter->spans(), SizeIs(5));
}

TEST(GlobalTracerTest, OffByDefaultThenSetAndCleared) {
  EXPECT_EQ(GlobalTracer(), nullptr);
  auto tracer = MakeTracer(QuietOptions(std::make_shared<MemoryExporter>()));
  SetGlobalTracer(tracer.get());
  EXPECT_EQ(GlobalTracer(), tracer.get());
  SetGlobalTracer(nullptr);
  EXPECT_EQ(GlobalTracer(), nullptr);
}

TEST(IsServerErrorTest, FollowsTheOpenTelemetryGrpcConvention) {
  for (int code = 0; code <= 16; ++code) {
    auto c = static_cast<absl::StatusCode>(code);
    bool expected = c == absl::StatusCode::kUnknown || c == absl::StatusCode::kDeadlineExceeded ||
                    c == absl::StatusCode::kUnimplemented || c == absl::StatusCode::kInternal ||
                    c == absl::StatusCode::kUnavailable || c == absl::StatusCode::kDataLoss;
    EXPECT_EQ(IsServerError(c), expected) << absl::StatusCodeToString(c);
  }
}

}  // namespace
}  // namespace fanout::trace
