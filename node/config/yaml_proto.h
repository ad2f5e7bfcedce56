// YAML into protobuf messages, guided by the message's schema.
//
// Config files are YAML for people and a .proto for the program: the schema
// documents, versions and types the config. Reading walks the YAML next to
// the message descriptor, so every error names the key path and the value:
//
//   node.loops: expected an integer, got "two"
//   backends.orders: unknown key "timout_ms" (known: target, timeout_ms, ...)
//
//   fanout::config::v1::NodeConfig config;
//   FANOUT_RETURN_IF_ERROR(YamlToMessage(YAML::LoadFile(path), &config));
//
// Scalars map by field type (integers, floats, bools, strings, enums by
// name), mappings to messages or proto maps (string keys), sequences to
// repeated fields. Thread-safe (no shared state).
#pragma once

#include <google/protobuf/message.h>
#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace fanout {

// Fills `message` from `node` (merging into what it holds). INVALID_ARGUMENT
// naming the path on unknown keys, wrong types and out-of-range values.
absl::Status YamlToMessage(const YAML::Node& node, google::protobuf::Message* message);

// Parses YAML text first; a syntax error names line and column. `source`
// (a file name) prefixes every error.
absl::Status YamlTextToMessage(std::string_view text, std::string_view source,
                               google::protobuf::Message* message);

// Reads the file; NOT_FOUND naming it when it cannot be read.
absl::Status YamlFileToMessage(const std::string& path, google::protobuf::Message* message);

}  // namespace fanout
