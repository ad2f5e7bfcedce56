// W3C Trace Context: the ids that tie the spans of one request together
// across processes, and the `traceparent` header that carries them.
//
//   std::optional<trace::SpanContext> parent =
//       trace::ParseTraceparent(headers["traceparent"], headers["tracestate"]);
//   auto span = tracer->StartSpan("GET /v1/users", SpanKind::kServer,
//                                 parent ? &*parent : nullptr);
//   outgoing["traceparent"] = trace::FormatTraceparent(span->context());
//
// https://www.w3.org/TR/trace-context/. Parsing is strict: a header that does
// not parse starts a new trace rather than joining a malformed one.
//
// Thread-safe: plain values and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fanout::trace {

// W3C trace context.
struct SpanContext {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};
  uint8_t flags = 0;       // bit 0: sampled
  std::string tracestate;  // W3C tracestate, carried on unchanged

  bool valid() const;  // both ids non-zero
  bool sampled() const { return (flags & 1) != 0; }
  std::string TraceIdHex() const;  // 32 lowercase hex
  std::string SpanIdHex() const;   // 16 lowercase hex
};

inline constexpr uint8_t kSampledFlag = 0x01;

// "00-<32 hex>-<16 hex>-<2 hex>"; nullopt for anything malformed per W3C
// (wrong lengths, uppercase hex, all-zero ids, version ff). A future version
// may carry extra "-..." fields after the flags; they are ignored.
std::optional<SpanContext> ParseTraceparent(std::string_view traceparent,
                                            std::string_view tracestate = {});
// Always version 00.
std::string FormatTraceparent(const SpanContext& context);

// New random ids from a per-thread generator; never all-zero.
std::array<uint8_t, 16> NewTraceId();
std::array<uint8_t, 8> NewSpanId();

// The sampling decision for a root span, as OpenTelemetry's TraceIdRatioBased
// makes it: the trace id's low 8 bytes (its random part, big-endian) below
// ratio * 2^64. A function of the id alone, so every service that sees the
// trace decides the same way. Ratio <= 0: never; >= 1: always.
bool SampledByRatio(const std::array<uint8_t, 16>& trace_id, double ratio);

}  // namespace fanout::trace
