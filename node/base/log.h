// Logging: one structured line per event on stderr, as logfmt (the default)
// or JSON, with time, level, role and the source line.
//
//   FANOUT_LOG(INFO) << "listening on " << address;
//   FANOUT_LOG(WARNING).Field("backend", name).Field("attempt", 2) << "retrying";
//   FANOUT_LOG(INFO).Trace(span.TraceIdHex(), span.SpanIdHex()) << "request done";
//
//   time=2026-11-23T10:00:00.123456Z level=warn role=gateway caller=backend.cc:80 msg=retrying backend=users attempt=2
//   {"time":"2026-11-23T10:00:00.123456Z","level":"warn","role":"gateway","caller":"backend.cc:80","msg":"retrying","backend":"users","attempt":2}
//
// Thread-safe: each line is written with one write call, so lines from
// different threads never interleave.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace fanout {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };
enum class LogFormat { kLogfmt, kJson };

// Lines below `level` are dropped. Default: kInfo, or FANOUT_LOG_LEVEL
// (debug|info|warning|error) from the environment.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
bool ParseLogLevel(std::string_view text, LogLevel* level);
// Default: logfmt, or FANOUT_LOG_FORMAT (logfmt|json) from the environment.
void SetLogFormat(LogFormat format);
LogFormat GetLogFormat();
bool ParseLogFormat(std::string_view text, LogFormat* format);
// The access log: one INFO line per request served (gRPC call, REST
// request), written by the runtime and the gateway. Default: off.
void SetAccessLog(bool on);
bool AccessLogEnabled();
// The `role` field of every line: which roles this process runs ("gateway",
// "users,orders"). Empty: the field is left out.
void SetLogRole(std::string role);

class LogLine {
 public:
  LogLine(LogLevel level, const char* file, int line);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  template <typename T>
  LogLine& operator<<(const T& value) {
    message_ << value;
    return *this;
  }

  // A key=value after the message. Strings are quoted as needed; numbers and
  // booleans stay bare (JSON numbers, not strings).
  LogLine& Field(std::string_view key, std::string_view value);
  LogLine& Field(std::string_view key, const char* value) {
    return Field(key, std::string_view(value));
  }
  LogLine& Field(std::string_view key, const std::string& value) {
    return Field(key, std::string_view(value));
  }
  LogLine& Field(std::string_view key, bool value) { return Bare(key, value ? "true" : "false"); }
  LogLine& Field(std::string_view key, double value);
  // clang-format 14 cannot lay out a requires clause.
  // clang-format off
  template <typename I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool>)
  LogLine& Field(std::string_view key, I value) {
    return Bare(key, std::to_string(value));
  }
  // clang-format on
  // The request's trace: trace_id and span_id fields (hex). Empty ids: none.
  LogLine& Trace(std::string_view trace_id, std::string_view span_id);

 private:
  struct KeyValue {
    std::string key;
    std::string value;
    bool bare;  // A number or boolean: not quoted in JSON.
  };
  LogLine& Bare(std::string_view key, std::string value);

  LogLevel level_;
  const char* file_;
  int line_;
  std::ostringstream message_;
  std::vector<KeyValue> fields_;
};

// Turns `LogLine << ...` into void for the conditional in FANOUT_LOG.
struct LogVoidify {
  void operator&(LogLine&) {}
};

}  // namespace fanout

#define FANOUT_LOG_LEVEL_DEBUG ::fanout::LogLevel::kDebug
#define FANOUT_LOG_LEVEL_INFO ::fanout::LogLevel::kInfo
#define FANOUT_LOG_LEVEL_WARNING ::fanout::LogLevel::kWarning
#define FANOUT_LOG_LEVEL_ERROR ::fanout::LogLevel::kError

// A statement-safe expression: `if (x) FANOUT_LOG(INFO) << ...; else ...` parses as written
// (no parentheses: `<<` must bind inside), and arguments below the level are not evaluated.
#define FANOUT_LOG(severity)                                              \
  !(FANOUT_LOG_LEVEL_##severity >= ::fanout::GetLogLevel())               \
      ? (void)0                                                           \
      : ::fanout::LogVoidify() & /* NOLINT(bugprone-macro-parentheses) */ \
            ::fanout::LogLine(FANOUT_LOG_LEVEL_##severity, __FILE__, __LINE__)
