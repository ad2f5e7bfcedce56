#include "gateway/aggregator.h"

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gateway/http_status.h"
#include "gateway/message_json.h"
#include "node/async/as_completed.h"
#include "node/base/json_string.h"
#include "node/base/status_macros.h"
#include "node/rpc/byte_buffer.h"

namespace fanout::gateway {
namespace {

using google::protobuf::Message;
using google::protobuf::MethodDescriptor;

// A call's result, with the answer as the backend sent it (what later calls
// read through "parts.NAME.field").
struct CallOutcome {
  bool bad_input = false;  // The caller sent something unusable: 400, whatever the part.
  Value raw;
  PartResult part;
};

std::string Describe(const Source& source) {
  switch (source.kind) {
    case Source::Kind::kPath:
      return absl::StrCat("path parameter \"", source.name, "\"");
    case Source::Kind::kQuery:
      return absl::StrCat("query parameter \"", source.name, "\"");
    case Source::Kind::kHeader:
      return absl::StrCat("header \"", source.name, "\"");
    case Source::Kind::kBody:
      return source.path.empty() ? "body" : absl::StrCat("body field \"", source.path, "\"");
    case Source::Kind::kPart:
      return absl::StrCat("the answer of part \"", source.name, "\"");
    case Source::Kind::kLiteral:
      return absl::StrCat("literal ", source.text);
  }
  return source.text;
}

const Value* Lookup(const std::map<std::string, std::string>& params, const std::string& name,
                    const Value& body, Value* scratch) {
  if (auto it = params.find(name); it != params.end()) {
    *scratch = StringValue(it->second);
    return scratch;
  }
  return FindPath(body, name);  // gRPC: parameters are fields of the request message.
}

// The value a source gives, or nullptr when absent (the field stays unset).
const Value* Resolve(const Source& source, const RequestInput& input,
                     const std::vector<std::optional<CallOutcome>>& done, Value* scratch) {
  switch (source.kind) {
    case Source::Kind::kPath:
      return Lookup(input.path, source.name, input.body, scratch);
    case Source::Kind::kQuery:
      return Lookup(input.query, source.name, input.body, scratch);
    case Source::Kind::kHeader:
      for (const auto& [name, value] : input.headers) {
        if (name == source.name) {
          *scratch = StringValue(value);
          return scratch;
        }
      }
      return nullptr;
    case Source::Kind::kBody:
      if (input.body.kind_case() == Value::KIND_NOT_SET) return nullptr;
      return FindPath(input.body, source.path);
    case Source::Kind::kPart: {
      const std::optional<CallOutcome>& part = done[source.call];
      return part ? FindPath(part->raw, source.path) : nullptr;
    }
    case Source::Kind::kLiteral:
      return &source.literal;
  }
  return nullptr;
}

// Fills `request` from the call's sources, each straight into its field.
// On failure says which source was wrong; `bad_input` tells the caller's
// fault from a backend's or config's.
absl::Status BuildRequest(const CompiledCall& call, const RequestInput& input,
                          const std::vector<std::optional<CallOutcome>>& done, Message* request,
                          bool* bad_input) {
  for (const RequestField& field : call.request) {
    Value scratch;
    const Value* value = Resolve(field.source, input, done, &scratch);
    if (value == nullptr) continue;
    absl::Status set = SetFieldPath(request, field.field, *value);
    if (set.ok()) continue;
    bool from_caller =
        field.source.kind != Source::Kind::kPart && field.source.kind != Source::Kind::kLiteral;
    *bad_input = from_caller;
    return absl::Status(
        from_caller ? absl::StatusCode::kInvalidArgument : absl::StatusCode::kInternal,
        absl::StrCat(Describe(field.source), field.field.empty() ? "" : " (for request field \"",
                     field.field, field.field.empty() ? "" : "\")", ": ", set.message()));
  }
  return absl::OkStatus();
}

void Shape(const CompiledCall& call, Value* value) {
  if (!call.select.empty()) {
    const Value* selected = FindPath(*value, call.select);
    Value picked = selected ? *selected : Value();
    if (!selected) picked.set_null_value(google::protobuf::NULL_VALUE);
    *value = std::move(picked);
  }
  for (const std::string& field : call.drop_fields) ErasePath(value, field);
  for (const auto& [from, to] : call.rename_fields) {
    const Value* old = FindPath(*value, from);
    if (old == nullptr) continue;
    Value moved = *old;
    ErasePath(value, from);
    SetPath(value, to, std::move(moved));
  }
}

Task<absl::StatusOr<CallOutcome>> RunCall(const CompiledRoute& route, int i,
                                          const RequestInput& input, const RouteEnv& env,
                                          const std::vector<std::optional<CallOutcome>>& done) {
  const CompiledCall& call = route.calls[i];
  CallOutcome out;
  out.part.name = call.name;
  out.part.optional = call.optional;
  out.part.call = &call;
  for (int need : call.needs) {
    const PartResult& before = done[need]->part;
    if (!before.status.ok()) {
      // Its code, not a client error: a backend outage two steps back is
      // still a 503 to the caller.
      out.part.status =
          absl::Status(before.status.code(),
                       absl::StrCat("part \"", call.name, "\" needs part \"", before.name,
                                    "\", which failed (", CodeName(before.status.code()), ")"));
      co_return out;
    }
  }
  const MethodDescriptor* method = call.descriptor;
  if (method == nullptr) {
    absl::StatusOr<const MethodDescriptor*> resolved = co_await env.resolve(call);
    if (!resolved.ok()) {
      out.part.status = resolved.status();
      co_return out;
    }
    method = *resolved;
  }
  std::unique_ptr<Message> request = env.new_message(method->input_type());
  out.part.status = BuildRequest(call, input, done, request.get(), &out.bad_input);
  if (!out.part.status.ok()) co_return out;
  absl::StatusOr<Bytes> bytes = ToByteBuffer(*request);
  if (!bytes.ok()) {
    out.part.status = bytes.status();
    co_return out;
  }
  Backend& backend = *env.backends->at(call.backend);
  CallPolicy policy{.attempt_timeout = call.timeout,
                    .retry = call.retry,
                    .hedge_delay = call.hedge_delay,
                    .metadata = input.forward};
  absl::StatusOr<Bytes> reply =
      co_await backend.Call(call.method, *std::move(bytes), std::move(policy));
  if (!reply.ok()) {
    out.part.status = absl::Status(reply.status().code(),
                                   absl::StrCat("part \"", call.name, "\" (", call.backend, " ",
                                                call.method, "): ", reply.status().message()));
    co_return out;
  }
  out.part.message = env.new_message(method->output_type());
  if (!FromByteBuffer(*reply, out.part.message.get()).ok()) {
    out.part.status = absl::InternalError(absl::StrCat(
        "part \"", call.name, "\": backend \"", call.backend, "\" answered ", call.method,
        " with bytes that are not a ", method->output_type()->full_name()));
    co_return out;
  }
  if (!call.needed_by.empty()) {
    // Later calls read this answer by JSON path.
    absl::StatusOr<Value> value = MessageToValue(*out.part.message);
    if (!value.ok()) {
      out.part.status = absl::InternalError(absl::StrCat(
          "part \"", call.name, "\": answer not convertible to JSON: ", value.status().message()));
      co_return out;
    }
    out.raw = *std::move(value);
  }
  co_return out;
}

}  // namespace

Task<absl::StatusOr<RouteResult>> RunRoute(const CompiledRoute& route, const RequestInput& input,
                                           const RouteEnv& env, PartSink on_part) {
  const size_t n = route.calls.size();
  std::vector<int> waiting(n);
  for (size_t i = 0; i < n; ++i) waiting[i] = static_cast<int>(route.calls[i].needs.size());
  std::vector<std::optional<CallOutcome>> done(n);
  std::vector<int> started;  // AsCompleted index -> call index.
  AsCompleted<absl::StatusOr<CallOutcome>> running;
  auto start = [&](int i) {
    started.push_back(i);
    running.Add(RunCall(route, i, input, env, done));
  };
  for (size_t i = 0; i < n; ++i)
    if (waiting[i] == 0) start(static_cast<int>(i));

  RouteResult result;
  std::vector<int> order;
  // Every started call is awaited, even after a failure: calls read `done`,
  // so none may outlive this frame.
  while (auto next = co_await running.Next()) {
    CallOutcome& outcome = *next->result;  // RunCall reports inside the part.
    int i = started[next->index];
    order.push_back(i);
    done[i] = std::move(outcome);
    const PartResult& part = done[i]->part;
    if (on_part) co_await on_part(part);
    if (!part.status.ok()) {
      if (part.optional && !done[i]->bad_input) {
        result.completed = false;
      } else if (result.status.ok()) {
        result.status = part.status;
        running.Cancel(
            absl::CancelledError(absl::StrCat("required part \"", part.name, "\" failed")));
      }
    }
    if (!result.status.ok()) continue;
    for (int next : route.calls[i].needed_by) {
      if (--waiting[next] == 0) start(next);
    }
  }
  for (int i : order) result.parts.push_back(std::move(done[i]->part));
  co_return result;
}

const Value& PartResult::value() const {
  if (!value_cache) {
    value_cache.emplace();
    if (message) {
      absl::StatusOr<Value> converted = MessageToValue(*message);
      if (converted.ok()) *value_cache = *std::move(converted);
      if (call) Shape(*call, &*value_cache);
    }
  }
  return *value_cache;
}

Value PartErrorValue(const PartResult& part) {
  Value error = ObjectValue();
  SetPath(&error, "part", StringValue(part.name));
  Value code;
  code.set_number_value(static_cast<int>(part.status.code()));
  SetPath(&error, "code", std::move(code));
  SetPath(&error, "status", StringValue(CodeName(part.status.code())));
  SetPath(&error, "message", StringValue(std::string(part.status.message())));
  return error;
}

Value MergeParts(const CompiledRoute& route, const RouteResult& result) {
  Value root = ObjectValue();
  Value errors;
  errors.mutable_list_value();
  // Route order, not completion order: the answer's shape does not depend on timing.
  for (const CompiledCall& call : route.calls) {
    const PartResult* part = result.Find(call.name);
    if (part == nullptr) continue;
    if (!part->status.ok()) {
      *errors.mutable_list_value()->add_values() = PartErrorValue(*part);
    } else if (call.output == ".") {
      MergeFields(part->value(), &root);
    } else if (!call.output.empty()) {
      SetPath(&root, call.output, part->value());
    }
  }
  if (errors.list_value().values_size() > 0) SetPath(&root, "errors", std::move(errors));
  return root;
}

}  // namespace fanout::gateway

