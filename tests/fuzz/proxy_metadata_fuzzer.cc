// libFuzzer target: the metadata the gateway forwards to backends and
// passes back to callers, and the hop count (gateway/proxy_metadata.h).
// The input's first line is the allowlist (keys separated by ','); each
// further line is one caller metadata pair "key:value".
//
// Properties: HopsOf is never negative; CheckHops refuses exactly from
// kMaxHops on; what is forwarded is the caller's allowlisted, unreserved
// pairs, never an x-fanout-* key (only gateways set those) (from gRPC's multimap: in allowlist
// order; from copied headers: in the caller's order), then one x-fanout-hops of hops + 1;
// passed-back metadata is the backend's without reserved keys, in order.
//
// Fuzz for real:  bash tests/fuzz/fuzz.sh proxy_metadata build 600
#include <grpcpp/support/string_ref.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gateway/proxy_metadata.h"
#include "tests/fuzz/fuzz_target.h"

namespace fanout::fuzz {
namespace {

using gateway::MetadataList;

[[noreturn]] void Broken(const char* what, const std::string& detail) {
  fuzz::Broken("proxy_metadata", what, detail);
}

bool Forwardable(const std::string& key) {
  return !gateway::IsReservedMetadataKey(key) && !absl::StartsWith(key, "x-fanout-");
}

void CheckForwarded(const MetadataList& expected_pairs, int hops, const MetadataList& forwarded,
                    const char* which) {
  MetadataList expected = expected_pairs;
  expected.emplace_back(gateway::kHopsKey, absl::StrCat(int64_t{hops} + 1));
  if (forwarded != expected) {
    Broken(which, absl::StrCat(forwarded.size(), " pairs, expected ", expected.size()));
  }
}

}  // namespace

int FuzzProxyMetadata(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> lines = absl::StrSplit(input, '\n');
  std::vector<std::string> allowlist = absl::StrSplit(lines[0], ',', absl::SkipEmpty());
  // Owned pairs, and gRPC's view of them (a multimap: sorted by key, equal
  // keys in arrival order).
  MetadataList pairs;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::pair<std::string, std::string> pair = absl::StrSplit(lines[i], absl::MaxSplits(':', 1));
    pairs.push_back(std::move(pair));
  }
  std::multimap<grpc::string_ref, grpc::string_ref> views;
  for (const auto& [key, value] : pairs) views.emplace(key, value);
  MetadataList sorted;
  for (const auto& [key, value] : views)
    sorted.emplace_back(std::string(key.data(), key.size()),
                        std::string(value.data(), value.size()));

  int hops = gateway::HopsOf(views);
  if (hops < 0) Broken("negative hops", std::to_string(hops));
  if (gateway::CheckHops(hops, "/m").ok() != (hops < gateway::kMaxHops)) {
    Broken("CheckHops disagrees with kMaxHops", std::to_string(hops));
  }
  // gRPC metadata: per allowlisted key (distinct, as the gateway keeps
  // them), in allowlist order, each key's values in arrival order.
  std::vector<std::string> distinct;
  for (const std::string& key : allowlist) {
    if (!absl::c_linear_search(distinct, key)) distinct.push_back(key);
  }
  MetadataList by_allowlist;
  for (const std::string& key : distinct) {
    if (!Forwardable(key)) continue;
    for (const auto& pair : pairs) {
      if (pair.first == key) by_allowlist.push_back(pair);
    }
  }
  CheckForwarded(by_allowlist, hops, gateway::ForwardedMetadata(views, distinct),
                 "forwarded gRPC metadata is not the allowlisted pairs and the hops");
  // Headers: the caller's order.
  MetadataList in_order;
  for (const auto& pair : pairs) {
    if (Forwardable(pair.first) && absl::c_linear_search(distinct, pair.first)) {
      in_order.push_back(pair);
    }
  }
  CheckForwarded(in_order, hops, gateway::ForwardedHeaders(pairs, distinct, hops),
                 "forwarded headers are not the allowlisted pairs and the hops");

  MetadataList passed = gateway::PassedBackMetadata(views);
  MetadataList expected;
  for (const auto& pair : sorted) {
    if (!gateway::IsReservedMetadataKey(pair.first)) expected.push_back(pair);
  }
  if (passed != expected) Broken("passed-back metadata kept a reserved key or lost one", "");
  return 0;
}

}  // namespace fanout::fuzz

FANOUT_FUZZ_ENTRY(fanout::fuzz::FuzzProxyMetadata)
