// Span: one timed operation of a trace (a server call, a backend call, a
// step of a handler), with attributes, events and an error status.
//
//   std::shared_ptr<trace::Span> span =
//       tracer->StartSpan("fanout.users.v1.Users/GetUser", SpanKind::kClient, &parent);
//   span->SetAttribute("rpc.system", "grpc");
//   span->SetAttribute("retry.attempt", 2);           // int64
//   span->AddEvent("hedge sent", {{"backend", "users-1"}});
//   if (!status.ok()) span->SetError(status.message());
//   span->End();                                      // or let it go out of scope
//
// Spans come from Tracer::StartSpan (node/telemetry/trace.h). A span that is
// not sampled still has ids, so its context propagates with the sampled flag
// off, but it records nothing: every setter returns at once. A recording span
// builds its OTLP proto in place, so End() only moves a pointer into the
// exporter's queue.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "node/telemetry/trace_context.h"

namespace opentelemetry::proto::trace::v1 {
class Span;
}  // namespace opentelemetry::proto::trace::v1

namespace fanout::trace {

namespace internal {
class SpanProcessor;
}  // namespace internal

// OTLP's numbers, so a kind converts to the wire as is.
enum class SpanKind { kInternal = 1, kServer = 2, kClient = 3, kProducer = 4, kConsumer = 5 };

// An attribute value given by callers: a string, an integer (stored as
// int64), a double or a bool. A bool stays a bool, and a string literal stays
// a string (neither decays into the other overloads). Strings are views: they
// must outlive the call they are passed to, nothing longer.
class AttributeValue {
 public:
  using Value = std::variant<std::string_view, int64_t, double, bool>;

  AttributeValue(const char* value) : value_(std::string_view(value)) {}
  AttributeValue(std::string_view value) : value_(value) {}
  AttributeValue(const std::string& value) : value_(std::string_view(value)) {}
  template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) AttributeValue(T value)
      : value_(static_cast<int64_t>(value)) {}
  AttributeValue(double value) : value_(value) {}
  AttributeValue(bool value) : value_(value) {}

  const Value& value() const { return value_; }

 private:
  Value value_;
};

struct Attribute {
  std::string_view key;
  AttributeValue value;
};

// Loop-affine: used by one thread at a time (the loop that handles the
// request). End() hands the finished span to the tracer's exporter queue,
// which is thread-safe; a span may end after its tracer is gone (it is then
// dropped and nothing else happens).
class Span {
 public:
  // Bounds that keep one chatty span from growing without limit; what goes
  // past them is counted in the span's dropped_*_count.
  static constexpr int kMaxAttributes = 128;
  static constexpr int kMaxEvents = 128;
  static constexpr int kMaxEventAttributes = 32;

  using Proto = opentelemetry::proto::trace::v1::Span;

  // Only Tracer makes the key, so only Tracer makes spans (through make_shared).
  class Key {
    friend class Tracer;
    Key() = default;
  };
  // `proto` and `processor` are null for a span that is not sampled.
  Span(Key, SpanContext context, int resource, std::unique_ptr<Proto> proto,
       std::shared_ptr<internal::SpanProcessor> processor);
  ~Span();  // Ends the span if End() was not called.
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

  const SpanContext& context() const { return context_; }
  // False when not sampled, and after End().
  bool recording() const { return proto_ != nullptr; }
  // Which of the tracer's resources (service.name) the span reports under.
  int resource() const { return resource_; }

  // Setting a key again replaces its value.
  void SetAttribute(std::string_view key, AttributeValue value);
  void AddEvent(std::string_view name, std::initializer_list<Attribute> attributes = {});
  // OTLP status ERROR with this message.
  void SetError(std::string_view description);
  // Renames the span: a server span learns its route after it started.
  void SetName(std::string_view name);
  // First call wins: sets the end time and submits the span.
  void End();

  // The OTLP span being built; null when not recording. For tests.
  const Proto* proto() const { return proto_.get(); }

 private:
  SpanContext context_;
  int resource_;
  std::unique_ptr<Proto> proto_;
  std::shared_ptr<internal::SpanProcessor> processor_;
};

}  // namespace fanout::trace
