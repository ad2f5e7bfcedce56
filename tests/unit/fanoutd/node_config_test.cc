// fanoutd's config: what the embedded defaults run, how the limits of the
// gRPC and REST doors are checked, how OTLP headers come from the
// environment, and what /config shows of secrets.
#include "services/fanoutd/node_config.h"

#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fanout/config/v1/field_options.pb.h"
#include "node/config/yaml_proto.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_certificates.h"

namespace fanout::fanoutd {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

NodeConfig FromYaml(const std::string& yaml) {
  NodeConfig config = DefaultNodeConfig();
  EXPECT_THAT(YamlTextToMessage(yaml, "test", &config), IsOk());
  return config;
}

TEST(NodeConfigTest, TheDefaultNodeRunsNoLab) {
  NodeConfig config = DefaultNodeConfig();
  EXPECT_TRUE(config.roles().users());
  EXPECT_TRUE(config.roles().orders());
  EXPECT_TRUE(config.roles().recommendations());
  EXPECT_TRUE(config.roles().gateway());
  EXPECT_FALSE(config.roles().lab());
  EXPECT_THAT(BackendNames(config), Not(::testing::Contains("lab")));
  EXPECT_THAT(ValidateNodeConfig(config), IsOk());
}

// Every check ValidateNodeConfig makes, one mistake each: the node refuses
// to start with INVALID_ARGUMENT, and the message begins with the key.
TEST(NodeConfigTest, EveryMistakeIsRefusedNamingItsKey) {
  struct Case {
    std::string yaml;
    std::string error;  // The message's beginning.
  };
  for (const Case& c : std::vector<Case>{
           {"grpc_address: nonsense",
            "grpc_address: expected host:port (port 0..65535) or unix:path, got \"nonsense\""},
           {"grpc_address: \":50051\"", "grpc_address: expected host:port"},
           {"admin_address: \"127.0.0.1:70000\"", "admin_address: expected host:port"},
           {"loops: 257", "loops: must be in [0, 256] (0: one per core), got 257"},
           {"loops: -1", "loops: must be in [0, 256]"},
           {"roles: {users: false, orders: false, recommendations: false, gateway: false}",
            "roles: no role is enabled"},
           {"data_dir: \"\"", "data_dir: must be set when users or orders run here"},
           {"backends: {x: {timeout_ms: 5}}", "backends.x.target: must not be empty"},
           {"backends: {x: {target: \"h:1\", timeout_ms: -1}}",
            "backends.x.timeout_ms: must be >= 0, got -1"},
           {"backends: {x: {target: \"h:1\", max_concurrent_calls: -1}}",
            "backends.x: max_concurrent_calls and max_queued_calls must be >= 0"},
           {"backends: {x: {target: \"h:1\", max_queued_calls: -1}}",
            "backends.x: max_concurrent_calls and max_queued_calls must be >= 0"},
           {"backends: {x: {target: \"h:1\", circuit_breaker: {failure_rate: 1.5}}}",
            "backends.x.circuit_breaker.failure_rate: must be in [0, 1], got 1.5"},
           {"backends: {x: {target: \"h:1\", circuit_breaker: {window_ms: -1}}}",
            "backends.x.circuit_breaker: counts and durations must be >= 0"},
           {"backends: {x: {target: \"h:1\", load_balancing: random}}",
            "backends.x.load_balancing: must be round_robin or pick_first, got \"random\""},
           {"backends: {x: {target: \"h:1\", adaptive_concurrency: {min_limit: -1}}}",
            "backends.x.adaptive_concurrency: limits, tolerance, durations and counts must be >= "
            "0"},
           {"backends: {x: {target: \"h:1\", adaptive_concurrency: {min_limit: 2000}}}",
            "backends.x.adaptive_concurrency: min_limit (2000) is above max_limit (1000)"},
           {"roles: {users: false}", "backends.users: orders checks every new user"},
           {"roles: {orders: false}", "backends.orders: recommendations needs the orders backend"},
           {"orders: {max_user_actors: 10000001}",
            "orders.max_user_actors: must be in [0, 10000000] (0: 10000), got 10000001"},
           {"orders: {actor_idle_ms: -1}", "orders.actor_idle_ms: must be >= 0, got -1"},
           {"orders: {user_check_ttl_ms: -1}", "orders.user_check_ttl_ms: must be >= 0, got -1"},
           {"orders: {watch_poll_ms: 60001}",
            "orders.watch_poll_ms: must be in [0, 60000] (0: 50), got 60001"},
           {"gateway: {routes: [{name: r, path: /r, calls: [{name: a, backend: nowhere, "
            "method: fanout.lab.v1.Lab/Echo}]}]}",
            "gateway.routes[0] route \"r\": call \"a\": backend \"nowhere\" is not configured"},
           {"shutdown: {grace_ms: -1}", "shutdown.grace_ms: must be >= 0, got -1"},
           {"tracing: {sample_ratio: 1.5}", "tracing.sample_ratio: must be in [0, 1], got 1.5"},
           {"tracing: {max_queue_spans: -1}",
            "tracing: max_queue_spans and max_batch_spans must be >= 0"},
           {"tracing: {export_timeout_ms: -1}",
            "tracing: flush_interval_ms and export_timeout_ms must be >= 0"},
           {"tracing: {headers: {\"Bad Key\": x}}",
            "tracing.headers.Bad Key: a key must be lower-case"},
           {"tracing: {headers: {grpc-timeout: x}}",
            "tracing.headers.grpc-timeout: a key must be lower-case"},
           {"tracing: {headers: {authorization: \"a\\x01b\"}}",
            "tracing.headers.authorization: the value must be printable ASCII"},
           {"grpc_tls: {cert_file: /nonexistent/cert.pem, key_file: /nonexistent/key.pem}",
            "grpc_tls"},
           {"backends: {x: {target: \"h:1\", tls: {ca_file: /nonexistent/ca.pem}}}",
            "backends.x.tls"},
           {"offload: {threads: 65}", "offload.threads: must be in [0, 64], got 65"},
           {"offload: {queue_capacity: -1}", "offload.queue_capacity: must be >= 0, got -1"},
       }) {
    absl::Status status = ValidateNodeConfig(FromYaml(c.yaml));
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument)) << c.yaml;
    EXPECT_TRUE(absl::StartsWith(status.message(), c.error))
        << c.yaml << "\n  got: " << status.message() << "\n  expected it to begin: " << c.error;
  }
}

