// The tracer against a real OTLP/gRPC collector on 127.0.0.1:0 (OtlpCollector):
// spans arrive grouped by resource with their links, kinds and status; a
// collector that is down, refusing or stuck costs counted drops, never a
// blocked caller. No timed assertions: waits are bounded, counters add up.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "node/config/yaml_proto.h"
#include "node/otlp/otlp_exporter.h"
#include "node/otlp/tracing_config.h"
#include "node/rpc/tls_credentials.h"
#include "node/telemetry/trace.h"
#include "tests/support/eventually.h"
#include "tests/support/otlp_collector.h"
#include "tests/support/test_certificates.h"

namespace fanout::trace {
namespace {

using ::fanout::testing::Eventually;
using ::fanout::testing::OtlpCollector;
using ::testing::SizeIs;
using SpanProto = opentelemetry::proto::trace::v1::Span;

constexpr absl::Duration kWait = absl::Seconds(30);

std::unique_ptr<Tracer> MakeTracer(const OtlpOptions& otlp, Tracer::Options options) {
  absl::StatusOr<std::unique_ptr<Tracer>> tracer = NewOtlpTracer(otlp, std::move(options));
  EXPECT_TRUE(tracer.ok()) << tracer.status();
  return tracer.ok() ? *std::move(tracer) : nullptr;
}
std::unique_ptr<Tracer> MakeTracer(const std::string& endpoint, Tracer::Options options) {
  return MakeTracer(OtlpOptions{.endpoint = endpoint}, std::move(options));
}

// A tracer as a node config's `tracing: {...}` block makes it (fanoutd
// adds the service's name), exporting to `endpoint`.
std::unique_ptr<Tracer> TracerFromConfig(const std::string& endpoint, const std::string& yaml) {
  config::v1::Tracing config;
  absl::Status parsed = YamlTextToMessage(yaml, "test", &config);
  EXPECT_TRUE(parsed.ok()) << parsed;
  config.set_otlp_endpoint(endpoint);
  TracingOptions tracing = TracingOptionsFromConfig(config);
  return MakeTracer(tracing.otlp, std::move(tracing.tracer));
}

// Nothing listens on port 1, and no other test can take it meanwhile.
std::string DeadAddress() { return "127.0.0.1:1"; }

// Flushes until nothing is queued or in an export; false if that never came.
bool Drain(Tracer& tracer) {
  for (int i = 0; i < 100; ++i) {
    tracer.ForceFlush();
    if (tracer.stats().queued == 0) return true;
  }
  return false;
}

TEST(TraceExportTest, SpansArriveGroupedByResourceWithLinksKindsAndStatus) {
  OtlpCollector collector;
  ASSERT_TRUE(collector.ok());
  auto tracer = MakeTracer(collector.address(), {.service_name = "gateway",
                                                 .service_version = "0.1.0",
                                                 .flush_interval = absl::Milliseconds(50)});
  int users = tracer->AddResource("users");
  tracer->MapGrpcService("fanout.users.v1.Users", users);

  {
    auto request = tracer->StartSpan("GET /v1/users/{id}", SpanKind::kServer, nullptr);
    request->SetAttribute(attr::kHttpRequestMethod, "GET");
    auto call =
        tracer->StartSpan("fanout.users.v1.Users/GetUser", SpanKind::kClient, &request->context());
    // The backend side: the traceparent travels as text.
    std::optional<SpanContext> remote = ParseTraceparent(FormatTraceparent(call->context()));
    ASSERT_TRUE(remote.has_value());
    auto handler = tracer->StartSpan("fanout.users.v1.Users/GetUser", SpanKind::kServer, &*remote,
                                     tracer->ResourceOfGrpcService("fanout.users.v1.Users"));
    handler->SetAttribute(attr::kRpcGrpcStatusCode, 14);
    handler->SetError("store unavailable");
    handler->End();
    call->SetError("store unavailable");
    call->End();
  }
  ASSERT_TRUE(collector.WaitForSpans(3, kWait));

  std::vector<OtlpCollector::ReceivedSpan> spans = collector.Spans();
  ASSERT_THAT(spans, SizeIs(3));
  const OtlpCollector::ReceivedSpan* request = nullptr;
  const OtlpCollector::ReceivedSpan* call = nullptr;
  const OtlpCollector::ReceivedSpan* handler = nullptr;
  for (const auto& s : spans) {
    if (s.span.kind() == SpanProto::SPAN_KIND_CLIENT) call = &s;
    if (s.span.kind() == SpanProto::SPAN_KIND_SERVER && s.service_name == "users") handler = &s;
    if (s.span.kind() == SpanProto::SPAN_KIND_SERVER && s.service_name == "gateway") request = &s;
  }
  ASSERT_NE(request, nullptr);
  ASSERT_NE(call, nullptr);
  ASSERT_NE(handler, nullptr);
  EXPECT_EQ(call->service_name, "gateway");
  EXPECT_EQ(request->scope_name, "fanout");

  // One trace; each span's parent is the one before it.
  EXPECT_THAT(request->span.trace_id(), SizeIs(16));
  EXPECT_EQ(call->span.trace_id(), request->span.trace_id());
  EXPECT_EQ(handler->span.trace_id(), request->span.trace_id());
  EXPECT_EQ(request->span.parent_span_id(), "");
  EXPECT_EQ(call->span.parent_span_id(), request->span.span_id());
  EXPECT_EQ(handler->span.parent_span_id(), call->span.span_id());

  using Status = opentelemetry::proto::trace::v1::Status;
  EXPECT_EQ(request->span.status().code(), Status::STATUS_CODE_UNSET);
  EXPECT_EQ(handler->span.status().code(), Status::STATUS_CODE_ERROR);
  EXPECT_EQ(handler->span.status().message(), "store unavailable");
  EXPECT_EQ(request->span.attributes(0).value().string_value(), "GET");
  EXPECT_EQ(handler->span.attributes(0).value().int_value(), 14);
  EXPECT_GE(request->span.end_time_unix_nano(), request->span.start_time_unix_nano());
  EXPECT_GT(request->span.start_time_unix_nano(), 1'600'000'000'000'000'000u);  // wall clock
}

TEST(TraceExportTest, ForceFlushExportsWithoutWaitingForTheInterval) {
  OtlpCollector collector;
  auto tracer =
      MakeTracer(collector.address(), {.flush_interval = absl::Hours(1), .export_timeout = kWait});
  for (int i = 0; i < 5; ++i) tracer->StartSpan("s", SpanKind::kInternal, nullptr)->End();
  tracer->ForceFlush();
  EXPECT_EQ(tracer->stats().exported, 5);
  EXPECT_THAT(collector.Spans(), SizeIs(5));  // the collector answered after keeping them
  EXPECT_EQ(collector.Spans()[0].service_name, "fanout");
}

TEST(TraceExportTest, EveryExportCarriesTheConfiguredHeaders) {
  OtlpCollector collector;
  auto tracer =
      MakeTracer({.endpoint = collector.address(),
                  .headers = {{"authorization", "Bearer collector-token"}, {"x-tenant", "acme"}}},
                 {.flush_interval = absl::Hours(1), .export_timeout = kWait});
  tracer->StartSpan("s", SpanKind::kInternal, nullptr)->End();
  tracer->ForceFlush();
  EXPECT_EQ(tracer->stats().exported, 1);
  EXPECT_EQ(collector.last_metadata()["authorization"], "Bearer collector-token");
  EXPECT_EQ(collector.last_metadata()["x-tenant"], "acme");
  // A header gRPC cannot send is refused by name, its value never shown.
  absl::StatusOr<std::unique_ptr<Tracer>> bad =
      NewOtlpTracer({.endpoint = collector.address(), .headers = {{"x-key", "s3cret\n"}}}, {});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), ::testing::HasSubstr("x-key"));
  EXPECT_THAT(std::string(bad.status().message()), ::testing::Not(::testing::HasSubstr("s3cret")));
}

