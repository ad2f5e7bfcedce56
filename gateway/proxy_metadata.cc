#include "gateway/proxy_metadata.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace fanout::gateway {

int HopsOf(const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata) {
  auto it = client_metadata.find(grpc::string_ref(kHopsKey));
  if (it == client_metadata.end()) return 0;
  return HopsOf(absl::string_view(it->second.data(), it->second.size()));
}

int HopsOf(absl::string_view value) {
  int hops = 0;
  if (!absl::SimpleAtoi(value, &hops)) return 0;
  return std::max(hops, 0);
}

absl::Status CheckHops(int hops, absl::string_view method) {
  if (hops < kMaxHops) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("method ", method, ": the call has passed through ", hops, " gateways (",
                   kHopsKey, "), a proxy loop; check gateway.services and the backends' targets"));
}

bool IsReservedMetadataKey(absl::string_view key) {
  return key.empty() || key[0] == ':' || absl::StartsWith(key, "grpc-") || key == "content-type" ||
         key == "te" || key == "user-agent" || key == "host" || key == "connection";
}

absl::Status CheckAllowlistKey(absl::string_view key, bool auth_configured) {
  auto refused = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("\"", key, "\" cannot be forwarded: ", why));
  };
  if (absl::StartsWith(key, "x-fanout-")) {
    return refused(
        "x-fanout-* keys are set by the gateway itself (hops, the verified caller); a "
        "caller's own are always dropped");
  }
  if (!key.empty() && key[0] == ':') return refused("an HTTP/2 pseudo-header");
  if (absl::StartsWith(key, "grpc-")) return refused("grpc-* keys are gRPC's own");
  if (key == "content-type" || key == "te" || key == "user-agent") {
    return refused("gRPC sets it on every call itself");
  }
  if (key == "host" || key == "connection" || key == "keep-alive" ||
      absl::StartsWith(key, "proxy-") || key == "transfer-encoding" || key == "upgrade" ||
      key == "trailer" || key == "content-length") {
    return refused("it describes the caller's HTTP connection or body, not the call");
  }
  if (key == "x-user-id" && auth_configured) {
    return refused(
        "gateway.auth verifies callers, so a caller-sent user id is an unverified claim; "
        "backends read the verified x-fanout-subject");
  }
  return absl::OkStatus();
}

namespace {

// In 64 bits: HopsOf takes any int a caller sends, and a caller that is
// not refused first (CheckHops) may send INT_MAX.
std::string NextHops(int hops) { return absl::StrCat(int64_t{hops} + 1); }

// x-fanout-* keys (the hop count, the verified identity) only a gateway
// sets: a caller's own are never forwarded.
bool Forwardable(absl::string_view key) {
  return !IsReservedMetadataKey(key) && !absl::StartsWith(key, "x-fanout-");
}

}  // namespace

MetadataList ForwardedMetadata(
    const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata,
    const std::vector<std::string>& allowlist) {
  MetadataList out;
  for (const std::string& key : allowlist) {
    if (!Forwardable(key)) continue;
    auto [begin, end] = client_metadata.equal_range(grpc::string_ref(key));
    for (auto it = begin; it != end; ++it) {
      out.emplace_back(key, std::string(it->second.data(), it->second.size()));
    }
  }
  out.emplace_back(kHopsKey, NextHops(HopsOf(client_metadata)));
  return out;
}

MetadataList ForwardedHeaders(const MetadataList& headers,
                              const std::vector<std::string>& allowlist, int hops) {
  MetadataList out;
  for (const auto& [name, value] : headers) {
    if (Forwardable(name) && absl::c_linear_search(allowlist, name)) out.emplace_back(name, value);
  }
  out.emplace_back(kHopsKey, NextHops(hops));
  return out;
}

}  // namespace fanout::gateway
