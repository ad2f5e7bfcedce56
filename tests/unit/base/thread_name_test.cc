#include "node/base/thread_name.h"

#include <gtest/gtest.h>
#include <pthread.h>

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

TEST(ThreadNameTest, NamesTheCallingThread) { EXPECT_EQ(NameOnNewThread("http-io"), "http-io"); }

TEST(ThreadNameTest, CutsALongNameToTheKernelsFifteenBytes) {
  EXPECT_EQ(NameOnNewThread("offload-postgres-orders"), "offload-postgre");
}

TEST(ThreadNameTest, EachLoopThreadCarriesItsIndex) {
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

}  // namespace
}  // namespace fanout
