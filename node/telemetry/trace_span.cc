#include "node/telemetry/trace_span.h"

#include <utility>

#include "absl/time/clock.h"
#include "node/telemetry/trace_processor.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"

namespace fanout::trace {
namespace {

using opentelemetry::proto::common::v1::AnyValue;
using opentelemetry::proto::common::v1::KeyValue;
using KeyValues = google::protobuf::RepeatedPtrField<KeyValue>;

void SetAnyValue(const AttributeValue& value, AnyValue* out) {
  struct Visitor {
    AnyValue* out;
    void operator()(std::string_view v) { out->set_string_value(v.data(), v.size()); }
    void operator()(int64_t v) { out->set_int_value(v); }
    void operator()(double v) { out->set_double_value(v); }
    void operator()(bool v) { out->set_bool_value(v); }
  };
  std::visit(Visitor{out}, value.value());
}

// Replaces the value of `key` if present, else appends while under `limit`.
// False when the attribute was dropped. Linear: spans carry a few attributes.
bool PutAttribute(std::string_view key, const AttributeValue& value, int limit,
                  KeyValues* attributes) {
  for (KeyValue& existing : *attributes) {
    if (existing.key() == key) {
      SetAnyValue(value, existing.mutable_value());
      return true;
    }
  }
  if (attributes->size() >= limit) return false;
  KeyValue* added = attributes->Add();
  added->set_key(key.data(), key.size());
  SetAnyValue(value, added->mutable_value());
  return true;
}

}  // namespace

Span::Span(Key, SpanContext context, int resource, std::unique_ptr<Proto> proto,
           std::shared_ptr<internal::SpanProcessor> processor)
    : context_(std::move(context)),
      resource_(resource),
      proto_(std::move(proto)),
      processor_(std::move(processor)) {}

Span::~Span() { End(); }

void Span::SetAttribute(std::string_view key, AttributeValue value) {
  if (!proto_) return;
  if (!PutAttribute(key, value, kMaxAttributes, proto_->mutable_attributes())) {
    proto_->set_dropped_attributes_count(proto_->dropped_attributes_count() + 1);
  }
}

void Span::AddEvent(std::string_view name, std::initializer_list<Attribute> attributes) {
  if (!proto_) return;
  if (proto_->events_size() >= kMaxEvents) {
    proto_->set_dropped_events_count(proto_->dropped_events_count() + 1);
    return;
  }
  Proto::Event* event = proto_->add_events();
  event->set_time_unix_nano(static_cast<uint64_t>(absl::GetCurrentTimeNanos()));
  event->set_name(name.data(), name.size());
  for (const Attribute& attribute : attributes) {
    if (!PutAttribute(attribute.key, attribute.value, kMaxEventAttributes,
                      event->mutable_attributes())) {
      event->set_dropped_attributes_count(event->dropped_attributes_count() + 1);
    }
  }
}

void Span::SetError(std::string_view description) {
  if (!proto_) return;
  auto* status = proto_->mutable_status();
  status->set_code(opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR);
  status->set_message(description.data(), description.size());
}

void Span::SetName(std::string_view name) {
  if (proto_) proto_->set_name(name.data(), name.size());
}

void Span::End() {
  if (!proto_) return;
  proto_->set_end_time_unix_nano(static_cast<uint64_t>(absl::GetCurrentTimeNanos()));
  processor_->Submit(resource_, std::move(proto_));
  processor_.reset();
}

}  // namespace fanout::trace
