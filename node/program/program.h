// The program shell: how fanoutd, the demo and the bench programs read their
// command line, in one way. Flags are Abseil flags, defined with ABSL_FLAG in
// the program's main file and read with absl::GetFlag; the shell parses argv,
// answers --help, and ends the process with a message that names the flag
// for anything it cannot use (as Seastar's app_template does for its apps).
//
//   ABSL_FLAG(int, rounds, 3, "Rounds of each kind; at least 1.");
//   ABSL_FLAG(fanout::IntList, concurrency, (fanout::IntList{{1, 16}}), "In flight, per level.");
//
//   int main(int argc, char** argv) {
//     fanout::ParseFlags(argc, argv, {.usage = "trace_load: what tracing costs.\n"
//                                              "  trace_load --rounds=5"});
//     int rounds = fanout::GetValidFlag(FLAGS_rounds, [](int n) { return n >= 1; }, ">= 1");
//   }
//
// On the command line:
//   --name=value  --name value        any flag but a bool
//   --name  --noname  --name=false    a bool flag (`--name false` is not one)
//   --timeout-ms  --timeout_ms        the same flag: a name may be spelled with
//                                     dashes (as --help shows it) or underscores
//   --help  -h                        the usage paragraph, then every flag with
//                                     its type and default, on stdout; exit 0
// Exit 2, with "PROGRAM: what was wrong" on stderr, for an unknown flag (with
// the nearest known name), a value that does not parse as the flag's type, a
// flag given twice, a flag missing its value, or any argument that is not a
// flag: nothing on the command line is silently ignored.
//
// Why not absl::ParseCommandLine: in Abseil 20220623 it exits 1 both for a
// bad command line and for --help, and knows flag names only as written in
// C++ (timeout_ms), while scripts have always said --timeout-ms. The shell
// walks argv itself and sets each flag through Abseil's own parser
// (CommandLineFlag::ParseFrom), so types and values mean what they mean to
// Abseil, custom types included (AbslParseFlag below).
//
// Not thread-safe: call ParseFlags once, first thing in main.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/marshalling.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace fanout {

struct ProgramOptions {
  // One paragraph: what the program does, then a command line or two. --help
  // prints it first, then the flags.
  absl::string_view usage;
  // Older spellings kept for scripts, as {old, flag}: {"port", "ports"} lets
  // --port=8080 set --ports. Written with underscores, as ABSL_FLAG names are.
  std::vector<std::pair<absl::string_view, absl::string_view>> aliases;
  // Arguments starting with this are another parser's and are handed back,
  // in order, untouched (rpc_bench: "--benchmark_" for Google Benchmark).
  absl::string_view pass_through_prefix;
  // Printed by --help after the flags: where the passed-through ones are told.
  absl::string_view more_help;
};

// What a command line asked for, when it made sense.
struct CommandLine {
  bool help = false;                        // --help or -h: print FlagsHelp, change nothing else
  std::vector<std::string> given;           // the flags set, by their ABSL_FLAG names
  std::vector<std::string> passed_through;  // options.pass_through_prefix arguments
};

// Parses argv (with argv[0]) into the program's flags, or exits: 0 after
// printing help for --help, 2 after printing what was wrong. Returns argv[0]
// followed by the passed-through arguments (pointers into argv), ready for
// another parser such as benchmark::Initialize.
std::vector<char*> ParseFlags(int argc, char** argv, const ProgramOptions& options);

// The testable core of ParseFlags: the arguments after argv[0]; sets the
// flags it reads and returns INVALID_ARGUMENT naming the flag (spelled as
// --help spells it) instead of exiting.
absl::StatusOr<CommandLine> TryParseFlags(const std::vector<std::string>& args,
                                          const ProgramOptions& options);

// The --help text: options.usage, then every flag of the program, sorted,
// as "--name=<type>  (default ...)" and its help, then options.more_help.
std::string FlagsHelp(const ProgramOptions& options);

// "--timeout-ms": a flag's name as the command line and --help spell it.
std::string FlagName(absl::string_view name);

// Whether ParseFlags set the flag from the command line (even to its
// default): `--check-config=` is a request with an empty file, not no request.
bool FlagGiven(absl::string_view name);
template <typename T>
bool FlagGiven(const absl::Flag<T>& flag) {
  return FlagGiven(absl::GetFlagReflectionHandle(flag).Name());
}

// Ends the process as a bad command line does: "PROGRAM: message" and a
// pointer to --help on stderr, exit 2. For checks ParseFlags cannot make
// (ranges, flags that exclude each other).
[[noreturn]] void FlagError(absl::string_view message);

// The flag's value if `ok(value)`, else FlagError("--name must be <must_be>,
// got <value>"). For ranges: GetValidFlag(FLAGS_connections, in_range, "in 1..2000").
template <typename T, typename Predicate>
T GetValidFlag(const absl::Flag<T>& flag, Predicate ok, absl::string_view must_be) {
  T value = absl::GetFlag(flag);
  if (!ok(value)) {
    FlagError(absl::StrCat(FlagName(absl::GetFlagReflectionHandle(flag).Name()), " must be ",
                           must_be, ", got ", absl::UnparseFlag(value)));
  }
  return value;
}

// Comma-separated integers: --concurrency=1,16,64. At least one.
struct IntList {
  std::vector<int> values;
};
bool AbslParseFlag(absl::string_view text, IntList* list, std::string* error);
std::string AbslUnparseFlag(const IntList& list);

// Comma-separated TCP ports, each 1..65535: --ports=8080,8081. At least one.
struct PortList {
  std::vector<int> ports;
};
bool AbslParseFlag(absl::string_view text, PortList* list, std::string* error);
std::string AbslUnparseFlag(const PortList& list);

}  // namespace fanout