// A TLS key that has no meaning where it is set (the Tls message is the
// same for doors and clients) is refused, naming where, never ignored.
// proves: grpc_tls.server_name_override, gateway.rest_tls.server_name_override
// proves: backends.*.tls.require_client_cert, tracing.tls.require_client_cert
TEST(NodeConfigTest, TlsKeysOfTheOtherSideAreRefused) {
  const std::string door = "{cert_file: /c.pem, key_file: /k.pem, server_name_override: n}";
  const std::string client = "{ca_file: /ca.pem, require_client_cert: true}";
  for (const auto& [yaml, error] : std::vector<std::pair<std::string, std::string>>{
           {"grpc_tls: " + door,
            "grpc_tls: server_name_override is for clients; a door does not use it"},
           {"gateway: {rest_tls: " + door + "}",
            "gateway.rest_tls: server_name_override is for clients"},
           {"backends: {x: {target: \"h:1\", tls: " + client + "}}",
            "backends.x.tls: require_client_cert is for doors, not clients"},
           {"tracing: {tls: " + client + "}",
            "tracing.tls: require_client_cert is for doors, not clients"},
       }) {
    EXPECT_THAT(ValidateNodeConfig(FromYaml(yaml)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(error)))
        << yaml;
  }
}

// The frame relay takes TLS as the gRPC door and the backends have it.
TEST(NodeConfigTest, TheRelayGoesWithTlsOnEitherSide) {
  absl::StatusOr<testing::TestCertificates> certs = testing::TestCertificates::Create();
  ASSERT_THAT(certs, IsOk());
  const std::string relay = "gateway: {grpc_relay_address: \"127.0.0.1:0\"}\n";
  EXPECT_THAT(ValidateNodeConfig(FromYaml(relay)), IsOk());
  EXPECT_THAT(ValidateNodeConfig(FromYaml(
                  absl::StrCat(relay, "grpc_tls: {cert_file: ", certs->server_cert,
                               ", key_file: ", certs->server_key, ", ca_file: ", certs->ca, "}"))),
              IsOk());
  EXPECT_THAT(ValidateNodeConfig(FromYaml(absl::StrCat(
                  relay, "backends: {x: {target: \"h:1\", tls: {ca_file: ", certs->ca, "}}}"))),
              IsOk());
}

