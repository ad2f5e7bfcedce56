#include "node/program/program.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/flags/reflection.h"
#include "tests/support/status_matchers.h"

// Flags of a made-up program; every test restores them (absl::FlagSaver).
ABSL_FLAG(int, test_connections, 16, "Connections.");
ABSL_FLAG(double, test_seconds, 5, "Seconds.");
ABSL_FLAG(std::string, test_path, "/v1/lab/echo", "The path.");
ABSL_FLAG(bool, test_with_lab, false, "The lab too.");
ABSL_FLAG(fanout::PortList, test_ports, {{8080}}, "Ports.");
ABSL_FLAG(fanout::IntList, test_levels, (fanout::IntList{{1, 16}}), "Levels.");

namespace fanout {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ProgramTest : public ::testing::Test {
 protected:
  absl::StatusOr<CommandLine> Parse(std::vector<std::string> args,
                                    const ProgramOptions& options = {}) {
    return TryParseFlags(args, options);
  }
  // The message of the error a command line gives.
  std::string ErrorOf(std::vector<std::string> args, const ProgramOptions& options = {}) {
    absl::StatusOr<CommandLine> line = TryParseFlags(args, options);
    EXPECT_THAT(line.status(), StatusIs(absl::StatusCode::kInvalidArgument));
    return std::string(line.status().message());
  }

