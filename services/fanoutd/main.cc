// fanoutd: one fanout node, running the roles its config asks for.
//
//   fanoutd                              users, orders, recommendations, gateway: embedded defaults
//   fanoutd --with-lab                   the same and the lab (echo, delays, errors; /v1/lab/*)
//   fanoutd --config node.yaml           roles, addresses, backends from a file
//   fanoutd --check-config node.yaml     validate and exit (2 with the reason)
//   fanoutd --print-default-config       the defaults, loadable by --config
//   fanoutd --help                       the flags
//
// --with-lab goes with any of them: it adds the lab role to the config. The
// command line is read by the program shell (node/program/program.h): a
// flag it does not know, or anything else it cannot use, exits 2.
//
// SIGTERM/SIGINT: readiness goes NOT_SERVING, the node stops accepting,
// in-flight calls get shutdown.grace_ms to finish, the rest are cancelled,
// exit 0. A second signal exits at once (status 1). A drain still running
// kHardStopAfter past the grace (a loop stuck in CPU work) is logged and
// ends the process with status 2: a pod never hangs in Terminating.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <set>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gateway/default_routes.h"
#include "node/base/log.h"
#include "node/program/program.h"
#include "services/fanoutd/node.h"

ABSL_FLAG(std::string, config, "",
          "Run the node a YAML file describes (proto/fanout/config/v1/node_config.proto: "
          "roles, addresses, backends, routes), read over the embedded defaults; FANOUT_* "
          "variables override it. Empty: the embedded defaults.");
ABSL_FLAG(std::string, check_config, "",
          "Load and validate this file as --config would, print \"FILE: ok\" and exit 0, or "
          "the reason (naming the key and the value) and exit 2.");
ABSL_FLAG(bool, print_default_config, false,
          "Print the embedded defaults, the built-in routes spelled out, as a file --config "
          "loads back to the same node, and exit.");
ABSL_FLAG(bool, with_lab, false,
          "Add the lab role (echo with a requested delay, error or payload; /v1/lab/* on a "
          "gateway), for tests, benchmarks and drills. Goes with any other flag.");