namespace fanout::gateway {
namespace {

// The merged answer's shape: output keys as a tree, a part or "errors" at
// the leaves; std::map orders keys as ToJson does.
struct OutputNode {
  const PartResult* part = nullptr;
  const Value* value = nullptr;
  std::map<absl::string_view, OutputNode> children;
};

void Place(OutputNode* root, absl::string_view path, const PartResult* part, const Value* value) {
  OutputNode* at = root;
  for (absl::string_view segment : absl::StrSplit(path, '.')) {
    if (at->part || at->value) *at = OutputNode{};  // A value on the way becomes an object.
    at = &at->children[segment];
  }
  *at = OutputNode{.part = part, .value = value};
}

absl::Status Write(const OutputNode& node, std::string* out) {
  if (node.value) {
    AppendJson(*node.value, out);
    return absl::OkStatus();
  }
  if (node.part) {
    if (node.part->call->Reshapes()) {
      AppendJson(node.part->value(), out);
      return absl::OkStatus();
    }
    absl::Status written = AppendMessageJson(*node.part->message, out);
    if (written.ok()) return written;
    return absl::InternalError(absl::StrCat(
        "part \"", node.part->name, "\": answer not convertible to JSON: ", written.message()));
  }
  out->push_back('{');
  bool first = true;
  for (const auto& [key, child] : node.children) {
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(key, out);
    out->push_back(':');
    FANOUT_RETURN_IF_ERROR(Write(child, out));
  }
  out->push_back('}');
  return absl::OkStatus();
}

}  // namespace

absl::Status AppendMergedJson(const CompiledRoute& route, const RouteResult& result,
                              std::string* out) {
  bool merges = absl::c_any_of(route.calls, [](const CompiledCall& c) { return c.output == "."; });
  if (merges) {
    AppendJson(MergeParts(route, result), out);
    return absl::OkStatus();
  }
  OutputNode root;
  Value errors;
  errors.mutable_list_value();
  for (const CompiledCall& call : route.calls) {  // Route order, as MergeParts.
    const PartResult* part = result.Find(call.name);
    if (part == nullptr) continue;
    if (!part->status.ok()) {
      *errors.mutable_list_value()->add_values() = PartErrorValue(*part);
    } else if (!call.output.empty()) {
      Place(&root, call.output, part, nullptr);
    }
  }
  if (errors.list_value().values_size() > 0) Place(&root, "errors", nullptr, &errors);
  return Write(root, out);
}

}  // namespace fanout::gateway
