// The node config's store.postgres block (PostgresOptionsFromConfig, as
// fanoutd reads it) as the pool meets it, on a fresh database of the test's
// PostgreSQL server (skipped where none is installed). The keys about
// connecting (connect_timeout_ms, reconnect_max_backoff_ms) meet a
// stand-in for the server that does not answer, or hangs up; each is shown
// by a contrast between a short and an hour's setting, not by a timing.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "node/config/yaml_proto.h"
#include "services/store/postgres.h"
#include "tests/support/eventually.h"
#include "tests/support/postgres_server.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_store.h"

namespace fanout {
namespace {

using ::fanout::testing::Eventually;
using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr PgStatement kDatabase{"config_test_database", "SELECT current_database()"};

// A port on 127.0.0.1 standing in for the server: it holds each connection
// it accepts without a word (a server that hangs), or passes it through to
// the server on `forward_to`, until HangUp(); from then on it has closed
// those and closes every later one as soon as it accepts it.
// Thread-safe; one thread of its own.
class StandInServer {
 public:
  explicit StandInServer(int forward_to = 0) : forward_to_(forward_to) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = Loopback(0);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(listener_, 64), 0);
    EXPECT_EQ(::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
    EXPECT_EQ(::pipe2(wake_, O_CLOEXEC), 0);
    thread_ = std::thread([this] { Run(); });
  }
  ~StandInServer() {
    stopping_.store(true);
    Wake();
    thread_.join();
    for (int fd : {listener_, wake_[0], wake_[1]}) ::close(fd);
  }
  StandInServer(const StandInServer&) = delete;
  StandInServer& operator=(const StandInServer&) = delete;

  int port() const { return port_; }
  // Connections accepted, and of those closed at once after HangUp().
  int accepted() const { return accepted_.load(); }
  int hung_up() const { return hung_up_.load(); }
  // Returns once the connections held are closed.
  void HangUp() {
    hang_up_.store(true);
    Wake();
    EXPECT_TRUE(Eventually([&] { return hung_up_held_.load(); }));
  }

 private:
  static sockaddr_in Loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    return addr;
  }
  void Wake() { (void)!::write(wake_[1], "x", 1); }

  // A connection accepted and, when forwarding, the one to the server (else -1).
  struct Pair {
    int client;
    int server;
  };

  void Run() {
    std::vector<Pair> open;
    auto close_all = [&] {
      for (const Pair& p : open) {
        ::close(p.client);
        if (p.server >= 0) ::close(p.server);
      }
      open.clear();
    };
    for (;;) {
      std::vector<pollfd> fds = {{.fd = wake_[0], .events = POLLIN, .revents = 0},
                                 {.fd = listener_, .events = POLLIN, .revents = 0}};
      for (const Pair& p : open) {
        fds.push_back({.fd = p.client, .events = POLLIN, .revents = 0});
        fds.push_back({.fd = p.server, .events = POLLIN, .revents = 0});  // -1: ignored
      }
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        ADD_FAILURE() << "stand-in server: poll failed, errno " << errno;
        break;
      }
      if (fds[0].revents != 0) {
        char drained[16];
        (void)!::read(wake_[0], drained, sizeof(drained));
        if (stopping_.load()) break;
        if (hang_up_.load()) {
          close_all();
          hung_up_held_.store(true);
        }
      }
      for (size_t i = open.size(); i-- > 0;) {
        if (!Pump(fds[2 + 2 * i], open[i].server) || !Pump(fds[3 + 2 * i], open[i].client)) {
          ::close(open[i].client);
          if (open[i].server >= 0) ::close(open[i].server);
          open.erase(open.begin() + static_cast<ptrdiff_t>(i));
        }
      }
      if (fds[1].revents != 0) Accept(open);
    }
    close_all();
  }

  void Accept(std::vector<Pair>& open) {
    int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;
    accepted_.fetch_add(1);
    if (hang_up_.load()) {
      ::close(client);
      hung_up_.fetch_add(1);
      return;
    }
    int server = -1;
    if (forward_to_ != 0) {
      server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr = Loopback(forward_to_);
      EXPECT_EQ(::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    }
    open.push_back({.client = client, .server = server});
  }

  // Copies what `from` has to `to` (or drops it, when `to` is -1); false
  // when `from` is closed.
  static bool Pump(const pollfd& from, int to) {
    if (from.fd < 0 || from.revents == 0) return true;
    char buffer[8192];
    ssize_t n = ::read(from.fd, buffer, sizeof(buffer));
    if (n <= 0) return false;
    for (ssize_t sent = 0; to >= 0 && sent < n;) {
      ssize_t m = ::send(to, buffer + sent, n - sent, MSG_NOSIGNAL);
      if (m <= 0) return false;
      sent += m;
    }
    return true;
  }

  const int forward_to_;
  int listener_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> hang_up_{false};
  std::atomic<bool> hung_up_held_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> hung_up_{0};
  std::thread thread_;
};

class PostgresOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override { FANOUT_REQUIRE_STORE(where_); }

  // The pool a node config's `store: {postgres: {<keys>}}` opens; its dsn
  // the test database's unless the keys name one.
  absl::StatusOr<std::unique_ptr<Postgres>> Open(const std::string& keys) {
    config::v1::PostgresStore config;
    absl::Status parsed = YamlTextToMessage("{" + keys + "}", "test", &config);
    if (!parsed.ok()) return parsed;
    if (config.dsn().empty()) config.set_dsn(where_.dsn());
    return Postgres::Open(PostgresOptionsFromConfig(config));
  }

  // `dsn: "..."` for the test database through `door`.
  std::string Through(const StandInServer& door) const {
    // The last port in a libpq DSN wins.
    return absl::StrCat("dsn: \"", where_.dsn(), " port=", door.port(), "\"");
  }
  int ServerPort() const {
    std::string why;
    return testing::PostgresServer::Shared(&why)->port();
  }

  testing::TestStore where_{testing::StoreKind::kPostgres};
};

// proves: store.postgres.dsn
TEST_F(PostgresOptionsTest, TheDsnNamesTheDatabase) {
  absl::StatusOr<std::unique_ptr<Postgres>> db = Open("dsn: \"" + where_.dsn() + "\"");
  ASSERT_THAT(db, IsOk());
  absl::StatusOr<std::vector<SqlRow>> rows = (*db)->Query(kDatabase);
  ASSERT_THAT(rows, IsOk());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_TRUE(absl::StrContains(where_.dsn(), std::get<std::string>((*rows)[0][0])));
  std::string elsewhere =
      where_.dsn().substr(0, where_.dsn().find(" dbname=")) + " dbname=fanout_no_such_database";
  EXPECT_THAT(Open("dsn: \"" + elsewhere + "\""), StatusIs(absl::StatusCode::kUnavailable));
}

// A statement running past the limit is cancelled by the server (the
// default, 5 s, lets this one finish).
// proves: store.postgres.statement_timeout_ms
TEST_F(PostgresOptionsTest, AStatementPastItsTimeoutIsCancelled) {
  absl::StatusOr<std::unique_ptr<Postgres>> db = Open("statement_timeout_ms: 100");
  ASSERT_THAT(db, IsOk());
  EXPECT_THAT((*db)->Transaction([](PgConnection& c) { return c.Exec("SELECT pg_sleep(1)"); }),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
}

// Two connections held, a third call finds none (the default pool holds 8).
// proves: store.postgres.pool_size
TEST_F(PostgresOptionsTest, ThePoolHoldsPoolSizeConnections) {
  absl::StatusOr<std::unique_ptr<Postgres>> db = Open("pool_size: 2, pool_wait_ms: 100");
  ASSERT_THAT(db, IsOk());
  absl::Notification release;
  std::atomic<int> holding{0};
  std::vector<std::thread> holders;
  for (int i = 0; i < 2; ++i) {
    holders.emplace_back([&] {
      EXPECT_THAT((*db)->Transaction([&](PgConnection&) {
        ++holding;
        release.WaitForNotification();
        return absl::OkStatus();
      }),
                  IsOk());
    });
  }
  while (holding.load() < 2) std::this_thread::yield();
  EXPECT_THAT((*db)->Query(kDatabase), StatusIs(absl::StatusCode::kResourceExhausted));
  release.Notify();
  for (std::thread& holder : holders) holder.join();
  EXPECT_THAT((*db)->Query(kDatabase), IsOk());
}

// One connection, held by another call for 1 s: a call that may wait 50 ms
// is refused, naming the key; one that may wait 10 s gets the connection
// once it is free, past the default wait (2 s) too.
// proves: store.postgres.pool_wait_ms
TEST_F(PostgresOptionsTest, ACallWaitsPoolWaitForABusyConnection) {
  auto wait_while_held = [&](const std::string& keys, absl::Duration hold) -> absl::Status {
    absl::StatusOr<std::unique_ptr<Postgres>> db = Open("pool_size: 1, " + keys);
    if (!db.ok()) return db.status();
    absl::Notification holding;
    std::thread holder([&] {
      EXPECT_THAT((*db)->Transaction([&](PgConnection&) {
        holding.Notify();
        absl::SleepFor(hold);
        return absl::OkStatus();
      }),
                  IsOk());
    });
    holding.WaitForNotification();
    absl::Status waited = (*db)->Query(kDatabase).status();
    holder.join();
    return waited;
  };
  absl::Status refused = wait_while_held("pool_wait_ms: 50", absl::Seconds(1));
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_TRUE(absl::StrContains(refused.message(), "pool_wait_ms")) << refused;
  EXPECT_THAT(wait_while_held("pool_wait_ms: 10000", absl::Milliseconds(2500)), IsOk());
}

// A transaction failing with a serialization failure every time runs once
// and again serialization_retries times, then ABORTED (the default: 5).
// proves: store.postgres.serialization_retries
TEST_F(PostgresOptionsTest, SerializationFailuresAreRetriedAsConfigured) {
  absl::StatusOr<std::unique_ptr<Postgres>> db = Open("serialization_retries: 2");
  ASSERT_THAT(db, IsOk());
  int runs = 0;
  absl::Status status = (*db)->Transaction([&](PgConnection& c) {
    ++runs;
    return c.Exec("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$");
  });
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kAborted));
  EXPECT_EQ(runs, 3);
}

