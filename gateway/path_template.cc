#include "gateway/path_template.h"

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace fanout::gateway {
namespace {

bool IsParam(absl::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

absl::StatusOr<PathTemplate> PathTemplate::Parse(absl::string_view text) {
  if (!absl::StartsWith(text, "/")) {
    return absl::InvalidArgumentError(absl::StrCat("path \"", text, "\" must start with /"));
  }
  PathTemplate out;
  out.text_ = std::string(text);
  std::set<std::string> seen;
  for (absl::string_view segment : absl::StrSplit(text.substr(1), '/')) {
    if (segment.empty() && text.size() > 1) {
      return absl::InvalidArgumentError(absl::StrCat("path \"", text, "\" has an empty segment"));
    }
    if (absl::StrContains(segment, '{') || absl::StrContains(segment, '}')) {
      if (!IsParam(segment)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "path \"", text, "\": a parameter must be a whole segment, like {id}, got \"", segment,
            "\""));
      }
      if (!seen.insert(std::string(segment.substr(1, segment.size() - 2))).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("path \"", text, "\" repeats the parameter ", segment));
      }
    }
    out.segments_.emplace_back(segment);
  }
  return out;
}

bool PathTemplate::HasParam(const std::string& name) const {
  return std::find(segments_.begin(), segments_.end(), absl::StrCat("{", name, "}")) !=
         segments_.end();
}

bool PathTemplate::Match(absl::string_view path, std::map<std::string, std::string>* params) const {
  if (!absl::ConsumePrefix(&path, "/")) return false;
  size_t i = 0;
  for (absl::string_view segment : absl::StrSplit(path, '/')) {
    if (i == segments_.size()) return false;
    const std::string& want = segments_[i++];
    if (IsParam(want)) {
      if (segment.empty()) return false;
      (*params)[want.substr(1, want.size() - 2)] = std::string(segment);
    } else if (segment != want) {
      return false;
    }
  }
  return i == segments_.size();
}

}  // namespace fanout::gateway
