// ParseJson: JSON text (RFC 8259) to a google.protobuf.Value tree, in one
// pass and in time linear in the text, with bounds on what one text may
// cost: nesting depth, values in all, bytes in one string. A REST body is
// caller input: nothing it holds can make the parse slower than its length
// or its tree larger than the limits.
//
//   JsonLimits limits{.max_depth = 64, .max_elements = 10000};
//   FANOUT_ASSIGN_OR_RETURN(Value body, ParseJson(request.body, limits));
//
// Errors are INVALID_ARGUMENT and say where and what: "at line 1 column 9:
// expected a value", "nesting deeper than 64 levels (gateway.json.max_depth)
// at line 1 column 65".
//
// Strict JSON: no comments, no trailing commas, no NaN/Infinity literals
// (protobuf's mapping sends those as the strings "NaN", "Infinity"), strings
// must be UTF-8. Of duplicate keys in an object the last wins. Numbers are
// doubles, as in google.protobuf.Value: an integer beyond 2^53 must travel
// as a string (protobuf's mapping prints 64-bit integers as strings).
//
// Thread-safe (a pure function).
#pragma once

#include <google/protobuf/struct.pb.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fanout::gateway {

struct JsonLimits {
  // Objects and arrays inside each other; 1 is a flat object.
  int max_depth = 64;
  // Values of any kind in the whole text (each key's value, each item).
  int64_t max_elements = 10000;
  // Bytes in one string or key, after unescaping.
  int64_t max_string_bytes = 256 * 1024;
  // Where the limits come from, for messages ("gateway.json").
  absl::string_view config_key = "gateway.json";

  // What the gateway uses for JSON it made itself (a backend's answer
  // printed and read back): as deep as protobuf lets a message nest.
  static JsonLimits Internal() {
    return {.max_depth = 200,
            .max_elements = INT64_MAX,
            .max_string_bytes = INT64_MAX,
            .config_key = "internal"};
  }
};

absl::StatusOr<google::protobuf::Value> ParseJson(absl::string_view text,
                                                  const JsonLimits& limits = {});

}  // namespace fanout::gateway
