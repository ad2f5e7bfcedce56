// http_load: a paced HTTP/1.1 load driver for the gateway's overload
// benchmark. Each of --connections keep-alive connections sends GETs at
// --rate / connections per second (closed loop when --rate is 0) for
// --seconds, and the answers are tallied by status with their latencies:
// accepted (2xx) and shed (503) requests are reported apart, because
// shedding exists to keep the first fast by answering the second at once.
//
//   http_load --port=8080 --path=/v1/lab/echo?delay_ms=50 --connections=200 --rate=20000 --seconds=5
//
// Traffic goes to 127.0.0.1 only; the run stops by itself.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace {

struct Options {
  int port = 8080;
  std::string path = "/v1/lab/echo";
  int connections = 16;
  double rate = 0;  // Requests per second over all connections; 0: as fast as answers come.
  double seconds = 5;
};

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads one response (Content-Length bodies; the gateway sends them for
// non-streaming routes). Returns the status, or 0 when the connection broke.
int ReadResponse(int fd, std::string& buffer) {
  for (;;) {
    size_t head = buffer.find("\r\n\r\n");
    if (head != std::string::npos) {
      size_t length = 0;
      size_t at = buffer.find("Content-Length: ");
      if (at == std::string::npos) at = buffer.find("content-length: ");
      if (at != std::string::npos && at < head) {
        size_t end = buffer.find("\r\n", at);
        (void)absl::SimpleAtoi(buffer.substr(at + 16, end - at - 16), &length);
      }
      if (buffer.size() >= head + 4 + length) {
        int status = 0;
        (void)absl::SimpleAtoi(buffer.substr(9, 3), &status);
        buffer.erase(0, head + 4 + length);
        return status;
      }
    }
    char chunk[16384];
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return 0;
    buffer.append(chunk, n);
  }
}

struct Tally {
  std::mutex mu;
  std::map<int, std::vector<double>> latency_ms;  // By status.
};

void Worker(const Options& options, absl::Time stop, double interval_s, Tally* tally) {
  std::map<int, std::vector<double>> mine;
  std::string request =
      absl::StrCat("GET ", options.path, " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  int fd = -1;
  std::string buffer;
  absl::Time next = absl::Now();
  while (absl::Now() < stop) {
    if (interval_s > 0) {
      absl::Time now = absl::Now();
      if (next > now) absl::SleepFor(next - now);
      next += absl::Seconds(interval_s);
    }
    if (fd < 0) {
      fd = Connect(options.port);
      buffer.clear();
      if (fd < 0) {
        mine[0].push_back(0);
        absl::SleepFor(absl::Milliseconds(10));
        continue;
      }
    }
    absl::Time start = absl::Now();
    int status = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
                         static_cast<ssize_t>(request.size())
                     ? ReadResponse(fd, buffer)
                     : 0;
    mine[status].push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
    if (status == 0) {
      ::close(fd);
      fd = -1;
    }
  }
  if (fd >= 0) ::close(fd);
  std::lock_guard<std::mutex> lock(tally->mu);
  for (auto& [status, values] : mine) {
    auto& all = tally->latency_ms[status];
    all.insert(all.end(), values.begin(), values.end());
  }
}

double Percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  size_t k = std::min(values.size() - 1, static_cast<size_t>(p * values.size()));
  std::nth_element(values.begin(), values.begin() + k, values.end());
  return values[k];
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::pair<std::string, std::string> kv = absl::StrSplit(argv[i], absl::MaxSplits('=', 1));
    bool ok = true;
    if (kv.first == "--port") ok = absl::SimpleAtoi(kv.second, &options.port);
    else if (kv.first == "--path") options.path = kv.second;
    else if (kv.first == "--connections") ok = absl::SimpleAtoi(kv.second, &options.connections);
    else if (kv.first == "--rate") ok = absl::SimpleAtod(kv.second, &options.rate);
    else if (kv.first == "--seconds") ok = absl::SimpleAtod(kv.second, &options.seconds);
    else ok = false;
    if (!ok || options.connections < 1 || options.connections > 2000 || options.seconds <= 0 ||
        options.seconds > 600) {
      std::fprintf(stderr,
                   "http_load: bad argument \"%s\"\nusage: http_load --port=P --path=/x "
                   "--connections=1..2000 --rate=R --seconds=0..600\n",
                   argv[i]);
      return 2;
    }
  }
  Tally tally;
  absl::Time start = absl::Now();
  absl::Time stop = start + absl::Seconds(options.seconds);
  double interval = options.rate > 0 ? options.connections / options.rate : 0;
  std::vector<std::thread> workers;
  for (int i = 0; i < options.connections; ++i) {
    workers.emplace_back(Worker, std::cref(options), stop, interval, &tally);
  }
  for (auto& w : workers) w.join();
  double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  size_t total = 0;
  for (auto& [status, values] : tally.latency_ms) total += values.size();
  std::printf("http_load: %s, %d connections, offered %s, %.1f s: %zu answers, %.0f/s\n",
              options.path.c_str(), options.connections,
              options.rate > 0 ? absl::StrCat(options.rate, "/s").c_str() : "closed loop", elapsed,
              total, total / elapsed);
  for (auto& [status, values] : tally.latency_ms) {
    std::printf("  status %3d: %8zu (%5.1f%%)  p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms\n", status,
                values.size(), 100.0 * values.size() / std::max<size_t>(total, 1),
                Percentile(values, 0.5), Percentile(values, 0.99), Percentile(values, 1.0));
  }
  return 0;
}
