#include "node/rpc/reflection_client.h"

#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "fanout/reflection/v1/reflection_wire.pb.h"
#include "node/base/status_macros.h"
#include "node/rpc/byte_buffer.h"
#include "node/rpc/generic_stream.h"

namespace fanout {
namespace {

using google::protobuf::FileDescriptorProto;
using reflection::v1::ServerReflectionRequest;
using reflection::v1::ServerReflectionResponse;

// A server that keeps sending imports is broken, or hostile.
constexpr int kMaxRequests = 1000;

// What a request asked, for error messages: `file_containing_symbol "x"`.
std::string Describe(const ServerReflectionRequest& request) {
  switch (request.message_request_case()) {
    case ServerReflectionRequest::kFileByFilename:
      return absl::StrCat("file_by_filename \"", request.file_by_filename(), "\"");
    case ServerReflectionRequest::kFileContainingSymbol:
      return absl::StrCat("file_containing_symbol \"", request.file_containing_symbol(), "\"");
    case ServerReflectionRequest::kListServices:
      return "list_services";
    default:
      return "request";
  }
}

absl::Status Annotate(const absl::Status& status, absl::string_view what) {
  return absl::Status(status.code(),
                      absl::StrCat("server reflection ", what, ": ", status.message()));
}

// One ServerReflectionInfo stream: requests answered one at a time.
class ReflectionSession {
 public:
  ReflectionSession(grpc::GenericStub* stub, CallOptions options)
      : stream_(stub, kServerReflectionMethod, std::move(options)) {}

  Task<absl::Status> Open() {
    absl::Status started = co_await stream_.Start();
    if (!started.ok()) co_return Annotate(started, "call");
    co_return absl::OkStatus();
  }

  // The server's answer; its error_response as a status with its code.
  Task<absl::StatusOr<ServerReflectionResponse>> Ask(const ServerReflectionRequest& request) {
    std::string what = Describe(request);
    FANOUT_CO_ASSIGN_OR_RETURN(Bytes bytes, ToByteBuffer(request));
    std::optional<Bytes> reply;
    if (co_await stream_.Write(bytes)) reply = co_await stream_.Read();
    if (!reply) co_return co_await Broken(what);
    ServerReflectionResponse response;
    FANOUT_CO_RETURN_IF_ERROR(FromByteBuffer(*reply, &response));
    if (response.has_error_response()) {
      const auto& error = response.error_response();
      co_return Annotate(
          absl::Status(static_cast<absl::StatusCode>(error.error_code()), error.error_message()),
          what);
    }
    co_return response;
  }

  // Half-closes and waits for the call's end.
  Task<absl::Status> Close() {
    co_await stream_.WritesDone();
    while (co_await stream_.Read()) {
    }
    absl::Status status = co_await stream_.Finish();
    if (!status.ok()) co_return Annotate(status, "call");
    co_return absl::OkStatus();
  }

 private:
  // The stream ended before an answer: the call's status says why.
  Task<absl::Status> Broken(const std::string& what) {
    absl::Status status = co_await stream_.Finish();
    if (status.ok()) status = absl::UnavailableError("the server ended the stream");
    co_return Annotate(status, what);
  }

  GenericClientStream stream_;
};

ServerReflectionRequest FileContainingSymbol(const std::string& symbol) {
  ServerReflectionRequest request;
  request.set_file_containing_symbol(symbol);
  return request;
}

ServerReflectionRequest FileByFilename(const std::string& name) {
  ServerReflectionRequest request;
  request.set_file_by_filename(name);
  return request;
}

// Files by name, as the server sent them.
class ReceivedFiles {
 public:
  // The first file of the answer is the one asked for.
  absl::StatusOr<std::string> Add(const ServerReflectionResponse& response,
                                  absl::string_view what) {
    const auto& serialized = response.file_descriptor_response().file_descriptor_proto();
    if (serialized.empty()) {
      return absl::InternalError(absl::StrCat("server reflection ", what, ": no file in answer"));
    }
    std::string first;
    for (const std::string& bytes : serialized) {
      FileDescriptorProto file;
      if (!file.ParseFromString(bytes)) {
        return absl::InternalError(
            absl::StrCat("server reflection ", what, ": a file does not parse as a descriptor"));
      }
      if (first.empty()) first = file.name();
      std::string name = file.name();
      files_.emplace(std::move(name), std::move(file));
    }
    return first;
  }

