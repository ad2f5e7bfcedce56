#include "node/base/this_thread.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <string>
#include <thread>

#include "node/base/sync.h"
#include "node/loop/event_loop.h"

namespace fanout {
namespace {

std::string ThisThreadName() {
  char name[16] = {};
  EXPECT_EQ(pthread_getname_np(pthread_self(), name, sizeof(name)), 0);
  return name;
}

std::string NameOnNewThread(std::string_view name) {
  std::string seen;
  std::thread thread([&] {
    NameThisThread(name);
    seen = ThisThreadName();
  });
  thread.join();
  return seen;
}

TEST(ThisThreadTest, NamesTheCallingThread) { EXPECT_EQ(NameOnNewThread("http-io"), "http-io"); }

TEST(ThisThreadTest, CutsALongNameToTheKernelsFifteenBytes) {
  EXPECT_EQ(NameOnNewThread("offload-postgres-orders"), "offload-postgre");
}

TEST(ThisThreadTest, EachLoopThreadCarriesItsIndex) {
  LoopGroup loops({.num_loops = 2});
  for (int i = 0; i < loops.size(); ++i) {
    std::string seen;
    Notification done;
    ASSERT_TRUE(loops.At(i).Post([&] {
      seen = ThisThreadName();
      done.Notify();
    }));
    done.WaitForNotification();
    EXPECT_EQ(seen, "loop-" + std::to_string(i));
  }
}

TEST(ThisThreadTest, YieldOnWakeupPutsTheCallingThreadAloneInTheBatchClass) {
  int policy = -1;
  std::thread thread([&] {
    EXPECT_TRUE(YieldOnWakeup());
    policy = sched_getscheduler(0);
  });
  thread.join();
  EXPECT_EQ(policy, SCHED_BATCH);
  EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER);  // The caller's class is its own.
}

}  // namespace
}  // namespace fanout
