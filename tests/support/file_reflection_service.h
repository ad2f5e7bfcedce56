// FileReflectionService: a server-reflection service written on the generic
// path, serving a fixed set of files, for tests of reflection clients with
// types the test binary is not compiled with (gRPC's own reflection serves
// only the generated pool). It answers like a minimal server: only the file
// asked for, never its imports, so clients must ask for those by name.
//
//   FileReflectionService reflection(MadeUpFiles());
//   grpc::AsyncGenericService generic;
//   server.RegisterGenericService(&generic);
//   server.Start();
//   server.ServeGeneric(&generic, [&](GenericCall& call) { return reflection.Handle(call); });
//
// Thread-safe.
#pragma once

#include <google/protobuf/descriptor.pb.h>

#include <map>
#include <string>
#include <vector>

#include "fanout/reflection/v1/reflection_wire.pb.h"
#include "node/base/sync.h"
#include "node/rpc/byte_buffer.h"
#include "node/rpc/reflection_client.h"
#include "node/rpc/server_call.h"

namespace fanout::testing {

class FileReflectionService {
 public:
  explicit FileReflectionService(std::vector<google::protobuf::FileDescriptorProto> files) {
    for (auto& file : files) {
      const std::string& package = file.package();
      for (const auto& message : file.message_type()) {
        symbols_[package + "." + message.name()] = file.name();
      }
      for (const auto& service : file.service()) {
        services_.push_back(package + "." + service.name());
        symbols_[package + "." + service.name()] = file.name();
        for (const auto& method : service.method()) {
          symbols_[package + "." + service.name() + "." + method.name()] = file.name();
        }
      }
      files_[file.name()] = std::move(file);
    }
  }

  // Serves ServerReflectionInfo; UNIMPLEMENTED for any other method.
  Task<absl::Status> Handle(GenericCall& call) {
    if (call.method() != kServerReflectionMethod) co_return absl::UnimplementedError(call.method());
    while (std::optional<Bytes> bytes = co_await call.Read()) {
      reflection::v1::ServerReflectionRequest request;
      if (absl::Status parsed = FromByteBuffer(*bytes, &request); !parsed.ok()) co_return parsed;
      reflection::v1::ServerReflectionResponse response = Answer(request);
      absl::StatusOr<Bytes> out = ToByteBuffer(response);
      if (!out.ok()) co_return out.status();
      if (absl::Status written = co_await call.Write(*out); !written.ok()) co_return written;
    }
    co_return absl::OkStatus();
  }

  // Every file_by_filename asked so far.
  std::vector<std::string> files_asked() const {
    MutexLock lock(&mu_);
    return files_asked_;
  }

 private:
  reflection::v1::ServerReflectionResponse Answer(
      const reflection::v1::ServerReflectionRequest& request) {
    reflection::v1::ServerReflectionResponse response;
    *response.mutable_original_request() = request;
    std::string file_name;
    if (request.has_list_services()) {
      for (const auto& name : services_) {
        response.mutable_list_services_response()->add_service()->set_name(name);
      }
      return response;
    } else if (request.has_file_by_filename()) {
      file_name = request.file_by_filename();
      MutexLock lock(&mu_);
      files_asked_.push_back(file_name);
    } else if (request.has_file_containing_symbol()) {
      auto it = symbols_.find(request.file_containing_symbol());
      if (it != symbols_.end()) file_name = it->second;
    }
    auto file = files_.find(file_name);
    if (file == files_.end()) {
      response.mutable_error_response()->set_error_code(
          static_cast<int>(absl::StatusCode::kNotFound));
      response.mutable_error_response()->set_error_message("not found");
      return response;
    }
    response.mutable_file_descriptor_response()->add_file_descriptor_proto(
        file->second.SerializeAsString());
    return response;
  }

  std::map<std::string, google::protobuf::FileDescriptorProto> files_;
  std::map<std::string, std::string> symbols_;  // Symbol to file name.
  std::vector<std::string> services_;
  mutable Mutex mu_;
  std::vector<std::string> files_asked_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fanout::testing
