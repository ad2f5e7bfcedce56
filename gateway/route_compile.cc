#include "gateway/route_compile.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gateway/http_status.h"
#include "node/base/status_macros.h"
#include "node/loop/stall_watch.h"

namespace fanout::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::MethodDescriptor;

constexpr const char* kHttpMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

std::string MethodPath(absl::string_view method) {
  return absl::StartsWith(method, "/") ? std::string(method) : absl::StrCat("/", method);
}

// "pkg.Service/Method" -> "pkg.Service.Method" lookup form is the caller's;
// here only the shape is checked.
bool WellFormedMethod(absl::string_view method) {
  std::vector<absl::string_view> parts = absl::StrSplit(absl::StripPrefix(method, "/"), '/');
  return parts.size() == 2 && !parts[0].empty() && !parts[1].empty() &&
         absl::StrContains(parts[0], '.');
}

// Finds a field by proto name or JSON name.
const FieldDescriptor* FindField(const Descriptor* type, absl::string_view name) {
  std::string key(name);
  if (const FieldDescriptor* f = type->FindFieldByName(key)) return f;
  if (const FieldDescriptor* f = type->FindFieldByCamelcaseName(key)) return f;
  for (int i = 0; i < type->field_count(); ++i) {
    if (type->field(i)->json_name() == key) return type->field(i);
  }
  return nullptr;
}

// Empty when `path` names a field of `type`; else why not.
std::string CheckFieldPath(const Descriptor* type, absl::string_view path) {
  const Descriptor* at = type;
  for (absl::string_view segment : absl::StrSplit(path, '.')) {
    if (at == nullptr)
      return absl::StrCat("\"", segment, "\" is inside a field that is not a message");
    const FieldDescriptor* field = FindField(at, segment);
    if (field == nullptr) return absl::StrCat(at->full_name(), " has no field \"", segment, "\"");
    at = field->is_repeated() || field->type() != FieldDescriptor::TYPE_MESSAGE
             ? nullptr
             : field->message_type();
  }
  return "";
}

absl::StatusOr<Source> ParseSource(absl::string_view text) {
  Source source;
  source.text = std::string(text);
  if (absl::ConsumePrefix(&text, "=")) {
    source.kind = Source::Kind::kLiteral;
    absl::StatusOr<Value> literal = ParseJson(text);
    // A bare word is a string literal: "=pending".
    source.literal = literal.ok() ? *std::move(literal) : StringValue(std::string(text));
    return source;
  }
  std::pair<absl::string_view, absl::string_view> head =
      absl::StrSplit(text, absl::MaxSplits('.', 1));
  absl::string_view rest = head.second;
  if (head.first == "body") {
    source.kind = Source::Kind::kBody;
    source.path = std::string(rest);
    return source;
  }
  if (rest.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("source \"", source.text,
                                                   "\" must be path.NAME, query.NAME, header.NAME, "
                                                   "body[.FIELD], parts.CALL[.FIELD] or =LITERAL"));
  }
  if (head.first == "path" || head.first == "query" || head.first == "header") {
    source.kind = head.first == "path"    ? Source::Kind::kPath
                  : head.first == "query" ? Source::Kind::kQuery
                                          : Source::Kind::kHeader;
    source.name = head.first == "header" ? absl::AsciiStrToLower(rest) : std::string(rest);
    return source;
  }
  if (head.first == "parts") {
    std::pair<absl::string_view, absl::string_view> part =
        absl::StrSplit(rest, absl::MaxSplits('.', 1));
    source.kind = Source::Kind::kPart;
    source.name = std::string(part.first);
    source.path = std::string(part.second);
    return source;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "source \"", source.text, "\" must start with path., query., header., body, parts. or ="));
}

absl::Status Bad(absl::string_view where, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", why));
}

