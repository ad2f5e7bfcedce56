#include "node/rpc/status.h"

#include <gtest/gtest.h>

namespace fanout {
namespace {

TEST(StatusConversionTest, AllSeventeenCodesRoundTrip) {
  for (int code = 0; code <= 16; ++code) {
    absl::Status original(static_cast<absl::StatusCode>(code), code == 0 ? "" : "what went wrong");
    grpc::Status wire = ToGrpcStatus(original);
    EXPECT_EQ(static_cast<int>(wire.error_code()), code);
    if (code != 0) {
      EXPECT_EQ(wire.error_message(), "what went wrong");
    }
    EXPECT_EQ(ToAbslStatus(wire), original) << "code " << code;
  }
}

}  // namespace
}  // namespace fanout