TEST(NodeConfigTest, GrpcServerLimitsAreCheckedByKey) {
  EXPECT_THAT(ValidateNodeConfig(FromYaml(R"(
grpc_server: {max_concurrent_streams: 100, max_metadata_bytes: 16384, min_ping_interval_ms: 5000,
              max_ping_strikes: 3, permit_keepalive_without_calls: true,
              max_connection_age_ms: 600000, max_connection_age_grace_ms: 1000,
              max_connection_idle_ms: 60000, reflection: false}
)")),
              IsOk());
  struct Case {
    std::string yaml;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {"grpc_server: {max_concurrent_streams: -1}",
            "grpc_server.max_concurrent_streams: must be >= 0 (0: 1000), got -1"},
           {"grpc_server: {max_metadata_bytes: 100}",
            "grpc_server.max_metadata_bytes: must be 0 (8192) or in [1024, 16777216], got 100"},
           {"grpc_server: {max_metadata_bytes: 20000000}",
            "grpc_server.max_metadata_bytes: must be 0 (8192) or in [1024, 16777216], got "
            "20000000"},
           {"grpc_server: {max_ping_strikes: -2}",
            "grpc_server.max_ping_strikes: must be >= 0 (0: 2), got -2"},
           {"grpc_server: {min_ping_interval_ms: -1}",
            "grpc_server.min_ping_interval_ms: must be in"},
           {"grpc_server: {max_connection_age_ms: 3000000000}",
            "grpc_server.max_connection_age_ms: must be in [0, 2147483647] (0: the default), got "
            "3000000000"},
           {"grpc_server: {max_connection_age_grace_ms: -5}",
            "grpc_server.max_connection_age_grace_ms: must be in"},
           {"grpc_server: {max_connection_idle_ms: -5}",
            "grpc_server.max_connection_idle_ms: must be in"},
       }) {
    EXPECT_THAT(ValidateNodeConfig(FromYaml(c.yaml)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.error)))
        << c.yaml;
  }
}

