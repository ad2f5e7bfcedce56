#include "node/telemetry/trace_context.h"

#include <cmath>
#include <cstring>

#include "absl/random/random.h"

namespace fanout::trace {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr size_t kVersion00Length = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2

template <size_t N>
bool AllZero(const std::array<uint8_t, N>& bytes) {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

template <size_t N>
std::string ToHex(const std::array<uint8_t, N>& bytes) {
  std::string hex(2 * N, '0');
  for (size_t i = 0; i < N; ++i) {
    hex[2 * i] = kHexDigits[bytes[i] >> 4];
    hex[2 * i + 1] = kHexDigits[bytes[i] & 0xf];
  }
  return hex;
}

// Lowercase only: W3C forbids uppercase, and accepting it would let two
// spellings of one id through.
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool ParseHex(std::string_view text, uint8_t* out, size_t size) {
  if (text.size() != 2 * size) return false;
  for (size_t i = 0; i < size; ++i) {
    int hi = HexValue(text[2 * i]);
    int lo = HexValue(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

absl::InsecureBitGen& ThreadRandom() {
  // Ids need to be unique, not secret; a per-thread PCG keeps StartSpan free
  // of locks and system calls.
  thread_local absl::InsecureBitGen gen;
  return gen;
}

template <size_t N>
std::array<uint8_t, N> NewId() {
  std::array<uint8_t, N> id{};
  do {
    for (size_t i = 0; i < N; i += 8) {
      uint64_t word = absl::Uniform<uint64_t>(ThreadRandom());
      std::memcpy(id.data() + i, &word, 8);
    }
  } while (AllZero(id));
  return id;
}

}  // namespace

bool SpanContext::valid() const { return !AllZero(trace_id) && !AllZero(span_id); }
std::string SpanContext::TraceIdHex() const { return ToHex(trace_id); }
std::string SpanContext::SpanIdHex() const { return ToHex(span_id); }

std::optional<SpanContext> ParseTraceparent(std::string_view traceparent,
                                            std::string_view tracestate) {
  std::string_view text = traceparent;
  if (text.size() < kVersion00Length) return std::nullopt;
  uint8_t version = 0;
  if (!ParseHex(text.substr(0, 2), &version, 1) || version == 0xff) return std::nullopt;
  // Version 00 is exactly 55 characters; a later version may append fields,
  // each introduced by '-', and is read as far as 00 defines it.
  if (version == 0 ? text.size() != kVersion00Length
                   : text.size() > kVersion00Length && text[kVersion00Length] != '-') {
    return std::nullopt;
  }
  if (text[2] != '-' || text[35] != '-' || text[52] != '-') return std::nullopt;
  SpanContext context;
  if (!ParseHex(text.substr(3, 32), context.trace_id.data(), 16) ||
      !ParseHex(text.substr(36, 16), context.span_id.data(), 8) ||
      !ParseHex(text.substr(53, 2), &context.flags, 1) || !context.valid()) {
    return std::nullopt;
  }
  context.tracestate = std::string(tracestate);
  return context;
}

std::string FormatTraceparent(const SpanContext& context) {
  std::string text;
  text.reserve(kVersion00Length);
  text.append("00-").append(context.TraceIdHex()).append("-").append(context.SpanIdHex());
  text.append("-").push_back(kHexDigits[context.flags >> 4]);
  text.push_back(kHexDigits[context.flags & 0xf]);
  return text;
}

std::array<uint8_t, 16> NewTraceId() { return NewId<16>(); }
std::array<uint8_t, 8> NewSpanId() { return NewId<8>(); }

bool SampledByRatio(const std::array<uint8_t, 16>& trace_id, double ratio) {
  if (!(ratio > 0.0)) return false;  // also NaN
  if (ratio >= 1.0) return true;
  uint64_t random_part = 0;
  for (size_t i = 8; i < 16; ++i) random_part = random_part << 8 | trace_id[i];
  // ratio < 1, so ratio * 2^64 < 2^64 fits (the largest double below 1 times
  // 2^64 is 2^64 - 2^11).
  uint64_t threshold = static_cast<uint64_t>(std::ldexp(ratio, 64));
  return random_part < threshold;
}

}  // namespace fanout::trace
