#include "node/base/this_thread.h"

#include <pthread.h>
#include <sched.h>

#include <string>

namespace fanout {

void NameThisThread(std::string_view name) {
  constexpr size_t kMaxLength = 15;  // the kernel's TASK_COMM_LEN, less the NUL
  std::string cut(name.substr(0, kMaxLength));
  (void)pthread_setname_np(pthread_self(), cut.c_str());
}

bool YieldOnWakeup() {
  const sched_param param{.sched_priority = 0};  // The only one SCHED_BATCH has.
  return pthread_setschedparam(pthread_self(), SCHED_BATCH, &param) == 0;
}

}  // namespace fanout
