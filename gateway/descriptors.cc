#include "gateway/descriptors.h"

#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "node/base/status_macros.h"
#include "node/rpc/reflection_client.h"

namespace fanout::gateway {
namespace {

using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptorProto;

// Collects a file's build errors into one message.
class ErrorList : public DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element_name,
                const google::protobuf::Message*, ErrorLocation,
                const std::string& message) override {
    errors_.push_back(element_name.empty() ? message : absl::StrCat(element_name, ": ", message));
  }
  std::string Joined() const { return absl::StrJoin(errors_, "; "); }

 private:
  std::vector<std::string> errors_;
};

absl::Status Prefixed(const absl::Status& status, absl::string_view prefix) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

}  // namespace

DescriptorRegistry::DescriptorRegistry()
    : pool_(std::make_unique<DescriptorPool>(DescriptorPool::generated_pool())) {
  factory_.SetDelegateToGeneratedFactory(true);
}

DescriptorRegistry::~DescriptorRegistry() = default;

absl::Status DescriptorRegistry::AddDescriptorSetFile(const std::string& path) {
  std::string prefix = absl::StrCat("descriptor set \"", path, "\": ");
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(prefix + "cannot be read");
  std::stringstream bytes;
  bytes << in.rdbuf();
  google::protobuf::FileDescriptorSet set;
  if (!set.ParseFromString(bytes.str())) {
    return absl::InvalidArgumentError(
        prefix + "does not parse as a FileDescriptorSet (protoc --descriptor_set_out)");
  }
  std::vector<FileDescriptorProto> files(set.file().begin(), set.file().end());
  return Prefixed(AddFiles(files), prefix);
}

absl::Status DescriptorRegistry::AddFiles(const std::vector<FileDescriptorProto>& files) {
  MutexLock lock(&mu_);
  // Build in dependency order, whatever the order given.
  std::map<std::string, const FileDescriptorProto*> pending;
  for (const FileDescriptorProto& file : files) {
    if (pool_->FindFileByName(file.name()) == nullptr) pending.emplace(file.name(), &file);
  }
  while (!pending.empty()) {
    bool built_one = false;
    for (auto it = pending.begin(); it != pending.end();) {
      const FileDescriptorProto& file = *it->second;
      bool ready = true;
      for (const std::string& dependency : file.dependency()) {
        if (pending.contains(dependency)) {
          ready = false;
        } else if (pool_->FindFileByName(dependency) == nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat("file \"", file.name(), "\" imports \"", dependency,
                           "\", which is neither compiled in nor among the files added"));
        }
      }
      if (!ready) {
        ++it;
        continue;
      }
      FANOUT_RETURN_IF_ERROR(BuildLocked(file));
      it = pending.erase(it);
      built_one = true;
    }
    if (!built_one) {
      std::vector<std::string> names;
      for (const auto& [name, file] : pending) names.push_back(name);
      return absl::InvalidArgumentError(
          absl::StrCat("files import each other in a cycle: ", absl::StrJoin(names, ", ")));
    }
  }
  return absl::OkStatus();
}

absl::Status DescriptorRegistry::BuildLocked(const FileDescriptorProto& file) {
  ErrorList errors;
  if (pool_->BuildFileCollectingErrors(file, &errors) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("file \"", file.name(), "\" does not build: ", errors.Joined()));
  }
  return absl::OkStatus();
}

const google::protobuf::ServiceDescriptor* DescriptorRegistry::FindService(
    absl::string_view service) const {
  std::string name(service);
  // The generated pool is thread-safe on its own: no lock for compiled-in types.
  if (const auto* found = DescriptorPool::generated_pool()->FindServiceByName(name)) return found;
  MutexLock lock(&mu_);
  return pool_->FindServiceByName(name);
}

const google::protobuf::MethodDescriptor* DescriptorRegistry::FindMethod(
    absl::string_view method) const {
  absl::ConsumePrefix(&method, "/");
  size_t slash = method.rfind('/');
  if (slash == absl::string_view::npos || slash == 0 || slash + 1 == method.size()) {
    return nullptr;
  }
  const google::protobuf::ServiceDescriptor* service = FindService(method.substr(0, slash));
  if (service == nullptr) return nullptr;
  return service->FindMethodByName(std::string(method.substr(slash + 1)));
}

bool DescriptorRegistry::HasFile(const std::string& file_name) const {
  MutexLock lock(&mu_);
  return pool_->FindFileByName(file_name) != nullptr;
}

Task<absl::Status> DescriptorRegistry::LoadFromReflection(grpc::GenericStub* stub,
                                                          std::string service) {
  if (FindService(service) != nullptr) co_return absl::OkStatus();
  std::string prefix = absl::StrCat("service \"", service, "\" by reflection: ");
  std::function<bool(const std::string&)> known = [this](const std::string& name) {
    return HasFile(name);
  };
  absl::StatusOr<std::vector<FileDescriptorProto>> files =
      co_await FilesContainingSymbol(stub, service, known);
  if (!files.ok()) co_return Prefixed(files.status(), prefix);
  FANOUT_CO_RETURN_IF_ERROR(Prefixed(AddFiles(*files), prefix));
  if (FindService(service) == nullptr) {
    co_return absl::NotFoundError(prefix + "the server's files do not define it as a service");
  }
  co_return absl::OkStatus();
}

std::unique_ptr<google::protobuf::Message> DescriptorRegistry::NewMessage(
    const google::protobuf::Descriptor* type) const {
  if (type == nullptr) return nullptr;
  const google::protobuf::Message* prototype = factory_.GetPrototype(type);
  if (prototype == nullptr) return nullptr;
  return std::unique_ptr<google::protobuf::Message>(prototype->New());
}

}  // namespace fanout::gateway
