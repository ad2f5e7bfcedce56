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

TEST(StatusConversionTest, OutOfRangeWireCodeBecomesUnknown) {
  grpc::Status odd(static_cast<grpc::StatusCode>(42), "from a strange peer");
  absl::Status s = ToAbslStatus(odd);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(s.message(), "from a strange peer");
}

}  // namespace
}  // namespace fanout
