// Routes compiled as the gateway compiles them, against the message types
// compiled into the test binary and the backends the built-in routes name
// (users, orders, recommendations, lab).
//
//   absl::StatusOr<std::vector<CompiledRoute>> routes = CompileYamlRoutes(R"(
//   routes: [{path: /x, calls: [{name: a, backend: lab, method: fanout.lab.v1.Lab/Echo}]}])");
#pragma once

#include <google/protobuf/descriptor.h>

#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "fanout/gateway/v1/gateway.pb.h"
#include "fanout/lab/v1/lab.pb.h"
#include "gateway/route_compile.h"
#include "node/config/yaml_proto.h"

namespace fanout::testing {

inline gateway::RouteContext TestRouteContext() {
  // Link the compiled-in types the routes name.
  (void)gateway::v1::Dashboard::descriptor();
  (void)lab::v1::EchoRequest::descriptor();
  gateway::RouteContext context;
  context.backends = {"users", "orders", "recommendations", "lab"};
  context.find_method = [](absl::string_view method) {
    std::string name = absl::StrReplaceAll(method, {{"/", "."}});
    if (!name.empty() && name[0] == '.') name.erase(0, 1);
    return google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(name);
  };
  return context;
}

// `yaml`: a gateway config's text (its `routes`).
inline absl::StatusOr<std::vector<gateway::CompiledRoute>> CompileYamlRoutes(
    const std::string& yaml) {
  config::v1::GatewayConfig config;
  absl::Status parsed = YamlTextToMessage(yaml, "test", &config);
  if (!parsed.ok()) return parsed;
  return CompileRoutes(config, TestRouteContext());
}

}  // namespace fanout::testing