// proves: tracing.tls.ca_file, tracing.tls.cert_file, tracing.tls.key_file
TEST(TraceExportTest, ExportsOverMtlsToACollectorThatRequiresIt) {
  absl::StatusOr<testing::TestCertificates> certs = testing::TestCertificates::Create();
  ASSERT_TRUE(certs.ok()) << certs.status();
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentialsFor(certs->ServerTls(/*require_client_cert=*/true));
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  OtlpCollector collector(*credentials);
  ASSERT_TRUE(collector.ok());
  // 127.0.0.1 is among the certificate's names.
  auto tracer = TracerFromConfig(
      collector.address(),
      absl::StrCat(
          "{flush_interval_ms: 3600000, export_timeout_ms: 30000, tls: {ca_file: ", certs->ca,
          ", cert_file: ", certs->client_cert, ", key_file: ", certs->client_key, "}}"));
  for (int i = 0; i < 3; ++i) tracer->StartSpan("s", SpanKind::kInternal, nullptr)->End();
  tracer->ForceFlush();
  EXPECT_EQ(tracer->stats().exported, 3);
  EXPECT_THAT(collector.Spans(), SizeIs(3));

  // Without a client certificate the collector refuses the connection.
  auto bare = TracerFromConfig(
      collector.address(),
      absl::StrCat("{flush_interval_ms: 3600000, export_timeout_ms: 2000, tls: {ca_file: ",
                   certs->ca, "}}"));
  bare->StartSpan("s", SpanKind::kInternal, nullptr)->End();
  bare->ForceFlush();
  EXPECT_EQ(bare->stats().exported, 0);
  EXPECT_GE(bare->stats().export_failures, 1);
  EXPECT_THAT(collector.Spans(), SizeIs(3));
}

