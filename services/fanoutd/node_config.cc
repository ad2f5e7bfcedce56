#include "services/fanoutd/node_config.h"

#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <limits>
#include <map>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gateway/gateway_config.h"
#include "node/base/status_macros.h"
#include "node/config/redact.h"
#include "node/config/tls_config.h"
#include "node/config/yaml_proto.h"
#include "node/rpc/client.h"

namespace fanout::fanoutd {
namespace {

absl::Status Bad(const std::string& key, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(key, ": ", why));
}

absl::Status ValidateAddress(const std::string& key, const std::string& address) {
  if (absl::StartsWith(address, "unix:")) return absl::OkStatus();
  size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return Bad(key, absl::StrCat("expected host:port (port 0..65535) or unix:path, got \"", address,
                                 "\""));
  }
  return absl::OkStatus();
}

absl::Status ValidateTracing(const config::v1::Tracing& t) {
  if (t.has_sample_ratio() && !(t.sample_ratio() >= 0 && t.sample_ratio() <= 1)) {
    return Bad("tracing.sample_ratio", absl::StrCat("must be in [0, 1], got ", t.sample_ratio()));
  }
  if (t.max_queue_spans() < 0 || t.max_batch_spans() < 0) {
    return Bad("tracing", "max_queue_spans and max_batch_spans must be >= 0");
  }
  if (t.flush_interval_ms() < 0 || t.export_timeout_ms() < 0) {
    return Bad("tracing", "flush_interval_ms and export_timeout_ms must be >= 0");
  }
  for (const auto& [key, value] : t.headers()) {
    // The message names the key, never the value: it is a credential.
    std::string where = absl::StrCat("tracing.headers.", absl::CHexEscape(key));
    if (!CheckMetadata(key, "").ok() || absl::StartsWith(key, "grpc-")) {
      return Bad(where, "a key must be lower-case 0-9 a-z - _ . and not grpc-*");
    }
    if (!CheckMetadata(key, value).ok()) {
      return Bad(where, "the value must be printable ASCII (0x20-0x7E)");
    }
  }
  return absl::OkStatus();
}

