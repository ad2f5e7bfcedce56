// CheckMetadata: what gRPC can send as metadata (1.51 aborts on the rest).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "node/rpc/client.h"
#include "tests/support/status_matchers.h"

namespace fanout {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::testing::HasSubstr;

TEST(CheckMetadataTest, KeysAreLowercaseLettersDigitsAndDashUnderscoreDot) {
  EXPECT_THAT(CheckMetadata("x-request_id.v2", "abc"), IsOk());
  for (const char* key : {"", "X-Upper", "with space", "colon:", "caf\xc3\xa9"}) {
    EXPECT_THAT(CheckMetadata(key, "v"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("metadata key")))
        << key;
  }
}

TEST(CheckMetadataTest, TextValuesArePrintableAsciiBinaryValuesAnything) {
  EXPECT_THAT(CheckMetadata("x-id", " printable ~ ASCII "), IsOk());
  EXPECT_THAT(CheckMetadata("x-id", "a\tb"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x-id: byte 0x09 at 1")));
  EXPECT_THAT(CheckMetadata("x-id", "caf\xc3\xa9"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x-id: byte 0xC3 at 3")));
  EXPECT_THAT(CheckMetadata("x-id-bin", std::string("\0\xff\t", 3)), IsOk());
}

}  // namespace
}  // namespace fanout