// The collector's certificate names 127.0.0.1 and localhost: asked for
// another name, the exporter refuses it.
// proves: tracing.tls.server_name_override
TEST(TraceExportTest, TheCollectorsCertificateMustCarryTheNameAsked) {
  absl::StatusOr<testing::TestCertificates> certs = testing::TestCertificates::Create();
  ASSERT_TRUE(certs.ok()) << certs.status();
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentialsFor(certs->ServerTls());
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  OtlpCollector collector(*credentials);
  ASSERT_TRUE(collector.ok());
  auto export_named = [&](const std::string& name) {
    auto tracer = TracerFromConfig(
        collector.address(),
        absl::StrCat("{flush_interval_ms: 3600000, export_timeout_ms: 5000, tls: {ca_file: ",
                     certs->ca, ", server_name_override: ", name, "}}"));
    tracer->StartSpan("s", SpanKind::kInternal, nullptr)->End();
    tracer->ForceFlush();
    return tracer->stats().exported;
  };
  EXPECT_EQ(export_named("localhost"), 1);
  EXPECT_EQ(export_named("elsewhere.example"), 0);
}

// An hour's interval and 100 ms, one span each: the short one's arrives
// while the long one's, ended first, still waits (until shutdown sends it).
// proves: tracing.flush_interval_ms
TEST(TraceExportTest, QueuedSpansAreSentEveryFlushInterval) {
  OtlpCollector hourly_collector, frequent_collector;
  auto hourly = TracerFromConfig(hourly_collector.address(),
                                 "{flush_interval_ms: 3600000, export_timeout_ms: 30000}");
  auto frequent = TracerFromConfig(frequent_collector.address(),
                                   "{flush_interval_ms: 100, export_timeout_ms: 30000}");
  hourly->StartSpan("s", SpanKind::kInternal, nullptr)->End();
  frequent->StartSpan("s", SpanKind::kInternal, nullptr)->End();

  ASSERT_TRUE(frequent_collector.WaitForSpans(1, kWait));
  EXPECT_THAT(hourly_collector.Spans(), SizeIs(0));
  EXPECT_EQ(hourly->stats().queued, 1);
  hourly.reset();
  EXPECT_THAT(hourly_collector.Spans(), SizeIs(1));
}

// Two collectors that never answer. The export given an hour is under way
// first; the one given 200 ms gives up and counts a failure while the
// other still waits, and gets its answer when its collector comes back.
// proves: tracing.export_timeout_ms
TEST(TraceExportTest, AnExportThatOutlivesItsTimeoutFails) {
  // Declared first, so destroyed last: a collector going away ends the
  // export under way, which the tracer's shutdown would otherwise wait for.
  std::unique_ptr<Tracer> patient, impatient;
  OtlpCollector patient_collector, impatient_collector;
  patient_collector.set_mode(OtlpCollector::Mode::kHang);
  impatient_collector.set_mode(OtlpCollector::Mode::kHang);

  patient = TracerFromConfig(patient_collector.address(),
                             "{flush_interval_ms: 10, export_timeout_ms: 3600000}");
  patient->StartSpan("s", SpanKind::kInternal, nullptr)->End();
  ASSERT_TRUE(Eventually([&] { return patient_collector.export_calls() == 1; }));
  impatient = TracerFromConfig(impatient_collector.address(),
                               "{flush_interval_ms: 10, export_timeout_ms: 200}");
  impatient->StartSpan("s", SpanKind::kInternal, nullptr)->End();

  ASSERT_TRUE(Eventually([&] { return impatient->stats().export_failures == 1; }));
  EXPECT_EQ(impatient->stats().dropped, 1);
  EXPECT_EQ(patient->stats().export_failures, 0);
  EXPECT_EQ(patient->stats().queued, 1);  // in the export under way
  patient_collector.set_mode(OtlpCollector::Mode::kAccept);
  EXPECT_TRUE(Eventually([&] { return patient->stats().exported == 1; }));
  EXPECT_THAT(patient_collector.Spans(), SizeIs(1));
}

