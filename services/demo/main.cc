// fanout_demo: the main job until the full fanoutd lands. One node runs the
// lab service (an echo backend with a requested delay), then a handler fans
// out three 1 s calls to it and shows asyncio's headline: they finish in
// about 1 s together, not 3 s one after another. The node keeps serving until
// Ctrl-C (or exits at once with --once).
//
//   fanout_demo                   on 127.0.0.1:50051 (or $FANOUT_DEMO_PORT)
//   fanout_demo --once --port=0   any free port, the fan-out, then exit
#include <grpcpp/create_channel.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "fanout/lab/v1/lab.grpc.pb.h"
#include "node/async/gather.h"
#include "node/base/log.h"
#include "node/base/status_macros.h"
#include "node/program/program.h"
#include "node/rpc/client.h"
#include "node/rpc/server.h"
#include "services/lab/lab_service.h"

ABSL_FLAG(bool, once, false, "Show the fan-out, then stop and exit instead of serving on.");
ABSL_FLAG(int, port, -1,
          "The lab service's port on 127.0.0.1; 0 picks a free one. Left out (-1): "
          "$FANOUT_DEMO_PORT, or 50051 without it.");

namespace fanout {
namespace {

using lab::v1::EchoRequest;
using lab::v1::EchoResponse;
using lab::v1::Lab;

Task<absl::StatusOr<EchoResponse>> SlowEcho(Lab::Stub* stub, std::string message) {
  EchoRequest request;
  request.set_message(std::move(message));
  request.set_delay_ms(1000);
  co_return co_await CallUnary(stub, &Lab::Stub::PrepareAsyncEcho, request);
}

// Three slow backend calls, concurrently and then one after another.
Task<absl::Status> ShowFanOut(Lab::Stub* stub) {
  absl::Time start = absl::Now();
  FANOUT_CO_ASSIGN_OR_RETURN(auto parts,
                             co_await Gather(SlowEcho(stub, "users"), SlowEcho(stub, "orders"),
                                             SlowEcho(stub, "recommendations")));
  absl::Duration together = absl::Now() - start;
  start = absl::Now();
  for (const char* part : {"users", "orders", "recommendations"}) {
    FANOUT_CO_RETURN_IF_ERROR(co_await SlowEcho(stub, part));
  }
  absl::Duration in_turn = absl::Now() - start;
  std::printf("fan-out of 3 backend calls of 1 s each:\n");
  std::printf("  Gather (concurrent):  %s  -> %s, %s, %s\n",
              absl::FormatDuration(absl::Trunc(together, absl::Milliseconds(1))).c_str(),
              std::get<0>(parts).message().c_str(), std::get<1>(parts).message().c_str(),
              std::get<2>(parts).message().c_str());
  std::printf("  one after another:    %s\n",
              absl::FormatDuration(absl::Trunc(in_turn, absl::Milliseconds(1))).c_str());
  std::fflush(stdout);
  co_return absl::OkStatus();
}

constexpr char kUsage[] =
    "fanout_demo: asyncio's headline on gRPC completion queues. One node serves the lab "
    "service (an echo with a requested delay); a handler fans out three 1 s calls to it "
    "with Gather, then makes them one after another: about 1 s against 3 s. Then it "
    "serves until Ctrl-C.\n"
    "  fanout_demo\n"
    "  fanout_demo --once --port=0";

// --port, else $FANOUT_DEMO_PORT, else 50051.
int DemoPort() {
  int port = GetValidFlag(
      FLAGS_port, [](int p) { return p >= -1 && p <= 65535; }, "a port (0..65535)");
  if (port >= 0) return port;
  const char* env = std::getenv("FANOUT_DEMO_PORT");
  if (env == nullptr) return 50051;
  if (!absl::SimpleAtoi(env, &port) || port < 0 || port > 65535) {
    FlagError(absl::StrCat("FANOUT_DEMO_PORT must be a port (0..65535), got \"", env, "\""));
  }
  return port;
}

int Main(int argc, char** argv) {
  ParseFlags(argc, argv, {.usage = kUsage});
  bool once = absl::GetFlag(FLAGS_once);
  std::string address = absl::StrCat("127.0.0.1:", DemoPort());
  // Signals go to this thread only, through sigwait below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Server server({.listen_addresses = {address}});
  lab::LabService lab({.name = "demo"});
  lab.Register(server);
  if (absl::Status started = server.Start(); !started.ok()) {
    FANOUT_LOG(ERROR) << started << " (--port or FANOUT_DEMO_PORT picks another port)";
    return 1;
  }
  address = absl::StrCat("127.0.0.1:", server.port());  // port 0: the one bound
  lab.Serve(server);
  FANOUT_LOG(INFO) << "fanout demo node: lab service on " << address << ", "
                   << server.loops().size() << " loops";

  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = Lab::NewStub(channel);
  absl::Status shown = BlockOn(server.loops().At(0), ShowFanOut(stub.get()));
  if (!shown.ok()) FANOUT_LOG(ERROR) << "fan-out demo failed: " << shown;

  if (!once) {
    std::printf(
        "\nThe node is serving fanout.lab.v1.Lab on %s. Call it (gRPC over HTTP/2):\n"
        "  printf '\\x00\\x00\\x00\\x00\\x07\\x0a\\x05hello' | curl -s --http2-prior-knowledge "
        "-H 'content-type: application/grpc' -H 'te: trailers' --data-binary @- "
        "http://%s/fanout.lab.v1.Lab/Echo | od -c | head\n"
        "Press Ctrl-C to stop.\n",
        address.c_str(), address.c_str());
    std::fflush(stdout);
    int sig = 0;
    sigwait(&signals, &sig);
    FANOUT_LOG(INFO) << "signal " << sig << ": draining";
  }
  server.Shutdown(absl::Seconds(5));
  FANOUT_LOG(INFO) << "stopped";
  return shown.ok() ? 0 : 1;
}

}  // namespace
}  // namespace fanout

int main(int argc, char** argv) { return fanout::Main(argc, argv); }