absl::StatusOr<RetryPolicy> CompileRetry(const config::v1::RetryPolicy& config,
                                         absl::string_view where) {
  RetryPolicy policy;
  policy.max_attempts = std::max(1, config.max_attempts());
  if (config.initial_backoff_ms() > 0)
    policy.initial_backoff = absl::Milliseconds(config.initial_backoff_ms());
  if (config.max_backoff_ms() > 0) policy.max_backoff = absl::Milliseconds(config.max_backoff_ms());
  if (config.backoff_multiplier() > 0) policy.multiplier = config.backoff_multiplier();
  if (!config.retryable_codes().empty()) policy.retryable.clear();
  for (const std::string& name : config.retryable_codes()) {
    absl::StatusCode code;
    if (!ParseCodeName(name, &code)) {
      return Bad(where,
                 absl::StrCat("retry.retryable_codes: \"", name, "\" is not a gRPC code name"));
    }
    policy.retryable.push_back(code);
  }
  if (config.max_attempts() < 0 || config.initial_backoff_ms() < 0 || config.max_backoff_ms() < 0) {
    return Bad(where, "retry: max_attempts and backoffs must be >= 0");
  }
  std::string invalid = policy.Validate();
  if (!invalid.empty()) return Bad(where, absl::StrCat("retry: ", invalid));
  return policy;
}

absl::StatusOr<CompiledCall> CompileCall(const config::v1::Call& call, absl::string_view route,
                                         const RouteContext& context) {
  std::string where = absl::StrCat(route, ": call \"", call.name(), "\"");
  if (call.name().empty() || absl::StrContains(call.name(), '.')) {
    return Bad(absl::StrCat(route, ": call"), "name must be set and contain no '.'");
  }
  CompiledCall out;
  out.name = call.name();
  if (!context.backends.contains(call.backend())) {
    return Bad(where, absl::StrCat("backend \"", call.backend(), "\" is not configured (known: ",
                                   absl::StrJoin(context.backends, ", "), ")"));
  }
  out.backend = call.backend();
  if (!WellFormedMethod(call.method())) {
    return Bad(where, absl::StrCat("method must be \"package.Service/Method\", got \"",
                                   call.method(), "\""));
  }
  out.method = MethodPath(call.method());
  out.descriptor = context.find_method ? context.find_method(call.method()) : nullptr;
  if (out.descriptor == nullptr && !context.allow_unknown_methods) {
    return Bad(where, absl::StrCat("method \"", call.method(),
                                   "\" is unknown (not compiled in, not in descriptor_sets; "
                                   "set use_reflection to learn it from the backend)"));
  }
  if (out.descriptor &&
      (out.descriptor->client_streaming() || out.descriptor->server_streaming())) {
    return Bad(where, absl::StrCat("method \"", call.method(),
                                   "\" is streaming; routes call unary methods"));
  }
  for (const auto& [field, text] : call.request()) {
    absl::StatusOr<Source> source = ParseSource(text);
    if (!source.ok())
      return Bad(where, absl::StrCat("request field \"", field, "\": ", source.status().message()));
    RequestField request{field == "*" ? "" : field, *std::move(source)};
    if (!request.field.empty() && out.descriptor) {
      std::string why = CheckFieldPath(out.descriptor->input_type(), request.field);
      if (!why.empty()) return Bad(where, absl::StrCat("request field \"", field, "\": ", why));
    }
    out.request.push_back(std::move(request));
  }
  std::sort(out.request.begin(), out.request.end(),
            [](const RequestField& a, const RequestField& b) { return a.field < b.field; });
  if (call.timeout_ms() < 0)
    return Bad(where, absl::StrCat("timeout_ms must be >= 0, got ", call.timeout_ms()));
  if (call.timeout_ms() > 0) out.timeout = absl::Milliseconds(call.timeout_ms());
  if (call.hedge_delay_ms() < 0) {
    return Bad(where, absl::StrCat("hedge_delay_ms must be >= 0, got ", call.hedge_delay_ms()));
  }
  out.hedge_delay = absl::Milliseconds(call.hedge_delay_ms());
  out.optional = call.optional();
  FANOUT_ASSIGN_OR_RETURN(out.retry, CompileRetry(call.retry(), where));
  out.output = call.output().empty() ? call.name() : call.output() == "-" ? "" : call.output();
  out.select = call.select();
  out.drop_fields.assign(call.drop_fields().begin(), call.drop_fields().end());
  for (const auto& [from, to] : call.rename_fields()) {
    if (to.empty())
      return Bad(where, absl::StrCat("rename_fields: \"", from, "\" renamed to nothing"));
    out.rename_fields.emplace_back(from, to);
  }
  if (out.descriptor && !out.select.empty()) {
    std::string why = CheckFieldPath(out.descriptor->output_type(), out.select);
    if (!why.empty()) return Bad(where, absl::StrCat("select \"", out.select, "\": ", why));
  }
  return out;
}

