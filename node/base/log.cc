#include "node/base/log.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "node/base/json_string.h"
#include "node/base/sync.h"

namespace fanout {
namespace {

template <typename T>
T FromEnv(const char* name, T fallback, bool (*parse)(std::string_view, T*)) {
  if (const char* env = std::getenv(name)) parse(env, &fallback);
  return fallback;
}

std::atomic<LogLevel>& Level() {
  static std::atomic<LogLevel> level{FromEnv("FANOUT_LOG_LEVEL", LogLevel::kInfo, ParseLogLevel)};
  return level;
}

std::atomic<LogFormat>& Format() {
  static std::atomic<LogFormat> format{
      FromEnv("FANOUT_LOG_FORMAT", LogFormat::kLogfmt, ParseLogFormat)};
  return format;
}

std::atomic<bool>& AccessLog() {
  static std::atomic<bool> on{false};
  return on;
}

struct Role {
  Mutex mu;
  std::string name ABSL_GUARDED_BY(mu);
};
Role& TheRole() {
  static Role* role = new Role;  // Never destroyed: threads may log during exit.
  return *role;
}

std::string RoleName() {
  Role& role = TheRole();
  MutexLock lock(&role.mu);
  return role.name;
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

// logfmt: bare when the value has no space, quote, '=' or control character.
void AppendLogfmtValue(std::string_view value, std::string* out) {
  bool plain = !value.empty();
  for (char c : value) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) {
      plain = false;
      break;
    }
  }
  if (plain) {
    out->append(value);
  } else {
    AppendJsonString(absl::string_view(value.data(), value.size()), out);  // JSON's quoting.
  }
}

}  // namespace

void SetLogLevel(LogLevel level) { Level().store(level, std::memory_order_relaxed); }
LogLevel GetLogLevel() { return Level().load(std::memory_order_relaxed); }
void SetLogFormat(LogFormat format) { Format().store(format, std::memory_order_relaxed); }
LogFormat GetLogFormat() { return Format().load(std::memory_order_relaxed); }

void SetAccessLog(bool on) { AccessLog().store(on, std::memory_order_relaxed); }
bool AccessLogEnabled() { return AccessLog().load(std::memory_order_relaxed); }

void SetLogRole(std::string role) {
  Role& r = TheRole();
  MutexLock lock(&r.mu);
  r.name = std::move(role);
}

bool ParseLogLevel(std::string_view text, LogLevel* level) {
  std::string lower = absl::AsciiStrToLower(std::string(text));
  if (lower == "debug")
    *level = LogLevel::kDebug;
  else if (lower == "info")
    *level = LogLevel::kInfo;
  else if (lower == "warning" || lower == "warn")
    *level = LogLevel::kWarning;
  else if (lower == "error")
    *level = LogLevel::kError;
  else
    return false;
  return true;
}

bool ParseLogFormat(std::string_view text, LogFormat* format) {
  std::string lower = absl::AsciiStrToLower(std::string(text));
  if (lower == "logfmt")
    *format = LogFormat::kLogfmt;
  else if (lower == "json")
    *format = LogFormat::kJson;
  else
    return false;
  return true;
}

LogLine::LogLine(LogLevel level, const char* file, int line)
    : level_(level), file_(file), line_(line) {}

LogLine& LogLine::Field(std::string_view key, std::string_view value) {
  fields_.push_back({std::string(key), std::string(value), false});
  return *this;
}

LogLine& LogLine::Field(std::string_view key, double value) {
  // JSON has no NaN or infinity: those stay strings.
  if (!std::isfinite(value)) return Field(key, absl::StrCat(value));
  return Bare(key, absl::StrCat(value));
}

LogLine& LogLine::Bare(std::string_view key, std::string value) {
  fields_.push_back({std::string(key), std::move(value), true});
  return *this;
}

LogLine& LogLine::Trace(std::string_view trace_id, std::string_view span_id) {
  if (!trace_id.empty()) Field("trace_id", trace_id);
  if (!span_id.empty()) Field("span_id", span_id);
  return *this;
}

LogLine::~LogLine() {
  const char* base = std::strrchr(file_, '/');
  std::string caller = absl::StrCat(base ? base + 1 : file_, ":", line_);
  std::string role = RoleName();
  std::string time = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone());
  std::string message = message_.str();
  std::string text;
  text.reserve(96 + message.size() + 32 * fields_.size());
  if (GetLogFormat() == LogFormat::kJson) {
    absl::StrAppend(&text, "{\"time\":\"", time, "\",\"level\":\"", LevelName(level_), "\"");
    if (!role.empty()) {
      text += ",\"role\":";
      AppendJsonString(role, &text);
    }
    text += ",\"caller\":";
    AppendJsonString(caller, &text);
    text += ",\"msg\":";
    AppendJsonString(message, &text);
    for (const KeyValue& field : fields_) {
      text += ',';
      AppendJsonString(field.key, &text);
      text += ':';
      if (field.bare)
        text += field.value;
      else
        AppendJsonString(field.value, &text);
    }
    text += "}\n";
  } else {
    absl::StrAppend(&text, "time=", time, " level=", LevelName(level_));
    if (!role.empty()) {
      text += " role=";
      AppendLogfmtValue(role, &text);
    }
    absl::StrAppend(&text, " caller=", caller, " msg=");
    AppendLogfmtValue(message, &text);
    for (const KeyValue& field : fields_) {
      absl::StrAppend(&text, " ", field.key, "=");
      AppendLogfmtValue(field.value, &text);
    }
    text += '\n';
  }
  // One write per line so lines from different threads never interleave.
  ssize_t unused = ::write(STDERR_FILENO, text.data(), text.size());
  (void)unused;
}

}  // namespace fanout
