// Logging: one line per event on stderr, with time and level.
//
//   FANOUT_LOG(INFO) << "listening on " << address;
//   FANOUT_LOG(ERROR) << "task failed: " << status;
//
// Thread-safe: each line is written with one write call.
#pragma once

#include <sstream>
#include <string_view>

namespace fanout {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Lines below `level` are dropped. Default: kInfo, or FANOUT_LOG_LEVEL
// (debug|info|warning|error) from the environment.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
bool ParseLogLevel(std::string_view text, LogLevel* level);

class LogLine {
 public:
  LogLine(LogLevel level, const char* file, int line);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  template <typename T>
  LogLine& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  LogLevel level_;
  std::ostringstream stream_;
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

// A statement-safe expression: `if (x) FANOUT_LOG(INFO) << ...; else ...` parses
// as written, and arguments are not evaluated below the level.
#define FANOUT_LOG(severity)                                \
  !(FANOUT_LOG_LEVEL_##severity >= ::fanout::GetLogLevel()) \
      ? (void)0                                             \
      : ::fanout::LogVoidify() &                            \
            ::fanout::LogLine(FANOUT_LOG_LEVEL_##severity, __FILE__, __LINE__)
