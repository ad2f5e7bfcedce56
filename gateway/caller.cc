#include "gateway/caller.h"

#include <arpa/inet.h>

#include <cstring>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace fanout::gateway {
namespace {

// An address as 16 bytes (IPv4 v4-mapped), and how many of its bits are its
// own (32 for IPv4: the prefix of a v4 range counts within those).
std::optional<std::array<uint8_t, 16>> ParseAddress(absl::string_view text, bool* v4) {
  std::string s(absl::StripAsciiWhitespace(text));
  std::array<uint8_t, 16> out{};
  in_addr a4;
  if (inet_pton(AF_INET, s.c_str(), &a4) == 1) {
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, &a4, 4);
    *v4 = true;
    return out;
  }
  in6_addr a6;
  if (inet_pton(AF_INET6, s.c_str(), &a6) == 1) {
    std::memcpy(out.data(), &a6, 16);
    *v4 = false;
    return out;
  }
  return std::nullopt;
}

bool PrefixMatches(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, int bits) {
  int i = 0;
  for (; bits >= 8; bits -= 8, ++i) {
    if (a[i] != b[i]) return false;
  }
  if (bits == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - bits));
  return (a[i] & mask) == (b[i] & mask);
}

}  // namespace

absl::StatusOr<TrustedProxies> TrustedProxies::Parse(const std::vector<std::string>& entries) {
  TrustedProxies out;
  for (const std::string& entry : entries) {
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(entry, absl::MaxSplits('/', 1));
    bool v4 = false;
    std::optional<std::array<uint8_t, 16>> address = ParseAddress(parts.first, &v4);
    int bits = v4 ? 32 : 128;
    if (address && absl::StrContains(entry, '/') &&
        (!absl::SimpleAtoi(parts.second, &bits) || bits < 0 || bits > (v4 ? 32 : 128))) {
      address.reset();
    }
    if (!address) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", entry, "\" is not an IP address or CIDR range (\"10.0.0.0/8\", \"::1\")"));
    }
    out.ranges_.push_back({*address, v4 ? 96 + bits : bits});
  }
  return out;
}

bool TrustedProxies::Contains(absl::string_view address) const {
  bool v4 = false;
  std::optional<std::array<uint8_t, 16>> parsed = ParseAddress(address, &v4);
  if (!parsed) return false;
  for (const Range& range : ranges_) {
    if (PrefixMatches(*parsed, range.bytes, range.prefix_bits)) return true;
  }
  return false;
}

std::string TrustedProxies::Caller(absl::string_view peer, absl::string_view forwarded_for) const {
  if (ranges_.empty() || forwarded_for.empty() || !Contains(peer)) return std::string(peer);
  std::vector<absl::string_view> hops = absl::StrSplit(forwarded_for, ',');
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    absl::string_view hop = absl::StripAsciiWhitespace(*it);
    if (!Contains(hop)) return std::string(hop);
  }
  return std::string(absl::StripAsciiWhitespace(hops.front()));
}

std::string AddressOfGrpcPeer(absl::string_view peer) {
  absl::string_view rest = peer;
  if (absl::ConsumePrefix(&rest, "ipv4:")) {
    return std::string(rest.substr(0, rest.rfind(':')));
  }
  if (absl::ConsumePrefix(&rest, "ipv6:[")) {
    return std::string(rest.substr(0, rest.find(']')));
  }
  return std::string(peer);
}

}  // namespace fanout::gateway
