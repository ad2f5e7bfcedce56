// http_load: a paced HTTP/1.1 load driver that counts every answer, for the
// gateway's overload benchmark and the fault drills (tests/drill). Each of
// --connections keep-alive connections sends requests at --rate /
// connections per second (closed loop when --rate is 0) for --seconds, and
// the answers are tallied by status with their latencies: accepted (2xx) and
// shed (429/503) requests are reported apart, because shedding exists to
// keep the first fast by answering the second at once.
//
//   http_load --port=8080 --path=/v1/lab/echo?delay_ms=50 --connections=200 --rate=20000 --seconds=5
//   http_load --ports=8080,8081 --method=POST --path=/v1/users
//             --body='{"name": "n{n}", "email": "n{n}@example.com"}' --record=created.ndjson
//
// As a client behind a Kubernetes Service would: a new connection goes to
// the first of --ports (in turn from a rotating start) that accepts it; an
// answer with `Connection: close` closes the connection and the next
// request opens another. A request is "lost" when it was written and no
// answer came: the connection broke, or nothing came within --timeout-ms.
// Connects that every port refused are counted apart ("unreachable"): no
// request was sent.
//
// Options (http_load --help lists them): --body may hold {n}, replaced by a
// number unique in the run. --count-header=NAME tallies the values of that
// header on 2xx answers (x-fanout-completed: how many dashboards were
// partial). --record=FILE writes each 2xx body on a line of its own (the
// drills check what was acknowledged). A flag http_load does not know, or a
// value out of its range, exits 2 naming the flag.
//
// The last line is machine-readable, for scripts:
//   http_load-summary: sent=N answered=N lost=N unreachable=N status_200=N ... p50_ms=X p99_ms=X max_ms=X
//
// Traffic goes to 127.0.0.1 only; the run stops by itself.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
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

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "node/program/program.h"

ABSL_FLAG(fanout::PortList, ports, {{8080}},
          "Ports on 127.0.0.1, comma-separated. A new connection goes to the first that "
          "accepts it, from a start that rotates per connection (as behind a Service).");
ABSL_FLAG(std::string, method, "GET", "The request method.");
ABSL_FLAG(std::string, path, "/v1/lab/echo", "The request target: a path and query, from /.");
ABSL_FLAG(std::string, body, "",
          "The request body (sent as application/json); {n} in it becomes a number unique "
          "in the run.");
ABSL_FLAG(int, connections, 16,
          "Keep-alive connections, each with one request at a time; 1..2000.");
ABSL_FLAG(double, rate, 0,
          "Requests per second over all connections. 0: each connection sends its next "
          "request as soon as the last is answered (closed loop).");
ABSL_FLAG(double, seconds, 5, "How long to send, in seconds; more than 0, at most 600.");
ABSL_FLAG(int, timeout_ms, 10000,
          "An answer not complete this long after the request was written counts as lost "
          "(and so do connects that take longer); at least 1.");
ABSL_FLAG(std::string, count_header, "",
          "Tally the values of this response header on 2xx answers (x-fanout-completed).");
ABSL_FLAG(std::string, record, "", "Write each 2xx body to this file, one a line.");

