// Names the calling thread as `top -H`, `perf report --sort comm`, gdb and
// /proc/<pid>/task/*/comm show it, so a profile tells the loops from the HTTP
// I/O threads and gRPC's own threads (which name themselves).
//
//   thread_ = std::thread([this] {
//     NameThisThread(absl::StrCat("loop-", index_));
//     Run();
//   });
//
// Linux keeps 15 bytes of a thread's name; a longer one is cut to its first
// 15. Best effort: a failure leaves the name as it was.
// Thread-safe.
#pragma once

#include <string_view>

namespace fanout {

void NameThisThread(std::string_view name);

}  // namespace fanout
