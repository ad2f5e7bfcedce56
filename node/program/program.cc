#include "node/program/program.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"

namespace fanout {
namespace {

// The program's name for messages: argv[0]'s last component.
std::string& ProgramName() {
  static std::string* name = new std::string("program");
  return *name;
}

// The flags ParseFlags set (CommandLine::given).
std::set<std::string, std::less<>>& GivenFlags() {
  static auto* given = new std::set<std::string, std::less<>>();
  return *given;
}

// Flags this program defines. Abseil's own (--flagfile, --fromenv: defined
// when absl's parse library is linked) are left out: the shell does not
// act on them, so accepting them would ignore them.
bool IsProgramFlag(const absl::CommandLineFlag& flag) {
  return !flag.IsRetired() && !absl::StrContains(flag.Filename(), "absl/");
}

absl::CommandLineFlag* FindProgramFlag(absl::string_view name) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  return flag != nullptr && IsProgramFlag(*flag) ? flag : nullptr;
}

std::vector<absl::CommandLineFlag*> ProgramFlags() {
  std::vector<absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (IsProgramFlag(*flag)) flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(),
            [](const auto* a, const auto* b) { return a->Name() < b->Name(); });
  return flags;
}

// What a value of the flag looks like, for --help and errors.
std::string TypeName(const absl::CommandLineFlag& flag) {
  if (flag.IsOfType<bool>()) return "bool";
  if (flag.IsOfType<int>() || flag.IsOfType<long>() || flag.IsOfType<long long>() ||
      flag.IsOfType<unsigned>() || flag.IsOfType<unsigned long>() ||
      flag.IsOfType<unsigned long long>() || flag.IsOfType<short>()) {
    return "integer";
  }
  if (flag.IsOfType<double>() || flag.IsOfType<float>()) return "number";
  if (flag.IsOfType<std::string>()) return "text";
  if (flag.IsOfType<absl::Duration>()) return "duration";  // 250ms, 1.5s, 2m
  if (flag.IsOfType<IntList>()) return "integer,...";
  if (flag.IsOfType<PortList>()) return "port,...";
  if (flag.IsOfType<std::vector<std::string>>()) return "text,...";
  return "value";
}

// Levenshtein distance, for "did you mean".
size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// " (did you mean --connections?)" when a flag's name is a typo away.
std::string Suggestion(absl::string_view name) {
  const absl::CommandLineFlag* best = nullptr;
  size_t best_distance = 3;  // Three edits or more: a different word, not a typo.
  for (const absl::CommandLineFlag* flag : ProgramFlags()) {
    size_t d = EditDistance(name, flag->Name());
    if (d < best_distance) {
      best = flag;
      best_distance = d;
    }
  }
  return best ? absl::StrCat(" (did you mean ", FlagName(best->Name()), "?)") : "";
}

absl::Status Bad(absl::string_view why) { return absl::InvalidArgumentError(why); }

// The text wrapped to `width` columns, each line indented by `indent`.
std::string Wrap(absl::string_view text, size_t indent, size_t width) {
  std::string out, line;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (!line.empty() && indent + line.size() + 1 + word.size() > width) {
      absl::StrAppend(&out, std::string(indent, ' '), line, "\n");
      line.clear();
    }
    absl::StrAppend(&line, line.empty() ? "" : " ", word);
  }
  if (!line.empty()) absl::StrAppend(&out, std::string(indent, ' '), line, "\n");
  return out;
}

}  // namespace

std::string FlagName(absl::string_view name) {
  return absl::StrCat("--", absl::StrReplaceAll(name, {{"_", "-"}}));
}

namespace {

// The flag an argument's name (dashes already made underscores) stands for:
// itself, the flag an alias names, or a bool's --noNAME / --no-NAME.
struct Resolved {
  absl::CommandLineFlag* flag = nullptr;
  bool negated = false;
};
Resolved Resolve(std::string name, const ProgramOptions& options) {
  for (const auto& [old_name, new_name] : options.aliases) {
    if (name == old_name) name = std::string(new_name);
  }
  if (absl::CommandLineFlag* flag = FindProgramFlag(name)) return {flag, false};
  absl::string_view positive = name;
  if (!absl::ConsumePrefix(&positive, "no")) return {};
  absl::ConsumePrefix(&positive, "_");
  absl::CommandLineFlag* flag = FindProgramFlag(positive);
  if (flag == nullptr || !flag->IsOfType<bool>()) return {};
  return {flag, true};
}

// Sets the flag through Abseil's parser for its type.
absl::Status SetFromText(absl::CommandLineFlag& flag, const std::string& value) {
  std::string error;
  if (flag.ParseFrom(value, &error)) return absl::OkStatus();
  // Abseil's message is "Illegal value '...' specified for flag '...'",
  // then "; why" when the type's parser said why: keep the why.
  size_t why = error.find("; ");
  std::string type = TypeName(flag);
  return Bad(absl::StrCat("bad value \"", value, "\" for ", FlagName(flag.Name()), ": ",
                          why != std::string::npos
                              ? error.substr(why + 2)
                              : absl::StrCat("expected ", type[0] == 'i' ? "an " : "a ", type)));
}

// An argument that is not a flag: always an error, with a hint when it
// looks like a bool flag's value written apart (`--with-lab false`).
absl::Status Unexpected(absl::string_view arg, absl::string_view bool_before) {
  bool bool_word = arg == "true" || arg == "false" || arg == "0" || arg == "1";
  return Bad(absl::StrCat(
      "unexpected argument \"", arg, "\": ",
      !bool_before.empty() && bool_word
          ? absl::StrCat("a bool flag takes its value after =: ", bool_before, "=", arg)
          : "this program takes flags only"));
}

}  // namespace