namespace {

constexpr char kUsage[] =
    "http_load: a paced HTTP/1.1 load driver that counts every answer. Each of "
    "--connections keep-alive connections to 127.0.0.1 sends --rate/connections requests "
    "a second (or one after another with --rate=0) for --seconds; answers are tallied by "
    "status with their latencies, then a last machine-readable line \"http_load-summary: "
    "sent=N answered=N lost=N unreachable=N status_200=N ... p99_ms=X\".\n"
    "  http_load --ports=8080 --path='/v1/lab/echo?delay_ms=50' --connections=200 "
    "--rate=20000 --seconds=5\n"
    "  http_load --ports=8080,8081 --method=POST --path=/v1/users "
    "--body='{\"name\": \"n{n}\", \"email\": \"n{n}@example.com\"}' --record=created.ndjson";

// The flags' values, checked (OptionsFromFlags).
struct Options {
  std::vector<int> ports;
  std::string method;
  std::string path;
  std::string body;
  int connections = 0;
  double rate = 0;  // Requests per second over all connections; 0: as fast as answers come.
  double seconds = 0;
  int timeout_ms = 0;
  std::string count_header;  // Lower-case.
  std::string record;
};

// What one connection learned from one response.
struct Answer {
  int status = 0;  // 0: no answer.
  bool close = false;
  std::string counted;  // The --count-header value, when present.
  std::string body;
};

int ConnectTo(int port, int timeout_ms) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  timeval timeout{.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
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

// The first port, from `start` on, that accepts a connection; -1 if none.
int Connect(const Options& options, size_t start) {
  for (size_t i = 0; i < options.ports.size(); ++i) {
    int fd = ConnectTo(options.ports[(start + i) % options.ports.size()], options.timeout_ms);
    if (fd >= 0) return fd;
  }
  return -1;
}

// The value of header `name` (lower-case) in `head`, or "".
std::string HeaderValue(absl::string_view head, absl::string_view name) {
  for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    if (absl::EqualsIgnoreCase(line.substr(0, colon), name)) {
      return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  return "";
}

// Reads one response with a Content-Length body (the gateway sends them for
// non-streaming routes). Status 0 when the connection broke or timed out.
Answer ReadResponse(int fd, std::string& buffer, const Options& options) {
  Answer answer;
  for (;;) {
    size_t head_end = buffer.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      absl::string_view head(buffer.data(), head_end);
      size_t length = 0;
      (void)absl::SimpleAtoi(HeaderValue(head, "content-length"), &length);
      if (buffer.size() >= head_end + 4 + length) {
        (void)absl::SimpleAtoi(head.substr(9, 3), &answer.status);
        answer.close = absl::EqualsIgnoreCase(HeaderValue(head, "connection"), "close");
        if (!options.count_header.empty()) {
          answer.counted = HeaderValue(head, options.count_header);
        }
        if (!options.record.empty()) answer.body = buffer.substr(head_end + 4, length);
        buffer.erase(0, head_end + 4 + length);
        return answer;
      }
    }
    char chunk[16384];
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return Answer{};
    buffer.append(chunk, n);
  }
}

struct Tally {
  std::mutex mu;
  std::map<int, std::vector<double>> latency_ms;  // By status; 0: lost.
  std::map<std::string, long> counted;            // --count-header values on 2xx.
  long unreachable = 0;
  std::vector<std::string> recorded;
};

std::atomic<long> next_number{1};

std::string RequestText(const Options& options) {
  std::string body = absl::StrReplaceAll(options.body, {{"{n}", absl::StrCat(next_number++)}});
  std::string text =
      absl::StrCat(options.method, " ", options.path, " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  if (!body.empty() || options.method != "GET") {
    absl::StrAppend(&text, "Content-Type: application/json\r\nContent-Length: ", body.size(),
                    "\r\n");
  }
  return absl::StrCat(text, "\r\n", body);
}

void Worker(const Options& options, int index, absl::Time stop, double interval_s, Tally* tally) {
  std::map<int, std::vector<double>> mine;
  std::map<std::string, long> counted;
  std::vector<std::string> recorded;
  long unreachable = 0;
  int fd = -1;
  size_t connects = index;
  std::string buffer;
  absl::Time next = absl::Now();
  while (absl::Now() < stop) {
    if (interval_s > 0) {
      absl::Time now = absl::Now();
      if (next > now) absl::SleepFor(next - now);
      next += absl::Seconds(interval_s);
    }
    if (fd < 0) {
      fd = Connect(options, connects++);
      buffer.clear();
      if (fd < 0) {
        ++unreachable;
        absl::SleepFor(absl::Milliseconds(10));
        continue;
      }
    }
    std::string request = RequestText(options);
    absl::Time start = absl::Now();
    Answer answer = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
                            static_cast<ssize_t>(request.size())
                        ? ReadResponse(fd, buffer, options)
                        : Answer{};
    mine[answer.status].push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
    if (answer.status >= 200 && answer.status < 300) {
      if (!options.count_header.empty()) ++counted[answer.counted];
      if (!options.record.empty()) recorded.push_back(std::move(answer.body));
    }
    if (answer.status == 0 || answer.close) {
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
  for (const auto& [value, n] : counted) tally->counted[value] += n;
  tally->unreachable += unreachable;
  for (std::string& body : recorded) tally->recorded.push_back(std::move(body));
}

double Percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  size_t k = std::min(values.size() - 1, static_cast<size_t>(p * values.size()));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

// The flags, each checked against its range.
Options OptionsFromFlags() {
  using fanout::GetValidFlag;
  Options options;
  options.ports = absl::GetFlag(FLAGS_ports).ports;
  options.method = GetValidFlag(
      FLAGS_method, [](const std::string& m) { return !m.empty(); }, "a method (GET, POST, ...)");
  options.path = GetValidFlag(
      FLAGS_path, [](const std::string& p) { return absl::StartsWith(p, "/"); },
      "a path starting with /");
  options.body = absl::GetFlag(FLAGS_body);
  options.connections = GetValidFlag(
      FLAGS_connections, [](int n) { return n >= 1 && n <= 2000; }, "in 1..2000");
  options.rate = GetValidFlag(
      FLAGS_rate, [](double r) { return r >= 0; }, ">= 0");
  options.seconds = GetValidFlag(
      FLAGS_seconds, [](double s) { return s > 0 && s <= 600; }, "in (0, 600]");
  options.timeout_ms = GetValidFlag(
      FLAGS_timeout_ms, [](int ms) { return ms >= 1; }, ">= 1");
  options.count_header = absl::AsciiStrToLower(absl::GetFlag(FLAGS_count_header));
  options.record = absl::GetFlag(FLAGS_record);
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  fanout::ParseFlags(argc, argv, {.usage = kUsage, .aliases = {{"port", "ports"}}});
  const Options options = OptionsFromFlags();
  Tally tally;
  absl::Time start = absl::Now();
  absl::Time stop = start + absl::Seconds(options.seconds);
  double interval = options.rate > 0 ? options.connections / options.rate : 0;
  std::vector<std::thread> workers;
  for (int i = 0; i < options.connections; ++i) {
    workers.emplace_back(Worker, std::cref(options), i, stop, interval, &tally);
  }
  for (auto& w : workers) w.join();
  double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  size_t sent = 0;
  std::vector<double> answered_ms;
  for (auto& [status, values] : tally.latency_ms) {
    sent += values.size();
    if (status != 0) answered_ms.insert(answered_ms.end(), values.begin(), values.end());
  }
  std::printf("http_load: %s %s, %d connections, offered %s, %.1f s: %zu sent, %.0f/s\n",
              options.method.c_str(), options.path.c_str(), options.connections,
              options.rate > 0 ? absl::StrCat(options.rate, "/s").c_str() : "closed loop", elapsed,
              sent, sent / elapsed);
  auto lost = tally.latency_ms.find(0);
  std::string summary =
      absl::StrCat("sent=", sent, " answered=", answered_ms.size(),
                   " lost=", lost == tally.latency_ms.end() ? 0 : lost->second.size(),
                   " unreachable=", tally.unreachable);
  for (auto& [status, values] : tally.latency_ms) {
    std::printf("  %s %8zu (%5.1f%%)  p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms\n",
                status == 0 ? "lost      " : absl::StrCat("status ", status).c_str(), values.size(),
                100.0 * values.size() / std::max<size_t>(sent, 1), Percentile(values, 0.5),
                Percentile(values, 0.99), Percentile(values, 1.0));
    if (status != 0) {
      absl::StrAppend(&summary, " status_", status, "=", values.size(), " p99_ms_", status, "=",
                      Percentile(values, 0.99));
    }
  }
  for (const auto& [value, n] : tally.counted) {
    std::printf("  2xx with %s: %-8s %ld\n", options.count_header.c_str(),
                value.empty() ? "(absent)" : value.c_str(), n);
    absl::StrAppend(&summary, " ", options.count_header, "_", value.empty() ? "absent" : value, "=",
                    n);
  }
  if (tally.unreachable > 0) {
    std::printf("  unreachable %ld connects (no port accepted; no request sent)\n",
                tally.unreachable);
  }
  if (!options.record.empty()) {
    FILE* out = std::fopen(options.record.c_str(), "w");
    if (out == nullptr) {
      std::fprintf(stderr, "http_load: cannot write --record=%s\n", options.record.c_str());
      return 1;
    }
    for (const std::string& body : tally.recorded) std::fprintf(out, "%s\n", body.c_str());
    std::fclose(out);
  }
  absl::StrAppend(&summary, " p50_ms=", Percentile(answered_ms, 0.5),
                  " p99_ms=", Percentile(answered_ms, 0.99),
                  " max_ms=", Percentile(answered_ms, 1.0));
  std::printf("http_load-summary: %s\n", summary.c_str());
  return 0;
}
