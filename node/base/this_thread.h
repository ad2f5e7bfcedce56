// What a thread says of itself: its name, and how it yields to the loops.
//
// NameThisThread names the calling thread as `top -H`, `perf report --sort
// comm`, gdb and /proc/<pid>/task/*/comm show it, so a profile tells the
// loops from the HTTP I/O threads and gRPC's own threads (which name
// themselves).
//
//   thread_ = std::thread([this] {
//     NameThisThread(absl::StrCat("loop-", index_));
//     Run();
//   });
//
// Linux keeps 15 bytes of a thread's name; a longer one is cut to its first
// 15. Best effort: a failure leaves the name as it was.
//
// YieldOnWakeup puts the calling thread in Linux's SCHED_BATCH class. It
// keeps its fair share of the CPU, but waking up it no longer preempts the
// thread running on its core: it runs when that thread blocks or its slice
// ends. For a thread that hands work to the loops (the HTTP I/O threads):
// under load it no longer cuts into a loop's turn once per request, it
// reads whatever arrived meanwhile in one go; on an idle core it runs at
// once, as before. A loop busy for a millisecond without sleeping yields its
// core once (EventLoop::Run), so such a thread waits about that long at
// most, not a whole slice (bench/README.md, "The HTTP threads yield to the
// loops").
// False (and the class as it was) where the kernel refuses.
//
// Thread-safe.
#pragma once

#include <string_view>

namespace fanout {

void NameThisThread(std::string_view name);

bool YieldOnWakeup();

}  // namespace fanout