namespace fanout::fanoutd {
namespace {

constexpr char kUsage[] =
    "fanoutd: one fanout node, running the roles its config asks for. With no flag: the "
    "users, orders, recommendations and gateway roles in one process on the embedded "
    "defaults (gRPC on 127.0.0.1:50051, REST on 127.0.0.1:8080, SQLite under "
    "./fanout-data). SIGTERM or Ctrl-C drains it and exits 0.\n"
    "  fanoutd --config node.yaml          roles, addresses, backends from a file\n"
    "  fanoutd --check-config node.yaml    validate and exit (2 with the reason)\n"
    "  fanoutd --print-default-config      every key with its default, loadable by --config\n"
    "  fanoutd --with-lab                  and the lab role (with any of the above)";

void PrintHowToCall(const Node& node) {
  int port = node.grpc_port();
  bool grpc_tls = !node.config().grpc_tls().cert_file().empty();
  std::printf("\nfanout node \"%s\" is serving gRPC%s on 127.0.0.1:%d:\n",
              node.config().node_name().c_str(), grpc_tls ? " over TLS" : "", port);
  for (const auto& service : node.services()) std::printf("  %s\n", service.c_str());
  if (int relay = node.relay_port(); relay != 0) {
    std::printf("Proxied gRPC calls also go through the gateway's frame relay on 127.0.0.1:%d.\n",
                relay);
  }
  if (int rest = node.rest_port(); rest != 0) {
    // Over TLS the curls need the CA that signed the door's certificate.
    bool tls = !node.config().gateway().rest_tls().cert_file().empty();
    std::string base = absl::StrCat(tls ? "https" : "http", "://127.0.0.1:", rest);
    std::string url = absl::StrCat(tls ? "--cacert CA.crt " : "", base);
    const char* u = url.c_str();
    std::printf(
        "The gateway answers REST on %s. Try it:\n"
        "  curl -s -X POST %s/v1/users -d '{\"name\": \"Ada\", \"email\": "
        "\"ada@example.com\"}'\n"
        "  curl -s -X POST %s/v1/users/1/orders -d '{\"item\": \"tea\", "
        "\"quantity\": 2, \"amountCents\": 700}'\n"
        "  curl -s %s/v1/users/1/dashboard\n",
        base.c_str(), u, u, u);
    if (node.config().roles().lab()) {
      std::printf("  curl -s '%s/v1/lab/echo?message=hi&delay_ms=100'\n", u);
    }
  } else if (!grpc_tls) {
    std::printf(
        "Try it (gRPC over HTTP/2 with curl; the body is a framed protobuf):\n"
        "  printf '\\x00\\x00\\x00\\x00\\x16\\x0a\\x03Ada\\x12\\x0fada@example.com' | curl -s "
        "--http2-prior-knowledge -H 'content-type: application/grpc' -H 'te: trailers' "
        "--data-binary @- http://127.0.0.1:%d/fanout.users.v1.Users/CreateUser | od -c\n",
        port);
  }
  std::printf("Press Ctrl-C to stop.\n");
  std::fflush(stdout);
}

// "users,orders": the roles this process runs, for the log's role field.
std::string RoleList(const config::v1::Roles& roles) {
  return absl::StrJoin(RoleServices(roles), ",",
                       [](std::string* out, const auto& role) { out->append(role.first); });
}

// Signals closer together than this are one request to stop, not a second
// one asking to exit at once.
constexpr absl::Duration kSameSignalWindow = absl::Seconds(1);
// Past the grace: the loops' own stop (5 s) and the REST door's last writes
// (1 s) fit inside it. The chart's terminationGracePeriodSeconds covers the
// preStop pause, the grace and this.
constexpr absl::Duration kHardStopAfter = absl::Seconds(10);

int Serve(const std::string& config_path, ConfigFlags flags) {
  absl::StatusOr<NodeConfig> config = LoadNodeConfig(config_path, flags);
  if (!config.ok()) {
    FANOUT_LOG(ERROR) << "bad config: " << config.status().message();
    return 2;
  }
  LogLevel level = LogLevel::kInfo;
  switch (config->log().level()) {
    case config::v1::Log::DEBUG:
      level = LogLevel::kDebug;
      break;
    case config::v1::Log::WARNING:
      level = LogLevel::kWarning;
      break;
    case config::v1::Log::ERROR:
      level = LogLevel::kError;
      break;
    default:
      break;
  }
  SetLogLevel(level);
  if (config->log().format() == config::v1::Log::JSON) SetLogFormat(LogFormat::kJson);
  if (config->log().format() == config::v1::Log::LOGFMT) SetLogFormat(LogFormat::kLogfmt);
  SetAccessLog(config->log().access_log());
  SetLogRole(RoleList(config->roles()));
  FANOUT_LOG(INFO) << "config: " << (config_path.empty() ? "embedded defaults" : config_path);

  // Signals reach this thread only, through sigtimedwait below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Node node(*config);
  if (absl::Status started = node.Start(); !started.ok()) {
    FANOUT_LOG(ERROR) << "cannot start: " << started;
    return 1;
  }
  PrintHowToCall(node);

  std::atomic<bool> drained{false};
  std::thread drainer;
  absl::Time first_signal;
  absl::Time hard_stop = absl::InfiniteFuture();
  for (;;) {
    timespec tick{0, 100 * 1000 * 1000};
    int sig = sigtimedwait(&signals, nullptr, &tick);
    if (drained.load()) break;
    if (absl::Now() > hard_stop) {
      FANOUT_LOG(ERROR) << "drain still running " << kHardStopAfter
                        << " past shutdown.grace_ms (a loop stuck in CPU work?): exiting now";
      std::fflush(nullptr);
      std::_Exit(2);
    }
    if (sig <= 0) continue;
    if (drainer.joinable() && absl::Now() - first_signal < kSameSignalWindow) {
      // A terminal's Ctrl-C and a supervisor's SIGTERM often arrive together.
      FANOUT_LOG(INFO) << "signal " << sig << " again within " << kSameSignalWindow
                       << ": still draining";
      continue;
    }
    if (drainer.joinable()) {
      FANOUT_LOG(WARNING) << "second signal " << sig << ": exiting at once";
      std::fflush(nullptr);
      std::_Exit(1);
    }
    first_signal = absl::Now();
    hard_stop = first_signal + absl::Milliseconds(config->shutdown().grace_ms()) + kHardStopAfter;
    FANOUT_LOG(INFO) << "signal " << sig << ": draining (send again to exit at once)";
    drainer = std::thread([&] {
      node.Drain();
      drained.store(true);
    });
  }
  drainer.join();
  return 0;
}

}  // namespace
}  // namespace fanout::fanoutd

int main(int argc, char** argv) {
  using namespace fanout::fanoutd;
  fanout::ParseFlags(argc, argv, {.usage = kUsage});
  const std::string config_path = absl::GetFlag(FLAGS_config);
  const std::string check_path = absl::GetFlag(FLAGS_check_config);
  const bool check = fanout::FlagGiven(FLAGS_check_config);
  const bool print_defaults = absl::GetFlag(FLAGS_print_default_config);
  if (fanout::FlagGiven(FLAGS_config) + check + print_defaults > 1) {
    fanout::FlagError(
        "--config, --check-config and --print-default-config go alone (--with-lab goes with "
        "any of them)");
  }
  if (check && check_path.empty()) fanout::FlagError("--check-config needs a file");
  ConfigFlags flags{.with_lab = absl::GetFlag(FLAGS_with_lab)};
  if (print_defaults) {
    NodeConfig defaults = DefaultNodeConfig();
    if (flags.with_lab) defaults.mutable_roles()->set_lab(true);
    // The built-in routes, spelled out: the printed file loads back to the same node.
    std::set<std::string> backends = BackendNames(defaults);
    if (absl::Status added =
            fanout::gateway::AddDefaultRoutes(defaults.mutable_gateway(), &backends);
        !added.ok()) {
      std::fprintf(stderr, "fanoutd: %s\n", std::string(added.message()).c_str());
      return 1;
    }
    std::printf("%s", NodeConfigToText(defaults).c_str());
    return 0;
  }
  if (check) {
    absl::StatusOr<NodeConfig> config = LoadNodeConfig(check_path, flags);
    if (!config.ok()) {
      std::fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
      return 2;
    }
    std::printf("%s: ok\n", check_path.c_str());
    return 0;
  }
  return Serve(config_path, flags);
}