// Resolves part references into indices and rejects cycles.
absl::Status LinkCalls(CompiledRoute& route) {
  std::map<std::string, int> index;
  for (size_t i = 0; i < route.calls.size(); ++i) {
    if (!index.emplace(route.calls[i].name, static_cast<int>(i)).second) {
      return Bad(route.name, absl::StrCat("two calls are named \"", route.calls[i].name, "\""));
    }
  }
  for (size_t at = 0; at < route.calls.size(); ++at) {
    CompiledCall& call = route.calls[at];
    for (RequestField& field : call.request) {
      Source& source = field.source;
      if (source.kind == Source::Kind::kPath &&
          !(route.path && route.path->HasParam(source.name)) && route.grpc_method.empty()) {
        return Bad(absl::StrCat(route.name, ": call \"", call.name, "\""),
                   absl::StrCat("source \"", source.text, "\" names no parameter of the path"));
      }
      if (source.kind != Source::Kind::kPart) continue;
      auto it = index.find(source.name);
      if (it == index.end() || source.name == call.name) {
        return Bad(absl::StrCat(route.name, ": call \"", call.name, "\""),
                   absl::StrCat("source \"", source.text, "\" names no other call of the route"));
      }
      source.call = it->second;
      if (std::find(call.needs.begin(), call.needs.end(), it->second) == call.needs.end()) {
        call.needs.push_back(it->second);
        route.calls[it->second].needed_by.push_back(static_cast<int>(at));
      }
    }
  }
  // Kahn's algorithm: every call must become runnable.
  std::vector<int> waiting(route.calls.size());
  for (size_t i = 0; i < route.calls.size(); ++i)
    waiting[i] = static_cast<int>(route.calls[i].needs.size());
  std::vector<int> ready;
  for (size_t i = 0; i < waiting.size(); ++i)
    if (waiting[i] == 0) ready.push_back(static_cast<int>(i));
  size_t done = 0;
  while (!ready.empty()) {
    int at = ready.back();
    ready.pop_back();
    ++done;
    for (int next : route.calls[at].needed_by) {
      if (--waiting[next] == 0) ready.push_back(next);
    }
  }
  if (done != route.calls.size()) {
    std::vector<std::string> stuck;
    for (size_t i = 0; i < waiting.size(); ++i)
      if (waiting[i] > 0) stuck.push_back(route.calls[i].name);
    return Bad(route.name,
               absl::StrCat("calls depend on each other in a cycle: ", absl::StrJoin(stuck, ", ")));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CompiledRoute> CompileRoute(const config::v1::Route& config,
                                           const RouteContext& context) {
  CompiledRoute route;
  std::string method =
      absl::AsciiStrToUpper(config.http_method().empty() ? "GET" : config.http_method());
  route.name =
      config.name().empty()
          ? absl::StrCat(method, " ", config.path().empty() ? config.grpc_method() : config.path())
          : config.name();
  std::string where = absl::StrCat("route \"", route.name, "\"");
  route.activity = InternActivity(where);  // Route names come from config: a bounded set.
  if (config.path().empty() && config.grpc_method().empty()) {
    return Bad(where, "needs a path (REST), a grpc_method, or both");
  }
  if (!config.path().empty()) {
    if (std::find(std::begin(kHttpMethods), std::end(kHttpMethods), method) ==
        std::end(kHttpMethods)) {
      return Bad(where, absl::StrCat("http_method must be GET, POST, PUT, PATCH or DELETE, got \"",
                                     config.http_method(), "\""));
    }
    route.http_method = method;
    absl::StatusOr<PathTemplate> path = PathTemplate::Parse(config.path());
    if (!path.ok()) return Bad(where, path.status().message());
    route.path = *std::move(path);
  }
  if (!config.grpc_method().empty()) {
    if (!WellFormedMethod(config.grpc_method())) {
      return Bad(where, absl::StrCat("grpc_method must be \"package.Service/Method\", got \"",
                                     config.grpc_method(), "\""));
    }
    const MethodDescriptor* grpc =
        context.find_method ? context.find_method(config.grpc_method()) : nullptr;
    route.grpc_descriptor = grpc;
    if (grpc == nullptr) {
      return Bad(where,
                 absl::StrCat("grpc_method \"", config.grpc_method(), "\" is not a known method"));
    }
    if (grpc->client_streaming() || grpc->server_streaming() != config.stream()) {
      return Bad(where, absl::StrCat("grpc_method \"", config.grpc_method(), "\" must be ",
                                     config.stream() ? "server-streaming" : "unary",
                                     " to match stream: ", config.stream() ? "true" : "false"));
    }
    route.grpc_method = MethodPath(config.grpc_method());
  }
  if (config.timeout_ms() < 0)
    return Bad(where, absl::StrCat("timeout_ms must be >= 0, got ", config.timeout_ms()));
  route.timeout =
      config.timeout_ms() > 0 ? absl::Milliseconds(config.timeout_ms()) : context.default_timeout;
  if (config.max_in_flight() < 0) return Bad(where, "max_in_flight must be >= 0");
  route.max_in_flight = config.max_in_flight();
  absl::StatusOr<std::optional<RateLimiter::Limit>> rate =
      LimitFromConfig(config.rate_limit(), "rate_limit");
  if (!rate.ok()) return Bad(where, rate.status().message());
  route.rate_limit = *rate;
  absl::StatusOr<std::optional<CorsPolicy>> cors = CorsPolicy::FromConfig(config.cors(), "cors");
  if (!cors.ok()) return Bad(where, cors.status().message());
  route.cors = *std::move(cors);
  route.auth = RouteAuthFromConfig(config.auth(), route.name);
  route.stream = config.stream();
  if (config.success_status() != 0 &&
      (config.success_status() < 200 || config.success_status() > 299)) {
    return Bad(where, absl::StrCat("success_status must be 2xx, got ", config.success_status()));
  }
  route.success_status = config.success_status() == 0 ? 200 : config.success_status();
  if (config.calls().empty()) return Bad(where, "has no calls");
  for (const config::v1::Call& call : config.calls()) {
    FANOUT_ASSIGN_OR_RETURN(CompiledCall compiled, CompileCall(call, where, context));
    route.calls.push_back(std::move(compiled));
  }
  FANOUT_RETURN_IF_ERROR(LinkCalls(route));
  if (!config.respond_with().empty()) {
    for (size_t i = 0; i < route.calls.size(); ++i) {
      if (route.calls[i].name == config.respond_with()) route.respond_with = static_cast<int>(i);
    }
    if (route.respond_with < 0) {
      return Bad(where, absl::StrCat("respond_with \"", config.respond_with(), "\" names no call"));
    }
    if (route.stream) return Bad(where, "respond_with and stream exclude each other");
  }
  return route;
}

absl::StatusOr<std::vector<CompiledRoute>> CompileRoutes(const config::v1::GatewayConfig& config,
                                                         const RouteContext& context) {
  std::vector<CompiledRoute> routes;
  std::set<std::string> rest_keys, grpc_keys;
  for (int i = 0; i < config.routes_size(); ++i) {
    absl::StatusOr<CompiledRoute> route = CompileRoute(config.routes(i), context);
    if (!route.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("gateway.routes[", i, "] ", route.status().message()));
    }
    if (route->path &&
        !rest_keys.insert(absl::StrCat(route->http_method, " ", route->path->text())).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("gateway.routes[", i, "] route \"", route->name,
                       "\": another route has the same method and path"));
    }
    if (!route->grpc_method.empty() && !grpc_keys.insert(route->grpc_method).second) {
      return absl::InvalidArgumentError(absl::StrCat("gateway.routes[", i, "] route \"",
                                                     route->name,
                                                     "\": another route has the same grpc_method"));
    }
    routes.push_back(*std::move(route));
  }
  return routes;
}

CompiledRoute DirectCallRoute(std::string backend, std::string service, std::string method,
                              const MethodDescriptor* descriptor, absl::Duration timeout) {
  CompiledRoute route;
  route.name = absl::StrCat("POST /v1/", service, "/", method);
  // Not the method's name: callers choose it (unknown methods are tried too).
  route.activity = "a direct call (POST /v1/{service}/{method})";
  route.http_method = "POST";
  route.timeout = timeout;
  CompiledCall call;
  call.name = method;
  call.backend = std::move(backend);
  call.method = absl::StrCat("/", service, "/", method);
  call.descriptor = descriptor;
  Source body;
  body.kind = Source::Kind::kBody;
  body.text = "body";
  call.request.push_back({"", std::move(body)});
  call.output = call.name;
  route.calls.push_back(std::move(call));
  route.respond_with = 0;
  return route;
}

}  // namespace fanout::gateway