TEST(NodeConfigTest, RestDoorLimitsAreCheckedByKey) {
  EXPECT_THAT(ValidateNodeConfig(FromYaml(R"(
gateway: {max_header_bytes: 16384, read_timeout_ms: 5000, idle_timeout_ms: 30000,
          max_requests_per_connection: 1000, max_connections: 500}
)")),
              IsOk());
  for (const auto& [yaml, error] : std::vector<std::pair<std::string, std::string>>{
           {"gateway: {max_header_bytes: -1}",
            "gateway.max_header_bytes: must be 0 (8192) to 1048576, got -1"},
           {"gateway: {max_header_bytes: 2000000}",
            "gateway.max_header_bytes: must be 0 (8192) to 1048576, got 2000000"},
           {"gateway: {read_timeout_ms: -1}", "gateway.read_timeout_ms: must be >= 0, got -1"},
           {"gateway: {idle_timeout_ms: -1}", "gateway.idle_timeout_ms: must be >= 0, got -1"},
           {"gateway: {max_requests_per_connection: -1}",
            "gateway.max_requests_per_connection: must be >= 0, got -1"},
           {"gateway: {max_connections: -1}", "gateway.max_connections: must be >= 0, got -1"},
       }) {
    EXPECT_THAT(ValidateNodeConfig(FromYaml(yaml)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(error)))
        << yaml;
  }
}

TEST(NodeConfigTest, OtlpHeadersComeFromTheEnvironmentUnderTheFilesOwn) {
  NodeConfig config = FromYaml("tracing: {headers: {authorization: \"Bearer from-file\"}}");
  std::vector<std::string> env = {
      "OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20from-env, X-Team = blue%2Cgreen "
      ",x-empty="};
  std::vector<char*> vars;
  for (std::string& entry : env) vars.push_back(entry.data());
  vars.push_back(nullptr);
  ASSERT_THAT(ApplyEnvironment(&config, vars.data()), IsOk());
  EXPECT_THAT(config.tracing().headers(),
              UnorderedElementsAre(Pair("authorization", "Bearer from-file"),
                                   Pair("x-team", "blue,green"), Pair("x-empty", "")));
  EXPECT_THAT(ValidateNodeConfig(config), IsOk());

  for (const auto& [value, error] : std::vector<std::pair<std::string, std::string>>{
           {"nokey", "expected key=value pairs separated by commas; an entry has no key or no '='"},
           {"=v", "expected key=value pairs separated by commas; an entry has no key or no '='"},
           {"k=abc%2", "header \"k\": '%' not followed by two hex digits"},
           {"k=%zz", "header \"k\": '%' not followed by two hex digits"},
       }) {
    std::string entry = "OTEL_EXPORTER_OTLP_HEADERS=" + value;
    char* bad[] = {entry.data(), nullptr};
    NodeConfig fresh = DefaultNodeConfig();
    EXPECT_THAT(ApplyEnvironment(&fresh, bad),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("OTEL_EXPORTER_OTLP_HEADERS: " + error)))
        << value;
  }
}

TEST(NodeConfigTest, BadOtlpHeadersNameTheKeyNeverTheValue) {
  NodeConfig bad_key = FromYaml("tracing: {headers: {\"X Key\": s3cret}}");
  EXPECT_THAT(ValidateNodeConfig(bad_key),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("tracing.headers.X Key: a key must be lower-case"),
                             Not(HasSubstr("s3cret")))));
  NodeConfig reserved = FromYaml("tracing: {headers: {grpc-timeout: 1S}}");
  EXPECT_THAT(ValidateNodeConfig(reserved), StatusIs(absl::StatusCode::kInvalidArgument,
                                                     HasSubstr("tracing.headers.grpc-timeout")));
  NodeConfig bad_value = FromYaml("tracing: {headers: {x-key: \"s3cret\\n\"}}");
  EXPECT_THAT(ValidateNodeConfig(bad_value),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("tracing.headers.x-key: the value must be printable ASCII"),
                             Not(HasSubstr("s3cret")))));
}

