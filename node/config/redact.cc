#include "node/config/redact.h"

#include <google/protobuf/descriptor.h>

#include <vector>

#include "fanout/config/v1/field_options.pb.h"

namespace fanout {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool IsSecret(const FieldDescriptor* field) {
  return field->options().GetExtension(config::v1::secret);
}

bool IsText(const FieldDescriptor* field) {
  return field->cpp_type() == FieldDescriptor::CPPTYPE_STRING;  // string and bytes
}

// `field` of `message` is secret and set.
void Redact(Message* message, const FieldDescriptor* field) {
  const Reflection* r = message->GetReflection();
  if (field->is_map()) {
    for (int i = 0; i < r->FieldSize(*message, field); ++i) {
      Message* entry = r->MutableRepeatedMessage(message, field, i);
      const FieldDescriptor* value = field->message_type()->map_value();
      if (IsText(value)) {
        entry->GetReflection()->SetString(entry, value, kRedacted);
      } else {
        entry->GetReflection()->ClearField(entry, value);
      }
    }
  } else if (field->is_repeated() && IsText(field)) {
    for (int i = 0; i < r->FieldSize(*message, field); ++i) {
      r->SetRepeatedString(message, field, i, kRedacted);
    }
  } else if (IsText(field)) {
    r->SetString(message, field, kRedacted);
  } else {
    r->ClearField(message, field);
  }
}

}  // namespace

void RedactSecrets(Message* message) {
  const Reflection* r = message->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*message, &fields);  // those set (lists and maps: non-empty)
  for (const FieldDescriptor* field : fields) {
    if (IsSecret(field)) {
      Redact(message, field);
    } else if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      continue;
    } else if (field->is_repeated()) {  // map entries too: their values may hold secrets
      for (int i = 0; i < r->FieldSize(*message, field); ++i) {
        RedactSecrets(r->MutableRepeatedMessage(message, field, i));
      }
    } else {
      RedactSecrets(r->MutableMessage(message, field));
    }
  }
}

}  // namespace fanout