absl::StatusOr<CommandLine> TryParseFlags(const std::vector<std::string>& args,
                                          const ProgramOptions& options) {
  CommandLine line;
  std::set<const absl::CommandLineFlag*> seen;
  std::string bool_before;  // The bool flag just before, written with no value.
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    std::string previous_bool = std::exchange(bool_before, "");
    if (!options.pass_through_prefix.empty() &&
        absl::StartsWith(arg, options.pass_through_prefix)) {
      line.passed_through.push_back(arg);
      continue;
    }
    absl::string_view text = arg;
    if (!absl::ConsumePrefix(&text, "--") && !absl::ConsumePrefix(&text, "-")) text = "";
    if (text.empty() || text[0] == '-' || text[0] == '=') return Unexpected(arg, previous_bool);
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(text, absl::MaxSplits('=', 1));
    const bool has_value = absl::StrContains(text, '=');
    std::string name = absl::StrReplaceAll(parts.first, {{"-", "_"}});
    if (name == "help" || name == "h") {
      line.help = true;
      continue;
    }
    auto [flag, negated] = Resolve(name, options);
    if (flag == nullptr)
      return Bad(absl::StrCat("unknown flag ", FlagName(name), Suggestion(name)));
    const std::string shown = FlagName(flag->Name());
    if (!seen.insert(flag).second) return Bad(absl::StrCat(shown, " is given twice"));
    line.given.emplace_back(flag->Name());
    std::string value(parts.second);
    if (flag->IsOfType<bool>()) {
      if (negated && has_value) {
        return Bad(absl::StrCat(arg, ": write ", shown, "=false or --no", shown.substr(2)));
      }
      if (!has_value) value = negated ? "false" : "true";
      if (!has_value && !negated) bool_before = shown;
    } else if (!has_value) {
      if (i + 1 == args.size() || absl::StartsWith(args[i + 1], "--")) {
        return Bad(absl::StrCat(shown, " needs a value (", shown, "=<", TypeName(*flag), ">)"));
      }
      value = args[++i];
    }
    if (absl::Status set = SetFromText(*flag, value); !set.ok()) return set;
  }
  return line;
}

std::string FlagsHelp(const ProgramOptions& options) {
  // Prose lines are wrapped; indented ones (command lines) are kept as written.
  std::string help;
  for (absl::string_view line :
       absl::StrSplit(absl::StripTrailingAsciiWhitespace(options.usage), '\n')) {
    absl::StrAppend(&help, line.empty() || absl::StartsWith(line, " ") ? absl::StrCat(line, "\n")
                                                                       : Wrap(line, 0, 79));
  }
  absl::StrAppend(&help, "\nFlags:\n");
  for (const absl::CommandLineFlag* flag : ProgramFlags()) {
    std::string type = TypeName(*flag);
    std::string shown = FlagName(flag->Name());
    std::string value = flag->DefaultValue();
    if (flag->IsOfType<std::string>()) value = absl::StrCat("\"", value, "\"");
    std::string also;
    for (const auto& [old_name, new_name] : options.aliases) {
      if (new_name == flag->Name()) absl::StrAppend(&also, "; also ", FlagName(old_name));
    }
    absl::StrAppend(&help, "  ", shown, type == "bool" ? "" : absl::StrCat("=<", type, ">"),
                    "  (default ", value, also, ")\n", Wrap(flag->Help(), 6, 79));
  }
  absl::StrAppend(&help, "  --help, -h\n      This text.\n");
  if (!options.more_help.empty()) {
    absl::StrAppend(&help, "\n", absl::StripTrailingAsciiWhitespace(options.more_help), "\n");
  }
  return help;
}

bool FlagGiven(absl::string_view name) { return GivenFlags().contains(name); }

void FlagError(absl::string_view message) {
  const std::string& name = ProgramName();
  std::fprintf(stderr, "%s: %s\n(%s --help lists the flags)\n", name.c_str(),
               std::string(message).c_str(), name.c_str());
  std::fflush(stderr);
  std::exit(2);
}

std::vector<char*> ParseFlags(int argc, char** argv, const ProgramOptions& options) {
  if (argc > 0) {
    absl::string_view path = argv[0];
    ProgramName() = std::string(path.substr(path.rfind('/') + 1));
  }
  std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  absl::StatusOr<CommandLine> line = TryParseFlags(args, options);
  if (!line.ok()) FlagError(line.status().message());
  GivenFlags().insert(line->given.begin(), line->given.end());
  if (line->help) {
    std::fputs(FlagsHelp(options).c_str(), stdout);
    std::fflush(stdout);
    std::exit(0);
  }
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (!options.pass_through_prefix.empty() &&
        absl::StartsWith(argv[i], options.pass_through_prefix)) {
      rest.push_back(argv[i]);
    }
  }
  return rest;
}

bool AbslParseFlag(absl::string_view text, IntList* list, std::string* error) {
  list->values.clear();
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(part, &n)) {
      *error = absl::StrCat("\"", part, "\" is not an integer (expected a list like 1,16,64)");
      return false;
    }
    list->values.push_back(n);
  }
  return true;
}

std::string AbslUnparseFlag(const IntList& list) { return absl::StrJoin(list.values, ","); }

bool AbslParseFlag(absl::string_view text, PortList* list, std::string* error) {
  list->ports.clear();
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int port = 0;
    if (!absl::SimpleAtoi(part, &port) || port < 1 || port > 65535) {
      *error = absl::StrCat("\"", part, "\" is not a port (1..65535; a list is 8080,8081)");
      return false;
    }
    list->ports.push_back(port);
  }
  return true;
}

std::string AbslUnparseFlag(const PortList& list) { return absl::StrJoin(list.ports, ","); }

}  // namespace fanout
