// One unary call of any method, by path, with an empty request, from a
// plain blocking test thread: for tests that only care about the status a
// server answers for a method (unknown, unimplemented, refused).
//
//   grpc::Status status = GenericUnaryStatus(channel, "/nope.v1.Nothing/Here");
//   EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
//
// Thread-safe (a queue of its own per call).
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

namespace fanout::testing {

inline grpc::Status GenericUnaryStatus(const std::shared_ptr<grpc::Channel>& channel,
                                       const std::string& method,
                                       std::chrono::seconds timeout = std::chrono::seconds(10)) {
  grpc::GenericStub generic(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  grpc::ByteBuffer request, reply;
  grpc::Status status;
  grpc::CompletionQueue cq;
  auto call = generic.PrepareUnaryCall(&context, method, request, &cq);
  call->StartCall();
  call->Finish(&reply, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

}  // namespace fanout::testing