  absl::FlagSaver saver_;
};

TEST_F(ProgramTest, ValuesAfterAnEqualsSignOrAsTheNextArgument) {
  ASSERT_THAT(Parse({"--test-connections=7", "--test-path", "/x?a=b", "--test-seconds=0.5"}),
              IsOk());
  EXPECT_EQ(absl::GetFlag(FLAGS_test_connections), 7);
  EXPECT_EQ(absl::GetFlag(FLAGS_test_path), "/x?a=b");
  EXPECT_EQ(absl::GetFlag(FLAGS_test_seconds), 0.5);
}

TEST_F(ProgramTest, DashesAndUnderscoresSpellTheSameFlag) {
  ASSERT_THAT(Parse({"--test_connections=3"}), IsOk());
  EXPECT_EQ(absl::GetFlag(FLAGS_test_connections), 3);
  ASSERT_THAT(Parse({"-test-seconds=2"}), IsOk());  // One dash works too, as in Abseil.
  EXPECT_EQ(absl::GetFlag(FLAGS_test_seconds), 2);
}

TEST_F(ProgramTest, BoolFlagsTakeNoSeparateValue) {
  ASSERT_THAT(Parse({"--test-with-lab"}), IsOk());
  EXPECT_TRUE(absl::GetFlag(FLAGS_test_with_lab));
  ASSERT_THAT(Parse({"--notest-with-lab"}), IsOk());
  EXPECT_FALSE(absl::GetFlag(FLAGS_test_with_lab));
  ASSERT_THAT(Parse({"--test-with-lab=true"}), IsOk());
  EXPECT_TRUE(absl::GetFlag(FLAGS_test_with_lab));
  ASSERT_THAT(Parse({"--no-test-with-lab"}), IsOk());
  EXPECT_FALSE(absl::GetFlag(FLAGS_test_with_lab));
  EXPECT_EQ(ErrorOf({"--test-with-lab", "false"}),
            "unexpected argument \"false\": a bool flag takes its value after =: "
            "--test-with-lab=false");
  EXPECT_THAT(ErrorOf({"--test-with-lab=maybe"}),
              HasSubstr("bad value \"maybe\" for --test-with-lab: expected a bool"));
  EXPECT_THAT(ErrorOf({"--notest-with-lab=true"}), HasSubstr("--test-with-lab=false"));
}

TEST_F(ProgramTest, ABadNumberNamesTheFlag) {
  EXPECT_EQ(ErrorOf({"--test-connections=abc"}),
            "bad value \"abc\" for --test-connections: expected an integer");
  EXPECT_EQ(ErrorOf({"--test-connections=99999999999"}),
            "bad value \"99999999999\" for --test-connections: expected an integer");
  EXPECT_EQ(ErrorOf({"--test-seconds", "2x"}),
            "bad value \"2x\" for --test-seconds: expected a number");
  EXPECT_EQ(absl::GetFlag(FLAGS_test_connections), 16);  // Unchanged.
}

TEST_F(ProgramTest, AnUnknownFlagIsAnErrorWithTheNearestName) {
  EXPECT_EQ(ErrorOf({"--requests=x"}), "unknown flag --requests");
  EXPECT_EQ(ErrorOf({"--test-conections=3"}),
            "unknown flag --test-conections (did you mean --test-connections?)");
  // --no only negates a bool.
  EXPECT_EQ(ErrorOf({"--notest-connections"}).substr(0, 33), "unknown flag --notest-connections");
}

TEST_F(ProgramTest, NothingIsSilentlyIgnored) {
  EXPECT_THAT(ErrorOf({"config.yaml"}), HasSubstr("unexpected argument \"config.yaml\""));
  EXPECT_THAT(ErrorOf({"--"}), HasSubstr("unexpected argument \"--\""));
  EXPECT_EQ(ErrorOf({"--test-connections=1", "--test_connections=2"}),
            "--test-connections is given twice");
  EXPECT_EQ(ErrorOf({"--test-path"}), "--test-path needs a value (--test-path=<text>)");
  EXPECT_EQ(ErrorOf({"--test-path", "--test-with-lab"}),
            "--test-path needs a value (--test-path=<text>)");
}

TEST_F(ProgramTest, SaysWhichFlagsWereGivenEvenAtTheirDefault) {
  absl::StatusOr<CommandLine> line = Parse({"--test-path=", "--test-with-lab=false"});
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(line->given, ElementsAre("test_path", "test_with_lab"));
}

TEST_F(ProgramTest, HelpIsAskedForAndChangesNothing) {
  absl::StatusOr<CommandLine> line = Parse({"--test-connections=2", "--help"});
  ASSERT_THAT(line, IsOk());
  EXPECT_TRUE(line->help);
  EXPECT_TRUE(Parse({"-h"})->help);
  EXPECT_FALSE(Parse({})->help);
}

TEST_F(ProgramTest, HelpShowsTheUsageThenEveryFlagWithTypeAndDefault) {
  std::string help = FlagsHelp({.usage = "demo: shows things.\n  demo --x=1\n",
                                .aliases = {{"test_port", "test_ports"}},
                                .more_help = "And more."});
  EXPECT_EQ(help.substr(0, 40), "demo: shows things.\n  demo --x=1\n\nFlags:");
  EXPECT_THAT(help,
              HasSubstr("  --test-connections=<integer>  (default 16)\n      Connections.\n"));
  EXPECT_THAT(help, HasSubstr("  --test-path=<text>  (default \"/v1/lab/echo\")\n"));
  EXPECT_THAT(help, HasSubstr("  --test-with-lab  (default false)\n"));
  EXPECT_THAT(help, HasSubstr("  --test-ports=<port,...>  (default 8080; also --test-port)\n"));
  EXPECT_THAT(help, HasSubstr("  --test-levels=<integer,...>  (default 1,16)\n"));
  EXPECT_THAT(help, HasSubstr("  --help, -h\n"));
  EXPECT_THAT(help, HasSubstr("\nAnd more.\n"));
}

TEST_F(ProgramTest, AliasesKeepOldSpellings) {
  ASSERT_THAT(Parse({"--test-port=9090"}, {.aliases = {{"test_port", "test_ports"}}}), IsOk());
  EXPECT_THAT(absl::GetFlag(FLAGS_test_ports).ports, ElementsAre(9090));
  EXPECT_EQ(
      ErrorOf({"--test-port=1", "--test-ports=2"}, {.aliases = {{"test_port", "test_ports"}}}),
      "--test-ports is given twice");
}

TEST_F(ProgramTest, AnotherParsersArgumentsPassThroughInOrder) {
  absl::StatusOr<CommandLine> line =
      Parse({"--benchmark_filter=Unary", "--test-connections=4", "--benchmark_repetitions=3"},
            {.pass_through_prefix = "--benchmark_"});
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(line->passed_through,
              ElementsAre("--benchmark_filter=Unary", "--benchmark_repetitions=3"));
  EXPECT_EQ(absl::GetFlag(FLAGS_test_connections), 4);
}

TEST_F(ProgramTest, ListsOfPortsAndIntegers) {
  ASSERT_THAT(Parse({"--test-ports=8080,8081", "--test-levels=1,4,64"}), IsOk());
  EXPECT_THAT(absl::GetFlag(FLAGS_test_ports).ports, ElementsAre(8080, 8081));
  EXPECT_THAT(absl::GetFlag(FLAGS_test_levels).values, ElementsAre(1, 4, 64));
  EXPECT_EQ(ErrorOf({"--test-ports=8080,70000"}),
            "bad value \"8080,70000\" for --test-ports: \"70000\" is not a port (1..65535; a "
            "list is 8080,8081)");
  EXPECT_THAT(ErrorOf({"--test-ports="}), HasSubstr("\"\" is not a port"));
  EXPECT_THAT(ErrorOf({"--test-levels=1,,2"}), HasSubstr("\"\" is not an integer"));
}

TEST_F(ProgramTest, FlagNamesAreSpelledWithDashes) {
  EXPECT_EQ(FlagName("timeout_ms"), "--timeout-ms");
  EXPECT_EQ(FlagName("config"), "--config");
}

TEST(ProgramDeathTest, FlagErrorExitsTwoNamingTheProblem) {
  EXPECT_EXIT(FlagError("--connections must be in 1..2000, got 5000"), ::testing::ExitedWithCode(2),
              "--connections must be in 1..2000, got 5000");
}

TEST(ProgramDeathTest, GetValidFlagNamesTheFlagAndTheValue) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_test_connections, 5000);
  EXPECT_EXIT(GetValidFlag(
                  FLAGS_test_connections, [](int n) { return n >= 1 && n <= 2000; }, "in 1..2000"),
              ::testing::ExitedWithCode(2), "--test-connections must be in 1..2000, got 5000");
  absl::SetFlag(&FLAGS_test_connections, 7);
  EXPECT_EQ(GetValidFlag(
                FLAGS_test_connections, [](int n) { return n >= 1; }, ">= 1"),
            7);
}

}  // namespace
}  // namespace fanout
