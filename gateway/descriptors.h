// DescriptorRegistry: where the gateway finds the message types of a gRPC
// method it routes to, whether compiled in, loaded from a descriptor set
// file (the gateway config's `descriptor_sets`) or asked of a backend by
// server reflection (`use_reflection`).
//
//   DescriptorRegistry registry;
//   FANOUT_RETURN_IF_ERROR(registry.AddDescriptorSetFile("/etc/fanout/widgets.pb"));
//   const google::protobuf::MethodDescriptor* method =
//       registry.FindMethod("/test.made.v1.Widgets/GetWidget");
//   std::unique_ptr<google::protobuf::Message> request = registry.NewMessage(method->input_type());
//   // ... JSON into *request, serialize, call the backend ...
//
// Compiled-in types (those of the generated descriptor pool: the .pb.cc
// files linked into the binary) win over added ones. Added files may import
// compiled-in ones, and each other in any order within one AddFiles call.
// A file whose name is already known is skipped, so adding the same files
// twice (two loops loading one service) is harmless.
//
// Descriptors live as long as the registry; so must every message from
// NewMessage (they share the registry's prototypes).
//
// Thread-safe.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>
#include <grpcpp/generic/generic_stub.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "node/async/task.h"
#include "node/base/sync.h"

namespace fanout::gateway {

class DescriptorRegistry {
 public:
  DescriptorRegistry();
  ~DescriptorRegistry();
  DescriptorRegistry(const DescriptorRegistry&) = delete;
  DescriptorRegistry& operator=(const DescriptorRegistry&) = delete;

  // A FileDescriptorSet file (protoc --include_imports --descriptor_set_out).
  // Errors name the file (NOT_FOUND when it cannot be read,
  // INVALID_ARGUMENT when it does not parse or build).
  absl::Status AddDescriptorSetFile(const std::string& path);
  // INVALID_ARGUMENT naming the file that does not build (or imports one
  // that is neither compiled in nor among `files`). Files before it stay.
  absl::Status AddFiles(const std::vector<google::protobuf::FileDescriptorProto>& files);

  // "pkg.Svc/Method" or "/pkg.Svc/Method" (the gRPC path). nullptr if unknown.
  const google::protobuf::MethodDescriptor* FindMethod(absl::string_view method) const;
  // "pkg.Svc". nullptr if unknown.
  const google::protobuf::ServiceDescriptor* FindService(absl::string_view service) const;
  // Whether a file of this name is compiled in or added.
  bool HasFile(const std::string& file_name) const;

  // Asks the backend behind `stub` (server reflection) for `service` and the
  // files it needs, unless the service is known already. Loop-affine (runs
  // on the current task's loop, with its deadline). Errors keep the
  // server's code (NOT_FOUND, UNIMPLEMENTED) and name the service.
  Task<absl::Status> LoadFromReflection(grpc::GenericStub* stub, std::string service);

  // A new empty message of this type: the generated class for compiled-in
  // types, a DynamicMessage otherwise. nullptr for a null type.
  std::unique_ptr<google::protobuf::Message> NewMessage(
      const google::protobuf::Descriptor* type) const;

 private:
  absl::Status BuildLocked(const google::protobuf::FileDescriptorProto& file)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  // Added files, over the generated pool. Declared before factory_: the
  // factory's prototypes point into it.
  std::unique_ptr<google::protobuf::DescriptorPool> pool_ ABSL_GUARDED_BY(mu_);
  // Thread-safe on its own.
  mutable google::protobuf::DynamicMessageFactory factory_;
};

}  // namespace fanout::gateway
