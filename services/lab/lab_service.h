// The lab backend: an httpbin for gRPC, for tests, benchmarks and fault
// drills. Echo answers after a requested delay, or with a requested error
// (always, or at a requested rate), with a payload of a requested size, and
// reports the deadline it saw, with x-lab-served-by as initial and
// x-lab-code (its status code) as trailing metadata; Stream sends N
// messages at an interval.
//
//   LabService lab({.name = "lab-1"});
//   lab.Register(server);         // before server.Start()
//   server.Start();
//   lab.Serve(server);
//
// Cheap by design: a benchmark through the gateway measures the gateway.
// Thread-safe: counters are atomic; calls run on the loop they arrived on.
#pragma once

#include <atomic>
#include <string>

#include "fanout/lab/v1/lab.grpc.pb.h"
#include "node/rpc/server.h"

namespace fanout::lab {

class LabService {
 public:
  struct Options {
    std::string name = "lab";  // Reported as served_by.
    int64_t max_payload_bytes = 4 << 20;
    int32_t max_stream_count = 10000;
  };
  explicit LabService(Options options) : options_(std::move(options)) {}

  void Register(Server& server) { server.RegisterService(&service_); }
  void Serve(Server& server);

  // Calls that ended because the caller cancelled or its deadline passed.
  int64_t interrupted_calls() const { return interrupted_.load(); }
  int64_t calls() const { return calls_.load(); }
  // The most Echo calls that were sleeping at once: shows whether callers
  // ran them concurrently, without timing anything.
  int64_t peak_concurrent_sleeps() const { return peak_sleeping_.load(); }

  Task<absl::StatusOr<v1::EchoResponse>> Echo(grpc::ServerContext& context,
                                              const v1::EchoRequest& request);
  Task<absl::Status> Stream(grpc::ServerContext& context, const v1::StreamRequest& request,
                            ServerStreamWriter<v1::EchoResponse>& out);

 private:
  Task<absl::StatusOr<v1::EchoResponse>> Answer(grpc::ServerContext& context,
                                                const v1::EchoRequest& request);

  Options options_;
  v1::Lab::AsyncService service_;
  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> interrupted_{0};
  std::atomic<int64_t> sleeping_{0};
  std::atomic<int64_t> peak_sleeping_{0};
};

}  // namespace fanout::lab
