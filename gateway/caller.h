// Who is calling, for per-caller limits: the peer's address, or, when the
// peer is a proxy the gateway was told to trust, the address that proxy
// says it forwarded for (X-Forwarded-For, read right to left, skipping
// trusted hops, as nginx's real_ip_recursive and Envoy's xff_num_trusted_hops
// do). A caller cannot pick its own identity by sending X-Forwarded-For:
// the header is read only from a trusted peer.
//
//   FANOUT_ASSIGN_OR_RETURN(TrustedProxies trusted, TrustedProxies::Parse({"10.0.0.0/8"}));
//   std::string caller = trusted.Caller(request.peer, request.Header("x-forwarded-for"));
//
// Thread-safe once built (read-only).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fanout::gateway {

class TrustedProxies {
 public:
  // Each entry an address or a CIDR range, IPv4 or IPv6; an error names the
  // entry that is neither.
  static absl::StatusOr<TrustedProxies> Parse(const std::vector<std::string>& entries);

  bool Contains(absl::string_view address) const;
  // The caller's address: `peer`, or from `forwarded_for` when `peer` is
  // trusted (the rightmost untrusted entry; the leftmost when all are).
  std::string Caller(absl::string_view peer, absl::string_view forwarded_for) const;

 private:
  struct Range {
    std::array<uint8_t, 16> bytes;  // IPv4 as v4-mapped IPv6.
    int prefix_bits;
  };
  std::vector<Range> ranges_;
};

// The address in a gRPC peer string ("ipv4:10.1.2.3:5000", "ipv6:[::1]:5000");
// the string itself when it has another form.
std::string AddressOfGrpcPeer(absl::string_view peer);

}  // namespace fanout::gateway
