// GenericClientStream: a bidirectional call of any method, as bytes. The
// client half of the proxy path and of anything that speaks a streaming
// protocol it has no stub for (server reflection).
//
//   GenericClientStream stream(&generic_stub, "/fanout.lab.v1.Lab/Echo");
//   FANOUT_CO_RETURN_IF_ERROR(co_await stream.Start());
//   if (co_await stream.Write(request_bytes)) co_await stream.WritesDone();
//   while (std::optional<Bytes> reply = co_await stream.Read()) { ... }
//   absl::Status status = co_await stream.Finish();
//
// Like CallUnary, the call runs on the current task's loop and carries its
// context: the gRPC deadline is the earlier of CallOptions::deadline and the
// deadline of the task that awaits Start(), and cancelling a task while it
// awaits any step of the call cancels the call (ClientContext::TryCancel).
// Write/Read report a broken stream as false/nullopt; Finish says why.
//
// Loop-affine: every step is awaited on the loop that started the call. One
// Read and one Write (or WritesDone) may be outstanding at once, from two
// tasks; Finish once reads have ended. The stream must outlive the awaits.
#pragma once

#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "node/async/task.h"
#include "node/rpc/byte_buffer.h"
#include "node/rpc/client.h"

namespace fanout {

class GenericClientStream {
 public:
  // `method` is the full path, "/pkg.Service/Method".
  GenericClientStream(grpc::GenericStub* stub, std::string method, CallOptions options = {});
  ~GenericClientStream();  // Cancels the call if it has not finished.
  GenericClientStream(const GenericClientStream&) = delete;
  GenericClientStream& operator=(const GenericClientStream&) = delete;

  // Sends the call and its initial metadata. Not OK: the call's status (it
  // has then finished; Finish returns the same).
  Task<absl::Status> Start();
  // False: the stream broke (call Finish for why), or it was not started.
  // A default-constructed ByteBuffer is sent as the empty message.
  Task<bool> Write(const grpc::ByteBuffer& message);
  // Half-closes: the server sees the end of the requests.
  Task<bool> WritesDone();
  // The next message; nullopt when no more will come (then Finish).
  Task<std::optional<Bytes>> Read();
  // The call's status. When the call was cut short by the cancellation of a
  // task awaiting it, that task's reason (CANCELLED, DEADLINE_EXCEEDED).
  // Later calls return the same status.
  Task<absl::Status> Finish();

  // Thread-unsafe like the rest: ends the call now, from its loop.
  void TryCancel() { context_.TryCancel(); }
  const std::string& method() const { return method_; }
  bool started() const { return stream_ != nullptr; }
  bool finished() const { return finished_; }

  // The server's initial metadata is there once a Read was awaited or
  // Finish returned (gRPC asserts if GetServerInitialMetadata is called
  // before), its trailing metadata after Finish.
  grpc::ClientContext& context() { return context_; }

 private:
  // Runs one completion-queue step watching `task`'s cancellation.
  template <typename StartOp>
  Task<bool> Step(StartOp start);
  // Watches the awaiting task while a step is outstanding: TryCancel and
  // remember why.
  void OnCancelled(const absl::Status& reason);

  grpc::GenericStub* stub_;
  std::string method_;
  CallOptions options_;
  // Declared before stream_: the stream lives in the context's call arena.
  grpc::ClientContext context_;
  std::optional<internal::ClientCallTelemetry> telemetry_;  // From Start().
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> stream_;
  absl::Status cancelled_by_;  // The first cancelling task's reason.
  bool finished_ = false;
  absl::Status final_status_;
};

}  // namespace fanout
