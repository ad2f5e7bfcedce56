// RunRoute: one request's fan-out. Runs a compiled route's calls as a small
// dependency graph on the current loop: calls that need nothing start at
// once, concurrently; a call that uses another's answer starts the moment
// that answer arrives. Each call goes through its Backend (bulkhead,
// breaker, deadline, retries, hedging); the answers merge into one JSON
// object.
//
//   RouteResult result = co_await RunRoute(route, input, env);
//   if (!result.status.ok()) ... a required part failed: the whole request fails ...
//   else if (!result.completed) ... 200, partial: result.parts says which failed ...
//
// A required part failing cancels the calls still running (their answers
// could not be used). Cancelling the awaiting task (the caller went away,
// the deadline passed) cancels every backend call at once.
//
// Loop-affine.
#pragma once

#include <google/protobuf/message.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/backend.h"
#include "gateway/json_value.h"
#include "gateway/route.h"

namespace fanout::gateway {

// What the outside request brought.
struct RequestInput {
  std::map<std::string, std::string> path;
  std::map<std::string, std::string> query;
  std::vector<std::pair<std::string, std::string>> headers;  // Lower-case names.
  // The JSON body; null when there was none. On gRPC: the request message.
  Value body;
  // Metadata sent on every backend call (the allowlisted headers).
  std::vector<std::pair<std::string, std::string>> forward;
};

struct PartResult {
  std::string name;
  absl::Status status;
  // The answer as the backend sent it; null when the call failed.
  std::unique_ptr<google::protobuf::Message> message;
  bool optional = false;
  const CompiledCall* call = nullptr;  // Null for a whole-route outcome.

  // The answer as JSON after select/drop/rename, made on first use (most
  // REST answers are printed straight from `message` and never need it).
  // Null when the answer has no JSON form (an Any; a Timestamp out of range).
  const Value& value() const;
  mutable std::optional<Value> value_cache;
};

struct RouteResult {
  // Not OK when a required part failed (or the request itself was bad).
  absl::Status status;
  // Completion order.
  std::vector<PartResult> parts;
  bool completed = true;  // False when an optional part failed.

  // The part of this name, or nullptr (a call that never ran).
  const PartResult* Find(absl::string_view name) const {
    for (const PartResult& part : parts) {
      if (part.name == name) return &part;
    }
    return nullptr;
  }
};

struct RouteEnv {
  BackendMap* backends = nullptr;
  // A new message of a type (generated class or DynamicMessage).
  std::function<std::unique_ptr<google::protobuf::Message>(const google::protobuf::Descriptor*)>
      new_message;
  // For calls compiled without a descriptor (reflection): find it now.
  std::function<Task<absl::StatusOr<const google::protobuf::MethodDescriptor*>>(
      const CompiledCall&)>
      resolve;
};

// `on_part` (optional) sees each part as it completes: the streaming
// routes. Calls keep running while it is awaited. Always OK (the route's
// outcome is in RouteResult); StatusOr so deadlines and scopes can wrap it.
using PartSink = std::function<Task<void>(const PartResult&)>;
Task<absl::StatusOr<RouteResult>> RunRoute(const CompiledRoute& route, const RequestInput& input,
                                           const RouteEnv& env, PartSink on_part = nullptr);

// The merged answer: each part's value at its output key, "." parts merged
// into the top level; failed optional parts listed under "errors".
Value MergeParts(const CompiledRoute& route, const RouteResult& result);
// The same answer as JSON text, printed straight from the parts' messages
// where no part is merged into the top level (else through MergeParts).
absl::Status AppendMergedJson(const CompiledRoute& route, const RouteResult& result,
                              std::string* out);

// {"name": ..., "code": ..., "status": "NOT_FOUND", "message": ...}
Value PartErrorValue(const PartResult& part);

}  // namespace fanout::gateway