// The exporters trust a CA that did not sign the collector's certificate;
// then the collector's CA is renamed over that file, as Kubernetes updates
// a Secret. The exporter that re-reads its files every second exports once
// gRPC reconnects; the one that re-reads them hourly, connecting for the
// first time after that, still refuses the collector.
// proves: tracing.tls.reload_interval_ms
TEST(TraceExportTest, ARotatedCaFileIsTrustedAfterTheReloadInterval) {
  absl::StatusOr<testing::TestCertificates> trusted = testing::TestCertificates::Create();
  ASSERT_TRUE(trusted.ok()) << trusted.status();
  absl::StatusOr<testing::TestCertificates> collectors_pki = testing::TestCertificates::Create();
  ASSERT_TRUE(collectors_pki.ok()) << collectors_pki.status();
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentialsFor(collectors_pki->ServerTls());
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  // One each: no connection can be shared between the two exporters.
  OtlpCollector hourly_collector(*credentials), every_second_collector(*credentials);
  auto tracer_reloading = [&](const OtlpCollector& collector, int reload_interval_ms) {
    return TracerFromConfig(
        collector.address(),
        absl::StrCat("{flush_interval_ms: 3600000, export_timeout_ms: 5000, tls: {ca_file: ",
                     trusted->ca, ", reload_interval_ms: ", reload_interval_ms, "}}"));
  };
  auto hourly = tracer_reloading(hourly_collector, 3600000);
  auto every_second = tracer_reloading(every_second_collector, 1000);
  auto export_one = [](Tracer& tracer) {
    tracer.StartSpan("s", SpanKind::kInternal, nullptr)->End();
    tracer.ForceFlush();
    return tracer.stats().exported > 0;
  };
  ASSERT_FALSE(export_one(*every_second));  // the CA it read did not sign the collector's

  std::filesystem::rename(collectors_pki->ca, trusted->ca);
  // gRPC retries the connection with backoff (1 s, then longer).
  EXPECT_TRUE(Eventually([&] { return export_one(*every_second); }));
  EXPECT_FALSE(export_one(*hourly));
  EXPECT_THAT(hourly_collector.Spans(), SizeIs(0));
}

TEST(TraceExportTest, DestructionExportsWhatIsLeft) {
  OtlpCollector collector;
  auto tracer =
      MakeTracer(collector.address(), {.flush_interval = absl::Hours(1), .export_timeout = kWait});
  for (int i = 0; i < 7; ++i) tracer->StartSpan("s", SpanKind::kInternal, nullptr)->End();
  tracer.reset();
  EXPECT_THAT(collector.Spans(), SizeIs(7));
}

TEST(TraceExportTest, CollectorDownDropsAndCountsWithoutSlowingCallers) {
  auto tracer = MakeTracer(DeadAddress(), {.flush_interval = absl::Milliseconds(10),
                                           .export_timeout = absl::Seconds(2)});
  constexpr int kSpans = 10000;
  for (int i = 0; i < kSpans; ++i) {
    auto span = tracer->StartSpan("s", SpanKind::kInternal, nullptr);
    span->SetAttribute("i", i);
    span->End();
  }
  ASSERT_TRUE(Drain(*tracer));
  Tracer::Stats stats = tracer->stats();
  EXPECT_EQ(stats.exported, 0);
  EXPECT_EQ(stats.dropped, kSpans);
  EXPECT_GE(stats.export_failures, 1);
}

