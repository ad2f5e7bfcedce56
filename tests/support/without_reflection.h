// WithoutReflection: a ServerBuilder option that keeps gRPC's reflection
// plugin off one server. Linking libgrpc++_reflection (integration_tests
// does) registers the plugin for every ServerBuilder in the process, so a
// test that needs a server without reflection, or one answering reflection
// itself, says so:
//
//   Server bare({.listen_addresses = {"127.0.0.1:0"}});
//   bare.builder().SetOption(std::make_unique<WithoutReflection>());
//
// Thread-safe.
#pragma once

#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>

#include <memory>
#include <vector>

namespace fanout::testing {

class WithoutReflection : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    std::erase_if(*plugins, [](const std::unique_ptr<grpc::ServerBuilderPlugin>& plugin) {
      return plugin->name() == "proto_server_reflection";
    });
  }
};

}  // namespace fanout::testing
