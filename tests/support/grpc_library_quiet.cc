// Every test binary waits, after its last test, for the gRPC library to finish
// shutting down before the process exits.
//
// When the last reference to gRPC is dropped on one of gRPC's own threads (a
// subchannel's reconnect timer outliving a dead backend, say), grpc_shutdown
// hands the clean-up to a detached thread. If main returns first, that thread
// is cut off mid-way: the timer threads it was joining are left finished but
// unjoined, which ThreadSanitizer reports as a thread leak. Waiting here makes
// the end of every test process deterministic.
#include <grpc/grpc.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "tests/support/eventually.h"

namespace fanout::testing {
namespace {

class GrpcLibraryQuiet : public ::testing::Environment {
 public:
  void TearDown() override {
    // Anything still holding gRPC now is released by gRPC's own timers within
    // a reconnect backoff; 10 s is far beyond that, and never waited out.
    if (!Eventually([] { return grpc_is_initialized() == 0; }, absl::Seconds(10))) {
      std::fprintf(stderr, "note: gRPC still initialized 10 s after the last test\n");
    }
  }
};

[[maybe_unused]] const ::testing::Environment* const kRegistered =
    ::testing::AddGlobalTestEnvironment(new GrpcLibraryQuiet);

}  // namespace
}  // namespace fanout::testing
