// Secrets out of a config before people see it: every field marked
// [(fanout.config.v1.secret) = true] (proto/fanout/config/v1/field_options.proto),
// at any depth (in maps and lists of messages too), shows kRedacted instead
// of its value. A new secret field is redacted by its annotation alone.
//
//   NodeConfig shown = config;
//   RedactSecrets(&shown);
//   admin.Handle("/config", ... NodeConfigToText(shown) ...);
//
// A secret string or bytes field that is set reads kRedacted; a list, each
// value; a map, each value (keys stay: they name what is there, as a
// header's name). A secret field of another type (a number, a message) is
// cleared. Thread-compatible: it changes `message` and nothing else.
#pragma once

#include <google/protobuf/message.h>

namespace fanout {

inline constexpr char kRedacted[] = "[redacted]";

void RedactSecrets(google::protobuf::Message* message);

}  // namespace fanout
