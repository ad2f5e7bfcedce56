#include "node/rpc/status.h"

#include <gtest/gtest.h>

#include <string>

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

TEST(StatusConversionTest, DetailsRideAsThePayloadBothWays) {
  const std::string details(
      "\x08\x03\x12\x03"
      "bad",
      7);  // bytes of a google.rpc.Status
  grpc::Status wire(grpc::StatusCode::INVALID_ARGUMENT, "bad", details);
  absl::Status inside = ToAbslStatus(wire);
  EXPECT_EQ(inside.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(inside.GetPayload(kGrpcStatusDetailsUrl).has_value());
  EXPECT_EQ(std::string(*inside.GetPayload(kGrpcStatusDetailsUrl)), details);
  EXPECT_EQ(ToGrpcStatus(inside).error_details(), details);
  // None on either side: none on the other.
  EXPECT_FALSE(ToAbslStatus(grpc::Status(grpc::StatusCode::INTERNAL, "x"))
                   .GetPayload(kGrpcStatusDetailsUrl)
                   .has_value());
  EXPECT_EQ(ToGrpcStatus(absl::InternalError("x")).error_details(), "");
}

}  // namespace
}  // namespace fanout
