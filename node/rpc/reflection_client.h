// A client of gRPC server reflection: which services a server has, and the
// descriptors of their messages, so a caller (the gateway) can speak methods
// it was not compiled with.
//
//   grpc::GenericStub stub(channel);
//   FANOUT_CO_ASSIGN_OR_RETURN(std::vector<std::string> services, co_await ListServices(&stub));
//   FANOUT_CO_ASSIGN_OR_RETURN(
//       auto files, co_await FilesContainingSymbol(&stub, "fanout.users.v1.Users",
//                                                  [&](const std::string& name) {
//                                                    return pool.FindFileByName(name) != nullptr;
//                                                  }));
//   for (const auto& file : files) pool.BuildFile(file);  // dependencies come first
//
// Each function is one ServerReflectionInfo call (a bidi stream on the
// current task's loop, with its deadline and cancellation, see
// generic_stream.h). Errors keep the server's code: NOT_FOUND for a symbol it
// does not know, UNIMPLEMENTED when it has no reflection service; the
// message says what was asked.
//
// Loop-affine.
#pragma once

#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/generic/generic_stub.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "node/async/task.h"
#include "node/rpc/client.h"

namespace fanout {

inline constexpr char kServerReflectionMethod[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

// The fully qualified names of the services the server lists (reflection
// itself included).
Task<absl::StatusOr<std::vector<std::string>>> ListServices(grpc::GenericStub* stub,
                                                            CallOptions options = {});

// The file defining `symbol` ("fanout.users.v1.Users", a message or a
// method too) and, transitively, the files it imports, leaving out those for
// which `known(file_name)` is true (and what they import). Dependencies come
// before dependents, so the files can be built into a pool in this order.
// Imports the server leaves out of its answer are asked for by name.
// `known` may be empty: nothing is known.
Task<absl::StatusOr<std::vector<google::protobuf::FileDescriptorProto>>> FilesContainingSymbol(
    grpc::GenericStub* stub, std::string symbol, std::function<bool(const std::string&)> known,
    CallOptions options = {});

}  // namespace fanout
