// The raw ceiling for rpc_bench: Lab.Echo served and called with plain gRPC
// completion queues, no fanout runtime in the path. DESIGN.md's "1.0 every
// runtime figure is divided by".
//
//   RawEchoServer server;                      // 127.0.0.1:0, one queue thread
//   FANOUT_RETURN_IF_ERROR(server.Start());
//   RawEchoClient client(channel, request, /*concurrency=*/64);
//   FANOUT_RETURN_IF_ERROR(client.Run(/*calls=*/1000));
//
// The server is the classic CallData state machine of gRPC's async examples;
// it answers the way LabService::Echo answers a request with no delay and no
// error (message echoed, served_by "lab", the deadline it saw, and the
// x-lab-served-by / x-lab-code metadata), so both carry the same bytes. The client keeps a fixed
// number of calls in flight from its own queue thread, starting the next one as each finishes.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/server.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "fanout/lab/v1/lab.grpc.pb.h"

namespace fanout::bench {

// Thread-safe: Start() once, from the owning thread; destroy from a thread
// other than the queue thread.
class RawEchoServer {
 public:
  RawEchoServer() = default;
  ~RawEchoServer();  // Server::Shutdown, then shut down and drain the queue, join.
  RawEchoServer(const RawEchoServer&) = delete;
  RawEchoServer& operator=(const RawEchoServer&) = delete;

  // Binds 127.0.0.1:0 and starts the queue thread.
  absl::Status Start();
  int port() const { return port_; }

 private:
  class CallData;
  void Serve();

  lab::v1::Lab::AsyncService service_;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::unique_ptr<grpc::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// Run() from one thread at a time (not the queue thread).
class RawEchoClient {
 public:
  RawEchoClient(const std::shared_ptr<grpc::Channel>& channel, lab::v1::EchoRequest request,
                int concurrency);
  ~RawEchoClient();  // Shuts the queue down, drains it, joins the thread.
  RawEchoClient(const RawEchoClient&) = delete;
  RawEchoClient& operator=(const RawEchoClient&) = delete;

  // Makes `calls` Echo calls, `concurrency` at a time; returns when all have
  // finished: OK, or the first error.
  absl::Status Run(int64_t calls);

 private:
  struct Call;
  void StartCall();  // Any thread.
  void Poll();       // The queue thread.
  void OnFinished(const grpc::Status& status);

  std::unique_ptr<lab::v1::Lab::Stub> stub_;
  const lab::v1::EchoRequest request_;
  const int concurrency_;
  grpc::CompletionQueue cq_;
  std::atomic<int64_t> to_start_{0};
  std::atomic<int64_t> to_finish_{0};
  absl::Mutex mu_;
  bool finished_ ABSL_GUARDED_BY(mu_) = true;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // Last: starts after everything it uses.
};

}  // namespace fanout::bench