  const FileDescriptorProto* Find(const std::string& name) const {
    auto it = files_.find(name);
    return it == files_.end() ? nullptr : &it->second;
  }

  // Imports of received files that are neither received nor known.
  std::vector<std::string> Missing(const std::function<bool(const std::string&)>& known) const {
    std::set<std::string> missing;
    for (const auto& [name, file] : files_) {
      if (known(name)) continue;
      for (const std::string& dependency : file.dependency()) {
        if (!files_.contains(dependency) && !known(dependency)) missing.insert(dependency);
      }
    }
    return {missing.begin(), missing.end()};
  }

  // `root` and what it imports, dependencies first, known files left out.
  std::vector<FileDescriptorProto> InDependencyOrder(
      const std::string& root, const std::function<bool(const std::string&)>& known) const {
    std::vector<FileDescriptorProto> ordered;
    std::set<std::string> visited;
    Visit(root, known, visited, ordered);
    return ordered;
  }

 private:
  void Visit(const std::string& name, const std::function<bool(const std::string&)>& known,
             std::set<std::string>& visited, std::vector<FileDescriptorProto>& ordered) const {
    if (known(name) || !visited.insert(name).second) return;
    const FileDescriptorProto* file = Find(name);
    if (file == nullptr) return;  // Missing() asked for it; the server answered with another.
    for (const std::string& dependency : file->dependency()) {
      Visit(dependency, known, visited, ordered);
    }
    ordered.push_back(*file);
  }

  std::map<std::string, FileDescriptorProto> files_;
};

}  // namespace

Task<absl::StatusOr<std::vector<std::string>>> ListServices(grpc::GenericStub* stub,
                                                            CallOptions options) {
  ReflectionSession session(stub, std::move(options));
  FANOUT_CO_RETURN_IF_ERROR(co_await session.Open());
  ServerReflectionRequest request;
  request.set_list_services("");
  FANOUT_CO_ASSIGN_OR_RETURN(ServerReflectionResponse response, co_await session.Ask(request));
  FANOUT_CO_RETURN_IF_ERROR(co_await session.Close());
  std::vector<std::string> services;
  for (const auto& service : response.list_services_response().service()) {
    services.push_back(service.name());
  }
  co_return services;
}

Task<absl::StatusOr<std::vector<FileDescriptorProto>>> FilesContainingSymbol(
    grpc::GenericStub* stub, std::string symbol, std::function<bool(const std::string&)> known,
    CallOptions options) {
  if (!known) known = [](const std::string&) { return false; };
  ReflectionSession session(stub, std::move(options));
  FANOUT_CO_RETURN_IF_ERROR(co_await session.Open());
  ReceivedFiles files;
  ServerReflectionRequest first = FileContainingSymbol(symbol);
  FANOUT_CO_ASSIGN_OR_RETURN(ServerReflectionResponse answer, co_await session.Ask(first));
  FANOUT_CO_ASSIGN_OR_RETURN(std::string root, files.Add(answer, Describe(first)));
  for (int requests = 1; requests < kMaxRequests;) {
    std::vector<std::string> missing = files.Missing(known);
    if (missing.empty()) break;
    for (const std::string& name : missing) {
      ServerReflectionRequest request = FileByFilename(name);
      FANOUT_CO_ASSIGN_OR_RETURN(ServerReflectionResponse reply, co_await session.Ask(request));
      FANOUT_CO_RETURN_IF_ERROR(files.Add(reply, Describe(request)).status());
      if (files.Find(name) == nullptr) {
        co_return absl::InternalError(absl::StrCat("server reflection ", Describe(request),
                                                   ": the answer does not hold that file"));
      }
      ++requests;
    }
  }
  if (!files.Missing(known).empty()) {
    co_return absl::ResourceExhaustedError(absl::StrCat("server reflection for \"", symbol,
                                                        "\": imports still missing after ",
                                                        kMaxRequests, " requests"));
  }
  FANOUT_CO_RETURN_IF_ERROR(co_await session.Close());
  co_return files.InDependencyOrder(root, known);
}

}  // namespace fanout
