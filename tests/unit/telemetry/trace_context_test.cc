// W3C traceparent parsing and formatting, new ids, and the trace-id ratio
// sampling decision.
#include "node/telemetry/trace_context.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>
#include <string>

namespace fanout::trace {
namespace {

using ::testing::Optional;

constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kSpanId[] = "00f067aa0ba902b7";
constexpr char kSampled[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceparentTest, ParsesAndFormatsRoundTrip) {
  std::optional<SpanContext> context = ParseTraceparent(kSampled);
  ASSERT_TRUE(context.has_value());
  EXPECT_EQ(context->TraceIdHex(), kTraceId);
  EXPECT_EQ(context->SpanIdHex(), kSpanId);
  EXPECT_EQ(context->trace_id[0], 0x4b);
  EXPECT_EQ(context->span_id[7], 0xb7);
  EXPECT_TRUE(context->valid());
  EXPECT_TRUE(context->sampled());
  EXPECT_EQ(FormatTraceparent(*context), kSampled);
}

TEST(TraceparentTest, SampledFlagIsBitZero) {
  auto not_sampled = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(not_sampled.has_value());
  EXPECT_FALSE(not_sampled->sampled());
  // Other bits are carried but do not mean "sampled".
  auto other_bits = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02");
  ASSERT_TRUE(other_bits.has_value());
  EXPECT_FALSE(other_bits->sampled());
  EXPECT_EQ(FormatTraceparent(*other_bits),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02");
  auto both = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
  ASSERT_TRUE(both.has_value());
  EXPECT_TRUE(both->sampled());
}

TEST(TraceparentTest, CarriesTracestateUnchanged) {
  auto context = ParseTraceparent(kSampled, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  ASSERT_TRUE(context.has_value());
  EXPECT_EQ(context->tracestate, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
}

TEST(TraceparentTest, AcceptsFutureVersionAndIgnoresItsExtraFields) {
  auto plain = ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->TraceIdHex(), kTraceId);
  auto extra =
      ParseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future");
  ASSERT_TRUE(extra.has_value());
  EXPECT_EQ(extra->SpanIdHex(), kSpanId);
  EXPECT_TRUE(extra->sampled());
  // We speak version 00 onward.
  EXPECT_EQ(FormatTraceparent(*extra), kSampled);
}

class MalformedTraceparentTest : public ::testing::TestWithParam<const char*> {};

TEST_P(MalformedTraceparentTest, IsRejected) {
  EXPECT_EQ(ParseTraceparent(GetParam()), std::nullopt) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(
    W3C, MalformedTraceparentTest,
    ::testing::Values(
        "",                                                               // empty
        "00",                                                             // truncated
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",         // short flags
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",         // short trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",         // short span id
        "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",       // long trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b77-01",       // long span id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // v00 has no extras
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011",       // v00 exact length
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",        // uppercase trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",        // uppercase span id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",        // uppercase flags
        "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // uppercase version
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",        // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",        // zero span id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // version ff
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // separator
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",        // separator
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",        // separator
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",        // not hex
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // version not hex
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",        // flags not hex
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       // leading space
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",       // future: no '-'
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"));         // future: short

TEST(SpanContextTest, ValidNeedsBothIds) {
  SpanContext context;
  EXPECT_FALSE(context.valid());
  context.trace_id[15] = 1;
  EXPECT_FALSE(context.valid());
  context.span_id[0] = 1;
  EXPECT_TRUE(context.valid());
  EXPECT_EQ(context.TraceIdHex(), "00000000000000000000000000000001");
  EXPECT_EQ(context.SpanIdHex(), "0100000000000000");
}

TEST(IdsTest, NewIdsAreNonZeroAndDistinct) {
  std::set<std::array<uint8_t, 16>> trace_ids;
  std::set<std::array<uint8_t, 8>> span_ids;
  for (int i = 0; i < 1000; ++i) {
    trace_ids.insert(NewTraceId());
    span_ids.insert(NewSpanId());
  }
  EXPECT_EQ(trace_ids.size(), 1000u);
  EXPECT_EQ(span_ids.size(), 1000u);
  EXPECT_EQ(trace_ids.count({}), 0u);
  EXPECT_EQ(span_ids.count({}), 0u);
}

// Trace ids from a fixed seed: the counts below are the same on every run.
std::vector<std::array<uint8_t, 16>> SeededTraceIds(int n) {
  std::mt19937_64 random(20240611);
  std::vector<std::array<uint8_t, 16>> ids(n);
  for (auto& id : ids) {
    uint64_t high = random(), low = random();
    std::memcpy(id.data(), &high, 8);
    std::memcpy(id.data() + 8, &low, 8);
  }
  return ids;
}

int CountSampled(const std::vector<std::array<uint8_t, 16>>& ids, double ratio) {
  int sampled = 0;
  for (const auto& id : ids) sampled += SampledByRatio(id, ratio) ? 1 : 0;
  return sampled;
}

TEST(SampledByRatioTest, ZeroSamplesNoneAndOneSamplesAll) {
  auto ids = SeededTraceIds(10000);
  EXPECT_EQ(CountSampled(ids, 0.0), 0);
  EXPECT_EQ(CountSampled(ids, 1.0), 10000);
}

TEST(SampledByRatioTest, HalfSamplesAboutHalf) {
  auto ids = SeededTraceIds(10000);
  int half = CountSampled(ids, 0.5);
  EXPECT_GT(half, 4700);
  EXPECT_LT(half, 5300);
  int tenth = CountSampled(ids, 0.1);
  EXPECT_GT(tenth, 800);
  EXPECT_LT(tenth, 1200);
  // A lower ratio keeps a subset: a trace sampled at 10% is sampled at 50%.
  for (const auto& id : ids) {
    if (SampledByRatio(id, 0.1)) {
      EXPECT_TRUE(SampledByRatio(id, 0.5));
    }
  }
}

TEST(SampledByRatioTest, DecidesOnTheLowEightBytesAgainstRatioTimesTwoToThe64) {
  std::array<uint8_t, 16> id{};
  id.fill(0xff);  // the high half does not matter
  for (size_t i = 8; i < 16; ++i) id[i] = 0;
  id[8] = 0x7f;
  for (size_t i = 9; i < 16; ++i) id[i] = 0xff;  // 2^63 - 1
  EXPECT_TRUE(SampledByRatio(id, 0.5));
  id[8] = 0x80;
  for (size_t i = 9; i < 16; ++i) id[i] = 0x00;  // 2^63
  EXPECT_FALSE(SampledByRatio(id, 0.5));
  EXPECT_TRUE(SampledByRatio(id, 0.5000001));
}

}  // namespace
}  // namespace fanout::trace
