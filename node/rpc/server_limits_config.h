// The config file's `grpc_server` message (fanout.config.v1.GrpcServer)
// turned into the gRPC door's Server::Options::Limits, its 0s read as the
// defaults the schema names:
//
//   Server server({.listen_addresses = {config.grpc_address()},
//                  .limits = ServerLimitsFromConfig(config.grpc_server())});
//
// (`reflection` is not a limit: the node adds or leaves out the plugin.)
// Thread-safe.
#pragma once

#include "fanout/config/v1/node_config.pb.h"
#include "node/rpc/server.h"

namespace fanout {

Server::Options::Limits ServerLimitsFromConfig(const config::v1::GrpcServer& config);

}  // namespace fanout