TEST(NodeConfigTest, ShownConfigRedactsSecretsAndCredentialsInTargets) {
  NodeConfig config = FromYaml(R"(
tracing: {otlp_endpoint: "127.0.0.1:4317", headers: {authorization: "Bearer t0ken", x-team: blue}}
backends: {users: {target: "dns://alice:pa55@users:50051"}}
)");
  std::string shown = RedactedConfigText(config);
  EXPECT_THAT(shown, HasSubstr(R"("authorization": "[redacted]")"));
  EXPECT_THAT(shown, HasSubstr(R"("x-team": "[redacted]")"));
  EXPECT_THAT(shown, HasSubstr(R"("target": "dns://[redacted]@users:50051")"));
  EXPECT_THAT(shown, HasSubstr(R"("otlp_endpoint": "127.0.0.1:4317")"));
  for (const char* secret : {"t0ken", "blue", "pa55", "alice"}) {
    EXPECT_THAT(shown, Not(HasSubstr(secret)));
  }
}

// Every field reachable from NodeConfig that is marked secret.
void SecretFields(const Descriptor* type, std::set<const Descriptor*>* seen,
                  std::vector<const FieldDescriptor*>* out) {
  if (!seen->insert(type).second) return;
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    if (field->options().GetExtension(config::v1::secret)) out->push_back(field);
    if (field->message_type() != nullptr) SecretFields(field->message_type(), seen, out);
  }
}

TEST(NodeConfigTest, SecretFieldsHoldText) {
  std::set<const Descriptor*> seen;
  std::vector<const FieldDescriptor*> secrets;
  SecretFields(NodeConfig::descriptor(), &seen, &secrets);
  std::vector<std::string> names;
  for (const FieldDescriptor* field : secrets) {
    names.push_back(field->full_name());
    // Text, so /config can show "[redacted]" in its place (anything else is
    // left out, which hides that it was set).
    const FieldDescriptor* value = field->is_map() ? field->message_type()->map_value() : field;
    EXPECT_EQ(value->cpp_type(), FieldDescriptor::CPPTYPE_STRING) << field->full_name();
  }
  // The secrets today. A new one (a database DSN) joins this list.
  EXPECT_THAT(names, UnorderedElementsAre("fanout.config.v1.Tracing.headers",
                                          "fanout.config.v1.PostgresStore.dsn"));
}

TEST(NodeConfigTest, PostgresStoreIsCheckedByKeyAndItsDsnComesFromTheEnvironment) {
  // The default stays SQLite under data_dir.
  EXPECT_FALSE(DefaultNodeConfig().store().has_postgres());
  NodeConfig no_dsn = FromYaml("store: {postgres: {pool_size: 4}}");
  EXPECT_THAT(ValidateNodeConfig(no_dsn),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("store.postgres.dsn: must be set, in the file or in the "
                                 "environment's FANOUT_POSTGRES_DSN")));
  std::string entry = "FANOUT_POSTGRES_DSN=postgresql://fanout:s3cret@db/fanout";
  char* env[] = {entry.data(), nullptr};
  ASSERT_THAT(ApplyEnvironment(&no_dsn, env), IsOk());
  EXPECT_EQ(no_dsn.store().postgres().dsn(), "postgresql://fanout:s3cret@db/fanout");
  no_dsn.clear_data_dir();  // Not needed on PostgreSQL.
  EXPECT_THAT(ValidateNodeConfig(no_dsn), IsOk());
  std::string shown = RedactedConfigText(no_dsn);
  EXPECT_THAT(shown, HasSubstr(R"("dsn": "[redacted]")"));
  EXPECT_THAT(shown, Not(HasSubstr("s3cret")));

  // The file's DSN wins; a SQLite node ignores the variable.
  NodeConfig from_file = FromYaml("store: {postgres: {dsn: \"host=file\"}}");
  ASSERT_THAT(ApplyEnvironment(&from_file, env), IsOk());
  EXPECT_EQ(from_file.store().postgres().dsn(), "host=file");
  NodeConfig sqlite = FromYaml("store: {sqlite: {}}");
  ASSERT_THAT(ApplyEnvironment(&sqlite, env), IsOk());
  EXPECT_TRUE(sqlite.store().has_sqlite());
  EXPECT_THAT(ValidateNodeConfig(sqlite), IsOk());

  for (const auto& [yaml, error] : std::vector<std::pair<std::string, std::string>>{
           {"{pool_size: -1}", "store.postgres.pool_size: must be in [0, 64] (0: 8), got -1"},
           {"{pool_size: 65}", "store.postgres.pool_size: must be in [0, 64]"},
           {"{statement_timeout_ms: -5}", "store.postgres.statement_timeout_ms: must be in"},
           {"{pool_wait_ms: 3600001}", "store.postgres.pool_wait_ms: must be in"},
           {"{serialization_retries: -1}", "store.postgres.serialization_retries: must be in"},
       }) {
    NodeConfig bad = FromYaml("store: {postgres: " + yaml + "}");
    bad.mutable_store()->mutable_postgres()->set_dsn("host=db");
    EXPECT_THAT(ValidateNodeConfig(bad),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(error)))
        << yaml;
  }
}

}  // namespace
}  // namespace fanout::fanoutd