// A server that accepts the connection and never answers: a pool allowed
// 2 s to connect gives up, naming the timeout, while one allowed an hour
// (opened first) is still waiting; it fails only when the server hangs up.
// proves: store.postgres.connect_timeout_ms
TEST_F(PostgresOptionsTest, AConnectGivesUpOnASilentServerAfterConnectTimeout) {
  StandInServer short_wait, long_wait;  // Silent, both.
  std::atomic<bool> long_done{false};
  absl::Status long_open;
  std::thread opener([&] {
    long_open = Open(Through(long_wait) + ", connect_timeout_ms: 3600000").status();
    long_done.store(true);
  });
  ASSERT_TRUE(Eventually([&] { return long_wait.accepted() == 1; }));
  absl::Status short_open = Open(Through(short_wait) + ", connect_timeout_ms: 2000").status();
  bool long_was_waiting = !long_done.load();
  long_wait.HangUp();
  opener.join();
  EXPECT_THAT(short_open, StatusIs(absl::StatusCode::kUnavailable,
                                   HasSubstr("timeout expired (connect_timeout_ms: 2s)")));
  EXPECT_TRUE(long_was_waiting);
  EXPECT_THAT(long_open, StatusIs(absl::StatusCode::kUnavailable, Not(HasSubstr("timeout"))));
}

// A pool whose server is gone tries to connect again 50 ms, 100 ms, 200 ms,
// ... apart, up to the key. Two pools, each through a stand-in that passes
// its first connection to the server and then hangs up on it and on every
// later one, take calls all along: by the time the one with 100 ms has
// tried 20 times, the one with an hour, whose tenth try comes 25 s after
// its first, has tried fewer than 10 times, however slow the machine.
// proves: store.postgres.reconnect_max_backoff_ms
TEST_F(PostgresOptionsTest, FailedConnectsAreTriedAgainAtMostReconnectMaxBackoffApart) {
  StandInServer fast_door(ServerPort()), slow_door(ServerPort());
  // A short pool_wait: no call waits long for a try, the last one at the end included.
  absl::StatusOr<std::unique_ptr<Postgres>> fast =
      Open(Through(fast_door) + ", pool_wait_ms: 500, reconnect_max_backoff_ms: 100");
  absl::StatusOr<std::unique_ptr<Postgres>> slow =
      Open(Through(slow_door) + ", pool_wait_ms: 500, reconnect_max_backoff_ms: 3600000");
  ASSERT_THAT(fast, IsOk());
  ASSERT_THAT(slow, IsOk());
  fast_door.HangUp();
  slow_door.HangUp();
  std::atomic<bool> stop{false};
  auto keep_calling = [&](Postgres* db, absl::Status* last) {
    while (!stop.load()) {
      *last = db->Query(kDatabase).status();
      absl::SleepFor(absl::Milliseconds(10));
    }
  };
  absl::Status fast_last, slow_last;
  std::thread fast_calls(keep_calling, fast->get(), &fast_last);
  std::thread slow_calls(keep_calling, slow->get(), &slow_last);
  bool tried = Eventually([&] { return fast_door.hung_up() >= 20 && slow_door.hung_up() >= 1; });
  int fast_tries = fast_door.hung_up(), slow_tries = slow_door.hung_up();
  stop.store(true);
  fast_calls.join();
  slow_calls.join();
  ASSERT_TRUE(tried) << fast_tries << " and " << slow_tries << " tries";
  EXPECT_LT(slow_tries, 10) << "when the 100 ms pool had tried " << fast_tries << " times";
  EXPECT_THAT(fast_last, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot connect")));
  // Whether it tried or waits for its next try, the call names its own wait.
  EXPECT_THAT(slow_last, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("(pool_wait_ms)")));
}

}  // namespace
}  // namespace fanout
