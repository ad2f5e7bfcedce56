// PostgresServer: a private PostgreSQL cluster for tests. initdb in a
// temporary directory (as `nobody` when the tests run as root: PostgreSQL
// refuses root), a free port on 127.0.0.1, trust authentication, stopped
// and removed when the object goes. The postmaster runs under a shell that
// holds the read end of a pipe this process writes: when the process dies
// (a crashed test), the pipe closes and the shell stops the server (fast
// shutdown), so no server is left behind.
//
//   std::string why;
//   PostgresServer* server = PostgresServer::Shared(&why);   // one per process
//   if (server == nullptr) GTEST_SKIP() << why;
//   absl::StatusOr<std::string> dsn = server->CreateDatabase();   // fresh and empty
//
// The binaries come from Debian's `postgresql` package (deploy/setup.sh);
// without them Shared() says so and tests skip. Thread-safe.
#pragma once

#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/free_port.h"

namespace fanout::testing {

class PostgresServer {
 public:
  // The directory holding initdb and postgres; empty when not installed.
  static std::string BinDir() {
    if (const char* dir = std::getenv("FANOUT_PG_BINDIR")) return dir;
    std::string best;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", error)) {
      std::filesystem::path bin = entry.path() / "bin";
      if (std::filesystem::exists(bin / "initdb") && std::filesystem::exists(bin / "postgres") &&
          bin.string() > best) {
        best = bin.string();
      }
    }
    return best;
  }

  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start() {
    std::string bin = BinDir();
    if (bin.empty()) {
      return absl::UnavailableError(
          "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): install Debian's "
          "`postgresql` (deploy/setup.sh does) to run the PostgreSQL store's tests");
    }
    char dir_template[] = "/tmp/fanout-pg-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) return absl::InternalError("mkdtemp failed");
    std::unique_ptr<PostgresServer> server(new PostgresServer(bin, dir_template));
    if (::geteuid() == 0 && ::chown(dir_template, kNobody, kNobody) != 0) {
      return absl::InternalError("chown of the cluster's directory to nobody failed");
    }
    int rc = server->Run({bin + "/initdb", "-D", server->data_dir(), "-A", "trust", "-U", "fanout",
                          "-E", "UTF8", "--locale=C", "-N"},
                         /*wait=*/true);
    if (rc != 0) {
      return absl::InternalError(absl::StrCat("initdb exited ", rc, "; see ", server->log_path()));
    }
    if (absl::Status started = server->StartAgain(); !started.ok()) return started;
    return server;
  }

  // The process's shared server, started on first use; null (and `why`) when
  // there is none.
  static PostgresServer* Shared(std::string* why) {
    static auto* shared = new absl::StatusOr<std::unique_ptr<PostgresServer>>(Start());
    static const int stop_at_exit = std::atexit([] { shared->value().reset(); });
    (void)stop_at_exit;
    if (!shared->ok()) {
      *why = std::string(shared->status().message());
      return nullptr;
    }
    return shared->value().get();
  }

  ~PostgresServer() {
    Stop();
    std::error_code error;
    std::filesystem::remove_all(dir_, error);
  }

  int port() const { return port_; }
  std::string Dsn(const std::string& database) const {
    return absl::StrCat("host=127.0.0.1 port=", port_, " user=fanout dbname=", database);
  }

  // A new empty database on this server; its DSN.
  absl::StatusOr<std::string> CreateDatabase() {
    std::string name = absl::StrCat("test_", ::getpid(), "_", next_database_.fetch_add(1));
    PGconn* conn = PQconnectdb(Dsn("postgres").c_str());
    std::string error;
    if (PQstatus(conn) != CONNECTION_OK) {
      error = PQerrorMessage(conn);
    } else {
      PGresult* r = PQexec(conn, absl::StrCat("CREATE DATABASE ", name).c_str());
      if (PQresultStatus(r) != PGRES_COMMAND_OK) error = PQresultErrorMessage(r);
      PQclear(r);
    }
    PQfinish(conn);
    if (!error.empty()) return absl::InternalError(absl::StrCat("CREATE DATABASE: ", error));
    return Dsn(name);
  }

  // Fast shutdown (open connections are closed by the server), waited for.
  void Stop() {
    if (pid_ <= 0) return;
    ::close(lifeline_);  // The shell reads EOF and stops the server.
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // Starts the postmaster on the same port and data, waits until it answers.
  absl::Status StartAgain() {
    if (port_ == 0) port_ = FreePort();
    std::string postgres =
        absl::StrCat(bin_, "/postgres -D ", data_dir(), " -p ", port_, " -k ", dir_,
                     " -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB -c "
                     "max_connections=100");
    int pipe[2];
    if (::pipe2(pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
    lifeline_ = pipe[1];
    pid_ = Run({"/bin/sh", "-c",
                absl::StrCat(postgres, " & pid=$!; read -r _; kill -INT $pid; wait $pid")},
               /*wait=*/false, /*stdin_fd=*/pipe[0]);
    ::close(pipe[0]);
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    std::string dsn = Dsn("postgres");
    while (PQping(dsn.c_str()) != PQPING_OK) {
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("postgres did not answer within 30 s; see ", log_path()));
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return absl::OkStatus();
  }

  std::string data_dir() const { return dir_ + "/data"; }
  std::string log_path() const { return dir_ + "/server.log"; }

 private:
  static constexpr uid_t kNobody = 65534;

  PostgresServer(std::string bin, std::string dir) : bin_(std::move(bin)), dir_(std::move(dir)) {}

  // Runs argv as nobody (when root), output appended to the log; waits for
  // its exit code, or returns its pid.
  int Run(const std::vector<std::string>& argv, bool wait, int stdin_fd = -1) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::string log = log_path();
    pid_t pid = ::fork();
    if (pid == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      if (stdin_fd >= 0) ::dup2(stdin_fd, 0);
      if (::geteuid() == 0 && (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0)) ::_exit(126);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    if (!wait) return pid;
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  const std::string bin_;
  const std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;     // the shell
  int lifeline_ = -1;  // its stdin's write end
  std::atomic<int> next_database_{0};
};

}  // namespace fanout::testing
