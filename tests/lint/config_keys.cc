// Prints every key of the node config, one path a line, for
// check_config_proofs.sh: `gateway.max_in_flight`,
// `backends.*.circuit_breaker.enabled`, `gateway.routes.*.calls.*.retry.max_attempts`.
// A map's entries and a repeated message's items are `*`; a key is a leaf
// (a scalar, an enum, a list of scalars, a map of scalars) or a message with
// no fields (`store.sqlite`, whose presence is the setting).
#include <iostream>
#include <string>

#include "fanout/config/v1/node_config.pb.h"
#include "google/protobuf/descriptor.h"

namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

void PrintKeys(const Descriptor& message, const std::string& prefix) {
  if (message.field_count() == 0) {
    std::cout << prefix << "\n";
    return;
  }
  for (int i = 0; i < message.field_count(); ++i) {
    const FieldDescriptor& field = *message.field(i);
    std::string path = prefix.empty() ? field.name() : prefix + "." + field.name();
    const Descriptor* child = field.message_type();
    if (field.is_map()) {
      child = field.message_type()->map_value()->message_type();
      if (child != nullptr) path += ".*";
    } else if (child != nullptr && field.is_repeated()) {
      path += ".*";
    }
    if (child == nullptr) {
      std::cout << path << "\n";
    } else {
      PrintKeys(*child, path);
    }
  }
}

}  // namespace

int main() {
  PrintKeys(*fanout::config::v1::NodeConfig::descriptor(), "");
  return 0;
}