// OTEL_EXPORTER_OTLP_HEADERS: "key=value,key=value", values percent-encoded
// (the W3C baggage form OpenTelemetry uses). Keys are lower-cased for gRPC.
absl::StatusOr<std::map<std::string, std::string>> ParseOtlpHeaders(absl::string_view text) {
  std::map<std::string, std::string> headers;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    size_t eq = item.find('=');
    std::string key = absl::AsciiStrToLower(absl::StripAsciiWhitespace(item.substr(0, eq)));
    if (eq == absl::string_view::npos || key.empty()) {
      return Bad("OTEL_EXPORTER_OTLP_HEADERS",
                 "expected key=value pairs separated by commas; an entry has no key or no '='");
    }
    absl::string_view encoded = absl::StripAsciiWhitespace(item.substr(eq + 1));
    std::string value;
    for (size_t i = 0; i < encoded.size(); ++i) {
      if (encoded[i] != '%') {
        value.push_back(encoded[i]);
        continue;
      }
      if (i + 2 >= encoded.size() || !absl::ascii_isxdigit(encoded[i + 1]) ||
          !absl::ascii_isxdigit(encoded[i + 2])) {
        return Bad("OTEL_EXPORTER_OTLP_HEADERS",
                   absl::StrCat("header \"", key, "\": '%' not followed by two hex digits"));
      }
      value.push_back(
          static_cast<char>(std::stoi(std::string(encoded.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    }
    headers[key] = std::move(value);
  }
  return headers;
}

absl::Status ValidateOrders(const config::v1::Orders& o) {
  constexpr int32_t kMostActors = 10'000'000;
  if (o.max_user_actors() < 0 || o.max_user_actors() > kMostActors) {
    return Bad("orders.max_user_actors", absl::StrCat("must be in [0, ", kMostActors,
                                                      "] (0: 10000), got ", o.max_user_actors()));
  }
  if (o.actor_idle_ms() < 0) {
    return Bad("orders.actor_idle_ms", absl::StrCat("must be >= 0, got ", o.actor_idle_ms()));
  }
  if (o.user_check_ttl_ms() < 0) {
    return Bad("orders.user_check_ttl_ms",
               absl::StrCat("must be >= 0, got ", o.user_check_ttl_ms()));
  }
  if (o.watch_poll_ms() < 0 || o.watch_poll_ms() > 60'000) {
    return Bad("orders.watch_poll_ms",
               absl::StrCat("must be in [0, 60000] (0: 50), got ", o.watch_poll_ms()));
  }
  return absl::OkStatus();
}

absl::Status ValidatePostgres(const config::v1::PostgresStore& p) {
  if (p.dsn().empty()) {
    return Bad("store.postgres.dsn",
               "must be set, in the file or in the environment's FANOUT_POSTGRES_DSN");
  }
  if (p.pool_size() < 0 || p.pool_size() > 64) {
    return Bad("store.postgres.pool_size",
               absl::StrCat("must be in [0, 64] (0: 8), got ", p.pool_size()));
  }
  if (p.serialization_retries() < 0 || p.serialization_retries() > 100) {
    return Bad("store.postgres.serialization_retries",
               absl::StrCat("must be in [0, 100] (0: 5), got ", p.serialization_retries()));
  }
  constexpr int64_t kMostMs = 3'600'000;
  for (const auto& [key, ms] :
       {std::pair{"statement_timeout_ms", p.statement_timeout_ms()},
        std::pair{"pool_wait_ms", p.pool_wait_ms()},
        std::pair{"connect_timeout_ms", p.connect_timeout_ms()},
        std::pair{"reconnect_max_backoff_ms", p.reconnect_max_backoff_ms()}}) {
    if (ms < 0 || ms > kMostMs) {
      return Bad(absl::StrCat("store.postgres.", key),
                 absl::StrCat("must be in [0, ", kMostMs, "] (0: the default), got ", ms));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateGrpcServer(const config::v1::GrpcServer& g) {
  constexpr int64_t kMostMs = std::numeric_limits<int>::max();  // gRPC takes an int
  if (g.max_concurrent_streams() < 0) {
    return Bad("grpc_server.max_concurrent_streams",
               absl::StrCat("must be >= 0 (0: 1000), got ", g.max_concurrent_streams()));
  }
  if (g.max_metadata_bytes() != 0 &&
      (g.max_metadata_bytes() < 1024 || g.max_metadata_bytes() > (16 << 20))) {
    return Bad(
        "grpc_server.max_metadata_bytes",
        absl::StrCat("must be 0 (8192) or in [1024, 16777216], got ", g.max_metadata_bytes()));
  }
  if (g.max_ping_strikes() < 0) {
    return Bad("grpc_server.max_ping_strikes",
               absl::StrCat("must be >= 0 (0: 2), got ", g.max_ping_strikes()));
  }
  for (const auto& [key, ms] :
       {std::pair{"min_ping_interval_ms", g.min_ping_interval_ms()},
        std::pair{"max_connection_age_ms", g.max_connection_age_ms()},
        std::pair{"max_connection_age_grace_ms", g.max_connection_age_grace_ms()},
        std::pair{"max_connection_idle_ms", g.max_connection_idle_ms()}}) {
    if (ms < 0 || ms > kMostMs) {
      return Bad(absl::StrCat("grpc_server.", key),
                 absl::StrCat("must be in [0, ", kMostMs, "] (0: the default), got ", ms));
    }
  }
  return absl::OkStatus();
}

// Every door's and client's TLS files load, and a node whose own gRPC door
// is TLS can call its local roles through it.
absl::Status ValidateTls(const NodeConfig& c) {
  FANOUT_RETURN_IF_ERROR(CheckTlsConfig("grpc_tls", c.grpc_tls(), TlsSide::kServer));
  FANOUT_RETURN_IF_ERROR(
      CheckTlsConfig("gateway.rest_tls", c.gateway().rest_tls(), TlsSide::kServer));
  FANOUT_RETURN_IF_ERROR(CheckTlsConfig("tracing.tls", c.tracing().tls(), TlsSide::kClient));
  for (const auto& [name, backend] : c.backends()) {
    FANOUT_RETURN_IF_ERROR(
        CheckTlsConfig(absl::StrCat("backends.", name, ".tls"), backend.tls(), TlsSide::kClient));
  }
  if (!TlsOptionsFromConfig(c.grpc_tls()).enabled() || !c.grpc_tls().ca_file().empty()) {
    return absl::OkStatus();
  }
  std::string local;  // a role this node calls through its own door
  if (c.roles().recommendations() && !c.backends().contains("orders")) local = "orders";
  if (c.roles().orders() && !c.backends().contains("users")) local = "users";
  for (const std::string& name : BackendNames(c)) {
    if (c.roles().gateway() && local.empty() && !c.backends().contains(name)) local = name;
  }
  if (!local.empty()) {
    return Bad("grpc_tls.ca_file",
               absl::StrCat("must be set: this node calls its own \"", local,
                            "\" role through its TLS gRPC door and checks that door's "
                            "certificate against ca_file"));
  }
  return absl::OkStatus();
}

}  // namespace

NodeConfig DefaultNodeConfig() {
  NodeConfig c;
  c.set_node_name("fanout");
  c.set_grpc_address("127.0.0.1:50051");
  c.set_data_dir("fanout-data");
  c.mutable_roles()->set_users(true);
  c.mutable_roles()->set_orders(true);
  c.mutable_roles()->set_recommendations(true);
  c.mutable_roles()->set_gateway(true);
  c.mutable_gateway()->set_rest_address("127.0.0.1:8080");
  c.mutable_shutdown()->set_grace_ms(5000);
  c.mutable_log()->set_level(config::v1::Log::INFO);
  c.mutable_offload()->set_threads(2);
  c.mutable_offload()->set_queue_capacity(1024);
  return c;
}

absl::Status ApplyEnvironment(NodeConfig* config, char** environ) {
  for (char** env = environ; env != nullptr && *env != nullptr; ++env) {
    std::pair<std::string, std::string> kv = absl::StrSplit(*env, absl::MaxSplits('=', 1));
    const auto& [key, value] = kv;
    if (key == "OTEL_EXPORTER_OTLP_ENDPOINT" || key == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
      // OpenTelemetry's form is a URL (http://jaeger:4317); gRPC wants host:port.
      if (config->tracing().otlp_endpoint().empty() ||
          key == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        absl::string_view target = value;
        if (absl::ConsumePrefix(&target, "http://") || absl::ConsumePrefix(&target, "https://")) {
          absl::ConsumeSuffix(&target, "/");
        }
        config->mutable_tracing()->set_otlp_endpoint(std::string(target));
      }
      continue;
    }
    if (key == "OTEL_EXPORTER_OTLP_HEADERS") {
      FANOUT_ASSIGN_OR_RETURN(auto headers, ParseOtlpHeaders(value));
      auto* configured = config->mutable_tracing()->mutable_headers();
      for (auto& [name, header] : headers) configured->try_emplace(name, std::move(header));
      continue;
    }
    if (!absl::StartsWith(key, "FANOUT_")) continue;
    if (key == "FANOUT_GRPC_ADDRESS")
      config->set_grpc_address(value);
    else if (key == "FANOUT_ADMIN_ADDRESS")
      config->set_admin_address(value);
    else if (key == "FANOUT_DATA_DIR")
      config->set_data_dir(value);
    else if (key == "FANOUT_NODE_NAME")
      config->set_node_name(value);
    else if (key == "FANOUT_POSTGRES_DSN") {
      if (config->store().has_postgres() && config->store().postgres().dsn().empty()) {
        config->mutable_store()->mutable_postgres()->set_dsn(value);
      }
    } else if (key == "FANOUT_REST_ADDRESS")
      config->mutable_gateway()->set_rest_address(value);
    else if (absl::StartsWith(key, "FANOUT_BACKEND_") && absl::EndsWith(key, "_TARGET")) {
      std::string name = absl::AsciiStrToLower(
          key.substr(sizeof("FANOUT_BACKEND_") - 1,
                     key.size() - (sizeof("FANOUT_BACKEND_") - 1) - (sizeof("_TARGET") - 1)));
      if (name.empty()) return Bad(key, "names no backend");
      (*config->mutable_backends())[name].set_target(value);
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateNodeConfig(const NodeConfig& c) {
  FANOUT_RETURN_IF_ERROR(ValidateAddress("grpc_address", c.grpc_address()));
  if (!c.admin_address().empty()) {
    FANOUT_RETURN_IF_ERROR(ValidateAddress("admin_address", c.admin_address()));
  }
  if (c.loops() < 0 || c.loops() > 256) {
    return Bad("loops", absl::StrCat("must be in [0, 256] (0: one per core), got ", c.loops()));
  }
  const auto& r = c.roles();
  if (!r.users() && !r.orders() && !r.recommendations() && !r.lab() && !r.gateway()) {
    return Bad("roles",
               "no role is enabled: set at least one of users, orders, "
               "recommendations, lab, gateway");
  }
  if (c.store().has_postgres()) {
    FANOUT_RETURN_IF_ERROR(ValidatePostgres(c.store().postgres()));
  } else if ((r.users() || r.orders()) && c.data_dir().empty()) {
    return Bad("data_dir", "must be set when users or orders run here on SQLite (they store data)");
  }
  for (const auto& [name, backend] : c.backends()) {
    std::string key = absl::StrCat("backends.", name);
    if (backend.target().empty()) return Bad(key + ".target", "must not be empty");
    if (backend.timeout_ms() < 0) {
      return Bad(key + ".timeout_ms", absl::StrCat("must be >= 0, got ", backend.timeout_ms()));
    }
    const std::string& lb = backend.load_balancing();
    if (backend.max_concurrent_calls() < 0 || backend.max_queued_calls() < 0) {
      return Bad(key, "max_concurrent_calls and max_queued_calls must be >= 0");
    }
    const auto& breaker = backend.circuit_breaker();
    if (breaker.failure_rate() < 0 || breaker.failure_rate() > 1) {
      return Bad(key + ".circuit_breaker.failure_rate",
                 absl::StrCat("must be in [0, 1], got ", breaker.failure_rate()));
    }
    if (breaker.min_calls() < 0 || breaker.window_ms() < 0 || breaker.open_ms() < 0 ||
        breaker.half_open_calls() < 0) {
      return Bad(key + ".circuit_breaker", "counts and durations must be >= 0");
    }
    const auto& adaptive = backend.adaptive_concurrency();
    if (adaptive.min_limit() < 0 || adaptive.max_limit() < 0 || adaptive.initial_limit() < 0 ||
        adaptive.tolerance() < 0 || adaptive.window_ms() < 0 ||
        adaptive.min_rtt_interval_ms() < 0 || adaptive.min_rtt_samples() < 0) {
      return Bad(key + ".adaptive_concurrency",
                 "limits, tolerance, durations and counts must be >= 0");
    }
    const int32_t max_limit = adaptive.max_limit() > 0 ? adaptive.max_limit() : 1000;
    if (adaptive.min_limit() > max_limit) {
      return Bad(key + ".adaptive_concurrency",
                 absl::StrCat("min_limit (", adaptive.min_limit(), ") is above max_limit (",
                              max_limit, ")"));
    }
    if (!lb.empty() && lb != "round_robin" && lb != "pick_first") {
      return Bad(key + ".load_balancing",
                 absl::StrCat("must be round_robin or pick_first, got \"", lb, "\""));
    }
  }
  if (r.orders() && !r.users() && !c.backends().contains("users")) {
    return Bad("backends.users",
               "orders checks every new user with the users backend: run the users "
               "role here or set backends.users.target");
  }
  FANOUT_RETURN_IF_ERROR(ValidateOrders(c.orders()));
  if (r.recommendations() && !r.orders() && !c.backends().contains("orders")) {
    return Bad("backends.orders",
               "recommendations needs the orders backend: run the orders "
               "role here or set backends.orders.target");
  }
  if (r.gateway())
    FANOUT_RETURN_IF_ERROR(gateway::CheckGatewayConfig(c.gateway(), BackendNames(c)));
  if (c.shutdown().grace_ms() < 0) {
    return Bad("shutdown.grace_ms", absl::StrCat("must be >= 0, got ", c.shutdown().grace_ms()));
  }
  FANOUT_RETURN_IF_ERROR(ValidateTracing(c.tracing()));
  FANOUT_RETURN_IF_ERROR(ValidateGrpcServer(c.grpc_server()));
  FANOUT_RETURN_IF_ERROR(ValidateTls(c));
  if (c.offload().threads() < 0 || c.offload().threads() > 64) {
    return Bad("offload.threads", absl::StrCat("must be in [0, 64], got ", c.offload().threads()));
  }
  if (c.offload().queue_capacity() < 0) {
    return Bad("offload.queue_capacity",
               absl::StrCat("must be >= 0, got ", c.offload().queue_capacity()));
  }
  return absl::OkStatus();
}

absl::StatusOr<NodeConfig> LoadNodeConfig(const std::string& path, ConfigFlags flags) {
  NodeConfig config = DefaultNodeConfig();
  if (!path.empty()) {
    // The file replaces the default roles rather than adding to them.
    config.clear_roles();
    FANOUT_RETURN_IF_ERROR(YamlFileToMessage(path, &config));
  }
  if (flags.with_lab) config.mutable_roles()->set_lab(true);
  FANOUT_RETURN_IF_ERROR(ApplyEnvironment(&config, ::environ));
  absl::Status valid = ValidateNodeConfig(config);
  if (!valid.ok() && !path.empty()) {
    return absl::Status(valid.code(), absl::StrCat(path, ": ", valid.message()));
  }
  FANOUT_RETURN_IF_ERROR(valid);
  return config;
}

std::string NodeConfigToText(const NodeConfig& config) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string text;
  (void)google::protobuf::util::MessageToJsonString(config, &text, options);
  return text;
}

std::string RedactedConfigText(const NodeConfig& config) {
  NodeConfig redacted = config;
  RedactSecrets(&redacted);  // every field marked (fanout.config.v1.secret)
  for (auto& [name, backend] : *redacted.mutable_backends()) {
    // A target is no secret, but credentials written into one are:
    // scheme://user:password@host → scheme://[redacted]@host
    const std::string& target = backend.target();
    size_t at = target.find('@');
    if (at == std::string::npos) continue;
    size_t start = target.find("://");
    start = start == std::string::npos ? 0 : start + 3;
    if (start < at) backend.set_target(target.substr(0, start) + kRedacted + target.substr(at));
  }
  return NodeConfigToText(redacted);
}

std::set<std::string> BackendNames(const NodeConfig& config) {
  std::set<std::string> names;
  for (const auto& [name, backend] : config.backends()) names.insert(name);
  const auto& r = config.roles();
  if (r.users()) names.insert("users");
  if (r.orders()) names.insert("orders");
  if (r.recommendations()) names.insert("recommendations");
  if (r.lab()) names.insert("lab");
  return names;
}

std::vector<std::pair<std::string, std::string>> RoleServices(const config::v1::Roles& roles) {
  std::vector<std::pair<std::string, std::string>> out;
  if (roles.users()) out.emplace_back("users", "fanout.users.v1.Users");
  if (roles.orders()) out.emplace_back("orders", "fanout.orders.v1.Orders");
  if (roles.recommendations())
    out.emplace_back("recommendations", "fanout.recommendations.v1.Recommendations");
  if (roles.lab()) out.emplace_back("lab", "fanout.lab.v1.Lab");
  if (roles.gateway()) out.emplace_back("gateway", "fanout.gateway.v1.Gateway");
  return out;
}

}  // namespace fanout::fanoutd
