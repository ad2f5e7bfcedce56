#include "gateway/grpc_door.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "fanout/gateway/v1/gateway.pb.h"
#include "gateway/descriptors.h"
#include "gateway/http_status.h"
#include "gateway/message_json.h"
#include "node/async/with_deadline.h"
#include "node/base/status_macros.h"
#include "node/rpc/byte_buffer.h"

namespace fanout::gateway {
namespace {

using google::protobuf::Message;

gateway::v1::PartStatus PartStatusOf(const PartResult& part) {
  gateway::v1::PartStatus status;
  status.set_name(part.name);
  status.set_code(static_cast<int>(part.status.code()));
  status.set_message(std::string(part.status.message()));
  return status;
}

Value PartsValue(const RouteResult& result) {
  Value parts;
  parts.mutable_list_value();
  for (const PartResult& part : result.parts) {
    // A generated message always converts.
    *parts.mutable_list_value()->add_values() = *MessageToValue(PartStatusOf(part));
  }
  return parts;
}

Value BoolValue(bool b) {
  Value v;
  v.set_bool_value(b);
  return v;
}

// The route's answer as the method's response type.
absl::Status FillResponse(const CompiledRoute& route, const RouteResult& result,
                          Message* response) {
  if (route.respond_with >= 0) {
    const PartResult& part = *result.Find(route.calls[route.respond_with].name);
    if (part.message && part.message->GetDescriptor() == response->GetDescriptor()) {
      response->CopyFrom(*part.message);
      return absl::OkStatus();
    }
    return ValueToMessage(part.value(), response, {.ignore_unknown = true});
  }
  Value merged = MergeParts(route, result);
  ErasePath(&merged, "errors");
  SetPath(&merged, "parts", PartsValue(result));
  SetPath(&merged, "completed", BoolValue(result.completed));
  absl::Status filled = ValueToMessage(merged, response, {.ignore_unknown = true});
  if (!filled.ok()) {
    return absl::InternalError(absl::StrCat("route \"", route.name, "\": its answer does not fit ",
                                            response->GetTypeName(), ": ", filled.message()));
  }
  return absl::OkStatus();
}

gateway::v1::Part PartMessage(const PartResult& part) {
  gateway::v1::Part out;
  out.set_name(part.name);
  *out.mutable_status() = PartStatusOf(part);
  if (part.status.ok()) *out.mutable_value() = part.value();
  return out;
}

// A call refused before any handler: its status, as the task that serves it.
Task<absl::Status> Refused(absl::Status status) { co_return status; }

}  // namespace

GrpcDoor::GrpcDoor(GatewayState& state, ServiceProxy& proxy) : state_(state), proxy_(proxy) {
  for (const CompiledRoute& route : state_.routes()) {
    if (!route.grpc_method.empty()) routes_by_method_[route.grpc_method] = &route;
  }
}

// Not a coroutine: what comes before the choice of handler takes no
// waiting, so the call is served by the chosen task itself (one coroutine
// frame fewer per call than awaiting it from here).
Task<absl::Status> GrpcDoor::Serve(GenericCall& call) {
  const std::string& method = call.method();
  if (absl::Status hops = CheckHops(HopsOf(call.context().client_metadata()), method); !hops.ok()) {
    return Refused(std::move(hops));
  }
  EventLoop* loop = EventLoop::Current();
  auto it = routes_by_method_.find(method);
  const CompiledRoute* route = it == routes_by_method_.end() ? nullptr : it->second;
  if (state_.rate_limits().Applies(route ? route->rate_limit : std::nullopt)) {
    const auto& metadata = call.context().client_metadata();
    auto forwarded = metadata.find("x-forwarded-for");
    CallerRateLimits::Headers headers;
    absl::Status allowed = state_.CheckRateLimits(
        route, AddressOfGrpcPeer(call.context().peer()),
        forwarded == metadata.end()
            ? absl::string_view()
            : absl::string_view(forwarded->second.data(), forwarded->second.size()),
        &headers);
    if (!allowed.ok()) {
      for (const auto& [name, value] : headers) {
        call.context().AddTrailingMetadata(absl::AsciiStrToLower(name), value);
      }
      return Refused(std::move(allowed));
    }
  }
  if (route != nullptr) {
    if (loop) loop->NoteActivity(route->activity);
    return ServeRoute(call, *route);
  }
  if (loop) loop->NoteActivity("the gateway's gRPC proxy or Aggregate");
  // Aggregate runs a route by name: that route's policy is checked there.
  if (method == kAggregateMethod) return ServeAggregate(call);
  absl::StatusOr<std::optional<Identity>> identity = Authenticate(call, proxy_auth_);
  if (!identity.ok()) return Refused(identity.status());
  return proxy_.Serve(call, *std::move(identity));
}

absl::StatusOr<std::optional<Identity>> GrpcDoor::Authenticate(GenericCall& call,
                                                               const RouteAuthPolicy& policy) {
  if (state_.auth().ModeOf(policy) == config::v1::RouteAuth::NONE) return std::nullopt;
  const auto& metadata = call.context().client_metadata();
  auto value = [&](const std::string& key) {
    auto it = metadata.find(grpc::string_ref(key));
    return it == metadata.end() ? absl::string_view()
                                : absl::string_view(it->second.data(), it->second.size());
  };
  std::string challenge;
  absl::StatusOr<std::optional<Identity>> who = state_.Authenticate(
      policy, value("authorization"), value(state_.auth().api_key_header()), &challenge);
  if (!challenge.empty()) call.context().AddTrailingMetadata("www-authenticate", challenge);
  return who;
}

// A route's own method: the request's fields are the route's parameters.
Task<absl::Status> GrpcDoor::ServeRoute(GenericCall& call, const CompiledRoute& route) {
  std::optional<Bytes> bytes = co_await call.Read();
  if (!bytes) co_return NoRequest(call);
  const google::protobuf::MethodDescriptor* method = route.grpc_descriptor;
  std::unique_ptr<Message> request = state_.descriptors().NewMessage(method->input_type());
  if (!FromByteBuffer(*bytes, request.get()).ok()) {
    co_return absl::InvalidArgumentError(
        absl::StrCat("the request is not a ", method->input_type()->full_name()));
  }
  RequestInput input;
  absl::StatusOr<Value> fields = MessageToValue(*request);
  if (!fields.ok()) co_return fields.status();
  input.body = *std::move(fields);

  if (route.stream) {
    PartSink sink = [&](const PartResult& part) -> Task<void> {
      absl::StatusOr<Bytes> message = ToByteBuffer(PartMessage(part));
      if (message.ok()) (void)co_await call.Write(*message);
    };
    absl::StatusOr<RouteResult> result = co_await Run(call, route, std::move(input), sink);
    if (!result.ok()) co_return result.status();
    gateway::v1::Part end;
    end.set_completed(result->completed);
    absl::StatusOr<Bytes> last = ToByteBuffer(end);
    if (last.ok()) (void)co_await call.Write(*last);
    co_return absl::OkStatus();
  }

  absl::StatusOr<RouteResult> result = co_await Run(call, route, std::move(input));
  if (!result.ok()) co_return result.status();
  std::unique_ptr<Message> response = state_.descriptors().NewMessage(method->output_type());
  absl::Status filled = FillResponse(route, *result, response.get());
  if (!filled.ok()) co_return filled;
  absl::StatusOr<Bytes> out = ToByteBuffer(*response);
  if (!out.ok()) co_return out.status();
  co_return co_await call.Write(*out);
}

// Gateway/Aggregate: any (non-streaming) route by name, untyped.
Task<absl::Status> GrpcDoor::ServeAggregate(GenericCall& call) {
  std::optional<Bytes> bytes = co_await call.Read();
  if (!bytes) co_return NoRequest(call);
  gateway::v1::AggregateRequest request;
  if (!FromByteBuffer(*bytes, &request).ok()) {
    co_return absl::InvalidArgumentError("the request is not a fanout.gateway.v1.AggregateRequest");
  }
  const CompiledRoute* route = nullptr;
  for (const CompiledRoute& r : state_.routes()) {
    if (r.name == request.route()) route = &r;
  }
  if (route == nullptr) {
    co_return absl::NotFoundError(absl::StrCat("no route named \"", request.route(), "\""));
  }
  if (route->stream) {
    co_return absl::InvalidArgumentError(
        absl::StrCat("route \"", request.route(), "\" streams; call its own streaming method"));
  }
  RequestInput input;
  input.path.insert(request.params().begin(), request.params().end());
  input.query = input.path;
  if (request.has_body()) *input.body.mutable_struct_value() = request.body();

  absl::StatusOr<RouteResult> result = co_await Run(call, *route, std::move(input));
  if (!result.ok()) co_return result.status();
  gateway::v1::AggregateResponse response;
  *response.mutable_result() = MergeParts(*route, *result).struct_value();
  for (const PartResult& part : result->parts) *response.add_parts() = PartStatusOf(part);
  response.set_completed(result->completed);
  absl::StatusOr<Bytes> out = ToByteBuffer(response);
  if (!out.ok()) co_return out.status();
  co_return co_await call.Write(*out);
}

Task<absl::StatusOr<RouteResult>> GrpcDoor::Run(GenericCall& call, const CompiledRoute& route,
                                                RequestInput input, PartSink sink) {
  // Before admission: a refused caller takes no slot and reaches no backend.
  absl::StatusOr<std::optional<Identity>> identity = Authenticate(call, route.auth);
  if (!identity.ok()) co_return identity.status();
  std::optional<std::vector<AdmissionLimiter::Ticket>> tickets = state_.Admit(route);
  if (!tickets) {
    GatewayState::NoteShed((co_await CurrentContext()).span.get(), route.name);
    co_return absl::UnavailableError(absl::StrCat("gateway overloaded: route \"", route.name,
                                                  "\" is at its limit; retry later"));
  }
  input.headers = MetadataPairs(call.context().client_metadata());
  input.forward =
      state_.Forwarded(input.headers, HopsOf(call.context().client_metadata()), *identity);
  TaskContext context = co_await CurrentContext();
  absl::Time deadline = std::min(context.token.deadline(), absl::Now() + route.timeout);
  Task<absl::StatusOr<RouteResult>> run =
      WithDeadline(RunRoute(route, input, state_.env(), std::move(sink)), deadline);
  absl::StatusOr<RouteResult> result = co_await std::move(run);
  if (!result.ok()) co_return result.status();
  if (!result->status.ok()) co_return result->status;
  call.context().AddTrailingMetadata("x-fanout-completed", result->completed ? "true" : "false");
  co_return result;
}

}  // namespace fanout::gateway
