#include "node/base/log.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace fanout {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

// Runs `log` with stderr sent to a file, and returns what was written.
template <typename Fn>
std::string Captured(Fn log) {
  char path[] = "/tmp/fanout-log-XXXXXX";
  int file = ::mkstemp(path);
  int saved = ::dup(STDERR_FILENO);
  ::dup2(file, STDERR_FILENO);
  log();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::string text;
  ::lseek(file, 0, SEEK_SET);
  char buffer[4096];
  for (ssize_t n; (n = ::read(file, buffer, sizeof(buffer))) > 0;) text.append(buffer, n);
  ::close(file);
  ::unlink(path);
  return text;
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    level_ = GetLogLevel();
    format_ = GetLogFormat();
    SetLogLevel(LogLevel::kInfo);
  }
  void TearDown() override {
    SetLogLevel(level_);
    SetLogFormat(format_);
    SetLogRole("");
  }
  LogLevel level_;
  LogFormat format_;
};

TEST_F(LogTest, LogfmtLineHasTimeLevelRoleCallerMessageAndFields) {
  SetLogFormat(LogFormat::kLogfmt);
  SetLogRole("gateway");
  std::string line = Captured([] {
    FANOUT_LOG(WARNING).Field("backend", "users").Field("attempt", 2).Field("partial", true)
        << "retrying";
  });
  EXPECT_THAT(line, MatchesRegex("time=[0-9-]+T[0-9:.]+Z level=warn role=gateway "
                                 "caller=log_test.cc:[0-9]+ msg=retrying backend=users "
                                 "attempt=2 partial=true\n"));
}

TEST_F(LogTest, LogfmtQuotesValuesThatNeedIt) {
  SetLogFormat(LogFormat::kLogfmt);
  std::string line = Captured([] {
    FANOUT_LOG(INFO).Field("path", "/a b").Field("empty", "").Field("quote", "say \"hi\"")
        << "two words\nand a line";
  });
  EXPECT_THAT(line, HasSubstr(R"(msg="two words\nand a line")"));
  EXPECT_THAT(line, HasSubstr(R"(path="/a b")"));
  EXPECT_THAT(line, HasSubstr(R"(empty="")"));
  EXPECT_THAT(line, HasSubstr(R"(quote="say \"hi\"")"));
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << "one line per event";
}

TEST_F(LogTest, JsonLineParsesWithNumbersAsNumbers) {
  SetLogFormat(LogFormat::kJson);
  SetLogRole("users,orders");
  std::string line = Captured([] {
    FANOUT_LOG(ERROR)
            .Field("status", 503)
            .Field("duration_ms", 1.5)
            .Field("partial", false)
            .Field("route", "dash\"board")
            .Trace("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
        << "failed";
  });
  ASSERT_THAT(line, StartsWith("{"));
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &parsed).ok()) << line;
  const auto& f = parsed.fields();
  EXPECT_EQ(f.at("level").string_value(), "error");
  EXPECT_EQ(f.at("role").string_value(), "users,orders");
  EXPECT_EQ(f.at("msg").string_value(), "failed");
  EXPECT_EQ(f.at("status").number_value(), 503);
  EXPECT_EQ(f.at("duration_ms").number_value(), 1.5);
  EXPECT_EQ(f.at("partial").bool_value(), false);
  EXPECT_EQ(f.at("route").string_value(), "dash\"board");
  EXPECT_EQ(f.at("trace_id").string_value(), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(f.at("span_id").string_value(), "b7ad6b7169203331");
  EXPECT_THAT(f.at("time").string_value(), MatchesRegex("[0-9-]+T[0-9:.]+Z"));
}

TEST_F(LogTest, NonFiniteNumbersStayValidJson) {
  SetLogFormat(LogFormat::kJson);
  std::string line = Captured([] { FANOUT_LOG(INFO).Field("ratio", 0.0 / 0.0) << "x"; });
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &parsed).ok()) << line;
}

TEST_F(LogTest, LinesBelowTheLevelAreDroppedUnevaluated) {
  SetLogLevel(LogLevel::kWarning);
  int evaluated = 0;
  std::string text = Captured([&] { FANOUT_LOG(INFO) << "quiet " << ++evaluated; });
  EXPECT_EQ(text, "");
  EXPECT_EQ(evaluated, 0);
}

TEST_F(LogTest, ParsesLevelsAndFormats) {
  LogLevel level;
  EXPECT_TRUE(ParseLogLevel("WARN", &level));
  EXPECT_EQ(level, LogLevel::kWarning);
  EXPECT_FALSE(ParseLogLevel("loud", &level));
  LogFormat format;
  EXPECT_TRUE(ParseLogFormat("JSON", &format));
  EXPECT_EQ(format, LogFormat::kJson);
  EXPECT_FALSE(ParseLogFormat("xml", &format));
}

}  // namespace
}  // namespace fanout
