// PathTemplate: one REST route's path, "/v1/users/{id}/dashboard": literal
// segments and {param} segments, each a whole segment.
//
//   FANOUT_ASSIGN_OR_RETURN(PathTemplate path, PathTemplate::Parse("/v1/users/{id}"));
//   std::map<std::string, std::string> params;
//   if (path.Match("/v1/users/7", &params)) ... params["id"] == "7" ...
//
// Parsed once when routes compile (route_compile.h); matched per request
// (route_match.h), with no allocation beyond the parameters it fills.
//
// Immutable after Parse: thread-safe to share between loops.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fanout::gateway {

class PathTemplate {
 public:
  // INVALID_ARGUMENT naming the path: no leading '/', an empty segment, a
  // brace inside a segment ("/a{x}"), a repeated parameter.
  static absl::StatusOr<PathTemplate> Parse(absl::string_view text);
  // True when `path` fits; fills `params` (not decoded further than %XX).
  bool Match(absl::string_view path, std::map<std::string, std::string>* params) const;
  const std::string& text() const { return text_; }
  bool HasParam(const std::string& name) const;

 private:
  std::string text_;
  std::vector<std::string> segments_;  // "{name}" marks a parameter.
};

}  // namespace fanout::gateway
