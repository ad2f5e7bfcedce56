// fanoutd's configuration: the embedded defaults, a YAML file, environment
// overrides (what Kubernetes sets), and validation whose errors name the
// key and the value.
//
//   FANOUT_ASSIGN_OR_RETURN(NodeConfig config, LoadNodeConfig(path));   // "" → defaults
//
// Environment (each optional):
//   FANOUT_GRPC_ADDRESS, FANOUT_ADMIN_ADDRESS, FANOUT_DATA_DIR, FANOUT_NODE_NAME,
//   FANOUT_BACKEND_<NAME>_TARGET   e.g. FANOUT_BACKEND_ORDERS_TARGET=dns:///orders:50051
//   FANOUT_POSTGRES_DSN            store.postgres.dsn when the file chose
//                                  store.postgres and left dsn empty (a Secret)
//   OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT   tracing.otlp_endpoint
//   OTEL_EXPORTER_OTLP_HEADERS     tracing.headers the file does not set ("k=v,k2=v%202")
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "fanout/config/v1/node_config.pb.h"

namespace fanout::fanoutd {

using config::v1::NodeConfig;

// Users, orders, recommendations and the gateway in one process, SQLite
// under ./fanout-data. Not the lab (fault injection for tests and drills):
// only a config or flag that asks for it runs it.
NodeConfig DefaultNodeConfig();

// What fanoutd's flags add, over the defaults or the file.
struct ConfigFlags {
  bool with_lab = false;  // --with-lab: the lab role too (and, with a gateway, its routes)
};

// Defaults, then the file (if `path` is not empty), then the flags, then
// the environment, then validation. INVALID_ARGUMENT / NOT_FOUND naming
// file, key and value.
absl::StatusOr<NodeConfig> LoadNodeConfig(const std::string& path, ConfigFlags flags = {});

// Applies FANOUT_* variables from `getenv`.
absl::Status ApplyEnvironment(NodeConfig* config, char** environ);

absl::Status ValidateNodeConfig(const NodeConfig& config);

// The config as YAML-compatible JSON (JSON is YAML), loadable by --config.
std::string NodeConfigToText(const NodeConfig& config);

// The same for people to read (/config): every field marked secret in the
// schema ([(fanout.config.v1.secret) = true], node/config/redact.h) and
// credentials written into a backend target ("user:secret@host") read
// "[redacted]". A secret field added later is redacted by its annotation.
std::string RedactedConfigText(const NodeConfig& config);

// The backends this node can call by name: the configured ones and the
// roles it runs itself (called over loopback).
std::set<std::string> BackendNames(const NodeConfig& config);

// The roles this node runs and the gRPC service each serves
// ({"users", "fanout.users.v1.Users"}, ...): health, logs and traces name them.
std::vector<std::pair<std::string, std::string>> RoleServices(const config::v1::Roles& roles);

}  // namespace fanout::fanoutd