TEST(TraceExportTest, RefusingCollectorCountsFailuresThenRecovers) {
  OtlpCollector collector;
  collector.set_mode(OtlpCollector::Mode::kUnavailable);
  auto tracer =
      MakeTracer(collector.address(), {.flush_interval = absl::Hours(1), .export_timeout = kWait});
  for (int i = 0; i < 3; ++i) tracer->StartSpan("refused", SpanKind::kInternal, nullptr)->End();
  ASSERT_TRUE(Drain(*tracer));
  EXPECT_EQ(tracer->stats().dropped, 3);
  EXPECT_EQ(tracer->stats().export_failures, 1);
  EXPECT_THAT(collector.Spans(), SizeIs(0));

  collector.set_mode(OtlpCollector::Mode::kAccept);
  for (int i = 0; i < 2; ++i) tracer->StartSpan("accepted", SpanKind::kInternal, nullptr)->End();
  ASSERT_TRUE(Drain(*tracer));
  EXPECT_EQ(tracer->stats().exported, 2);
  ASSERT_THAT(collector.Spans(), SizeIs(2));
  EXPECT_EQ(collector.Spans()[0].span.name(), "accepted");
}

// proves: tracing.max_queue_spans
TEST(TraceExportTest, HangingCollectorFillsTheQueueAndEndNeverBlocks) {
  OtlpCollector collector;
  collector.set_mode(OtlpCollector::Mode::kHang);
  constexpr int kSpans = 10000;
  constexpr int kQueue = 100;
  constexpr int kBatch = 10;
  auto tracer = TracerFromConfig(
      collector.address(), absl::StrCat("{max_queue_spans: ", kQueue, ", max_batch_spans: ", kBatch,
                                        ", flush_interval_ms: 10, export_timeout_ms: 500}"));
  for (int i = 0; i < kSpans; ++i) tracer->StartSpan("s", SpanKind::kInternal, nullptr)->End();

  // Every span is somewhere: at most a queue and one batch wait, the rest was
  // dropped at End().
  Tracer::Stats stats = tracer->stats();
  EXPECT_EQ(stats.exported + stats.dropped + stats.queued, kSpans);
  EXPECT_LE(stats.queued, kQueue + kBatch);
  EXPECT_GE(stats.dropped, kSpans - kQueue - kBatch);

  // The stuck exports time out and count as failures.
  for (int i = 0; i < 100 && tracer->stats().export_failures == 0; ++i) tracer->ForceFlush();
  EXPECT_GE(tracer->stats().export_failures, 1);
  EXPECT_GE(collector.export_calls(), 1);
  tracer.reset();  // bounded by export_timeout
}

// Five spans in batches of two: three Export calls (the default: one).
// proves: tracing.max_batch_spans
TEST(TraceExportTest, ExportsCarryAtMostMaxBatchSpans) {
  OtlpCollector collector;
  auto tracer = TracerFromConfig(
      collector.address(),
      "{max_batch_spans: 2, flush_interval_ms: 3600000, export_timeout_ms: 30000}");
  for (int i = 0; i < 5; ++i) tracer->StartSpan("s", SpanKind::kInternal, nullptr)->End();
  ASSERT_TRUE(Drain(*tracer));
  EXPECT_THAT(collector.Spans(), SizeIs(5));
  EXPECT_EQ(collector.export_calls(), 3);
}

// A ratio of 0 records no new trace; unset, every one.
// proves: tracing.sample_ratio
TEST(TraceExportTest, NewTracesAreSampledAtTheConfiguredRatio) {
  OtlpCollector collector;
  const std::string quiet = "flush_interval_ms: 3600000, export_timeout_ms: 30000";
  auto none = TracerFromConfig(collector.address(), "{sample_ratio: 0, " + quiet + "}");
  for (int i = 0; i < 5; ++i) none->StartSpan("dropped", SpanKind::kInternal, nullptr)->End();
  ASSERT_TRUE(Drain(*none));
  EXPECT_THAT(collector.Spans(), SizeIs(0));
  auto all = TracerFromConfig(collector.address(), "{" + quiet + "}");
  for (int i = 0; i < 5; ++i) all->StartSpan("kept", SpanKind::kInternal, nullptr)->End();
  ASSERT_TRUE(Drain(*all));
  EXPECT_THAT(collector.Spans(), SizeIs(5));
}

}  // namespace
}  // namespace fanout::trace
