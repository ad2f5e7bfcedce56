// Which metadata crosses the gateway, and how many gateways a call has
// crossed. Pure functions over key/value pairs, shared by every door that
// calls a backend (ProxyCall, the unary fast path, routes) so they all
// forward and pass back the same keys:
//
//   MetadataList forward = ForwardedMetadata(call.context().client_metadata(), allowlist);
//   for (const auto& [key, value] : PassedBackMetadata(backend_trailers)) ...
//
// PassedBackMetadata takes any range of key/value pairs with data() and
// size(): gRPC's multimap of string_refs, or owned strings.
//
// Thread-safe (pure functions).
#pragma once

#include <grpcpp/support/string_ref.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fanout::gateway {

using MetadataList = std::vector<std::pair<std::string, std::string>>;

// Hops: every call a gateway sends on carries x-fanout-hops, one more than
// the call it came from (REST requests start at 0). A call arriving with
// kMaxHops or more is refused (FAILED_PRECONDITION), so gateways that
// proxy to each other in a loop end it at once instead of multiplying
// calls until memory runs out. A caller's own value is replaced, never
// forwarded.
inline constexpr char kHopsKey[] = "x-fanout-hops";
inline constexpr int kMaxHops = 8;
// The hops a gRPC call has made so far: 0 when absent or not a number.
int HopsOf(const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata);
// The same from the value of x-fanout-hops ("" when absent).
int HopsOf(absl::string_view value);
// FAILED_PRECONDITION naming the method when `hops` is at the limit.
absl::Status CheckHops(int hops, absl::string_view method);

// Keys a proxy never copies: grpc-*, ':'-pseudo-headers and the HTTP/2
// transport headers gRPC sets itself.
bool IsReservedMetadataKey(absl::string_view key);

// OK, or why `key` (lower case) may not be in gateway.metadata_allowlist:
// keys the gateway sets itself (x-fanout-*: hops, the verified identity),
// gRPC's and HTTP/2's own (grpc-*, ':'-pseudo-headers, content-type, te,
// user-agent), headers that describe one HTTP connection or body rather
// than the call (host, connection, keep-alive, proxy-*, transfer-encoding,
// upgrade, trailer, content-length), and, once the gateway verifies
// callers (`auth_configured`), x-user-id: an unverified claim there
// (backends read x-fanout-subject). `authorization` is allowed: backends
// may check a token again.
absl::Status CheckAllowlistKey(absl::string_view key, bool auth_configured);

// What a proxied gRPC call carries of its caller's metadata: the values
// under each allowlisted key (lower-case, each once), in allowlist order,
// never a reserved key nor any x-fanout-* (the caller's own hops, or an
// identity only the gateway may set); then x-fanout-hops, one
// more than HopsOf. Looks up only the allowlisted keys (the caller may send
// many more).
MetadataList ForwardedMetadata(
    const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata,
    const std::vector<std::string>& allowlist);

// The same for headers already copied out (a REST request's, or a routed
// call's): the allowlisted pairs in the caller's order, then x-fanout-hops,
// `hops` + 1.
MetadataList ForwardedHeaders(const MetadataList& headers,
                              const std::vector<std::string>& allowlist, int hops);

// What a caller gets back of a backend's metadata: all but reserved keys.
template <typename Metadata>
MetadataList PassedBackMetadata(const Metadata& backend);

// --- Implementation ---------------------------------------------------------

template <typename Metadata>
MetadataList PassedBackMetadata(const Metadata& backend) {
  MetadataList out;
  for (const auto& [key, value] : backend) {
    absl::string_view name(key.data(), key.size());
    if (IsReservedMetadataKey(name)) continue;
    out.emplace_back(std::string(name), std::string(value.data(), value.size()));
  }
  return out;
}

}  // namespace fanout::gateway
