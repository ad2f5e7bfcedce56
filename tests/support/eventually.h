// Eventually: polls a condition that another thread makes true.
//
//   EXPECT_TRUE(Eventually([&] { return server.calls() == 3; }));
//
// False after `limit`: a broken test, not a slow one (the default limit is
// far beyond what any run needs, sanitizers included). Not a timing check.
#pragma once

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fanout::testing {

inline bool Eventually(const std::function<bool()>& done,
                       absl::Duration limit = absl::Seconds(30)) {
  absl::Time give_up = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

}  // namespace fanout::testing
