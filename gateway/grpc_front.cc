// The gRPC front door. Every method no registered service has arrives here
// as a generic call: methods bound to a route (Route.grpc_method) and
// Gateway/Aggregate run the route; anything else is proxied to the backend
// that serves its service.
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "fanout/gateway/v1/gateway.pb.h"
#include "gateway/descriptors.h"
#include "gateway/gateway.h"
#include "gateway/grpc_proxy.h"
#include "gateway/http_status.h"
#include "gateway/message_json.h"
#include "node/async/with_deadline.h"
#include "node/base/status_macros.h"
#include "node/rpc/byte_buffer.h"

namespace fanout::gateway {
namespace {

using google::protobuf::Message;

constexpr char kAggregateMethod[] = "/fanout.gateway.v1.Gateway/Aggregate";

// Why a unary call's request never came: the client sent none (a bad
// call), or the call broke first (a caller that cancelled; h2load's streams
// when it stops), which is not the caller's mistake to report.
absl::Status NoRequest(const GenericCall& call) {
  if (call.half_closed()) return absl::InvalidArgumentError("the call carried no request message");
  return absl::CancelledError("the call ended before its request message arrived");
}

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

}  // namespace

Task<absl::Status> Gateway::ServeGrpc(GenericCall& call) {
  const std::string& method = call.method();
  FANOUT_CO_RETURN_IF_ERROR(CheckHops(HopsOf(call.context().client_metadata()), method));
  EventLoop* loop = EventLoop::Current();
  auto it = grpc_routes_.find(method);
  const CompiledRoute* route = it == grpc_routes_.end() ? nullptr : it->second;
  static const std::optional<RateLimiter::Limit> kNone;
  const std::optional<RateLimiter::Limit>& route_limit = route ? route->rate_limit : kNone;
  if (rate_limits_->Applies(route_limit)) {
    const auto& metadata = call.context().client_metadata();
    auto forwarded = metadata.find("x-forwarded-for");
    std::string caller = rate_limits_->trusted().Caller(
        AddressOfGrpcPeer(call.context().peer()),
        forwarded == metadata.end()
            ? absl::string_view()
            : absl::string_view(forwarded->second.data(), forwarded->second.size()));
    CallerRateLimits::Headers headers;
    absl::Status allowed =
        rate_limits_->Check(route ? route->name : "", route_limit, caller, &headers);
    if (!allowed.ok()) {
      for (const auto& [name, value] : headers) {
        call.context().AddTrailingMetadata(absl::AsciiStrToLower(name), value);
      }
      co_return allowed;
    }
  }
  if (route != nullptr) {
    if (loop) loop->NoteActivity(route->activity);
    co_return co_await ServeGrpcRoute(call, *route);
  }
  if (loop) loop->NoteActivity("the gateway's gRPC proxy or Aggregate");
  // Aggregate runs a route by name: that route's policy is checked there.
  if (method == kAggregateMethod) co_return co_await ServeAggregate(call);
  absl::StatusOr<std::optional<Identity>> identity = AuthenticateGrpc(call, proxy_auth_);
  if (!identity.ok()) co_return identity.status();
  std::string service = ServiceOf(method);
  if (options_.local_services.contains(service)) {
    co_return absl::UnimplementedError(absl::StrCat("method ", method, ": this node serves ",
                                                    service, ", which has no such method"));
  }
  std::string backend = BackendFor(service);
  if (backend.empty()) {
    co_return absl::UnimplementedError(
        absl::StrCat("method ", method, ": no backend serves ", service));
  }
  const google::protobuf::MethodDescriptor* known = descriptors_->FindMethod(method);
  const bool unary = known && !known->client_streaming() && !known->server_streaming();
  // Streams (and methods of unknown shape) are admitted apart: a stream may
  // sit idle for hours and must not hold a slot unary requests need.
  std::optional<AdmissionLimiter::Ticket> ticket =
      unary ? admission_.TryAdmit() : stream_admission_.TryAdmit();
  if (!ticket) {
    NoteShed((co_await CurrentContext()).span.get(), method);
    co_return absl::UnavailableError(unary ? "gateway overloaded: retry later"
                                           : "gateway at its limit of proxied streams "
                                             "(gateway.max_streams): retry later");
  }
  // The caller's identity rides on a copy of the options; anonymous calls share them.
  const ProxyOptions* options = &proxy_options_;
  ProxyOptions with_identity;
  if (*identity) {
    with_identity = proxy_options_;
    with_identity.added_metadata = IdentityMetadata(**identity);
    options = &with_identity;
  }
  if (unary) {
    co_return co_await ProxyUnary(call, *backends_.at(backend), *std::move(ticket), *options);
  }
  co_return co_await ProxyCall(call, backends_.at(backend)->stub(), *options);
}

absl::StatusOr<std::optional<Identity>> Gateway::AuthenticateGrpc(GenericCall& call,
                                                                  const RouteAuthPolicy& policy) {
  if (auth_->ModeOf(policy) == config::v1::RouteAuth::NONE) return std::nullopt;
  const auto& metadata = call.context().client_metadata();
  auto value = [&](const std::string& key) {
    auto it = metadata.find(grpc::string_ref(key));
    return it == metadata.end() ? absl::string_view()
                                : absl::string_view(it->second.data(), it->second.size());
  };
  absl::StatusOr<std::optional<Identity>> who =
      auth_->Check(policy, value("authorization"), value(auth_->api_key_header()));
  if (std::string challenge = Challenge(who.status()); !challenge.empty()) {
    call.context().AddTrailingMetadata("www-authenticate", challenge);
  }
  return who;
}

// A unary method the gateway knows: one message each way, through the
// backend's bulkhead and breaker like any routed call (and cheaper than a
// generic stream).
Task<absl::Status> Gateway::ProxyUnary(GenericCall& call, Backend& backend,
                                       AdmissionLimiter::Ticket ticket,
                                       const ProxyOptions& options) {
  std::optional<Bytes> request = co_await call.Read();
  if (!request) co_return NoRequest(call);
  ServerMetadata answered;
  CallPolicy policy{.metadata = ForwardedMetadata(call.context().client_metadata(), options),
                    .server_metadata = &answered};
  // A caller that set no deadline gets the gateway's default: a backend
  // that never answers must not hold the call (and its slot) forever.
  if (call.context().deadline() == std::chrono::system_clock::time_point::max()) {
    policy.attempt_timeout = default_timeout();
  }
  absl::StatusOr<Bytes> reply =
      co_await backend.Call(call.method(), *std::move(request), std::move(policy));
  // The backend's own metadata comes back, as through ProxyCall.
  PassBackMetadata(answered.initial, MetadataPart::kInitial, call);
  PassBackMetadata(answered.trailing, MetadataPart::kTrailing, call);
  if (!reply.ok()) co_return reply.status();
  // The slot goes back before the caller can see the answer: its next call
  // must not be shed by this one.
  { AdmissionLimiter::Ticket done = std::move(ticket); }
  if (!co_await call.WriteAndFinish(*reply)) co_return absl::CancelledError("the caller left");
  co_return absl::OkStatus();
}

// A route's own method: the request's fields are the route's parameters.
Task<absl::Status> Gateway::ServeGrpcRoute(GenericCall& call, const CompiledRoute& route) {
  std::optional<Bytes> bytes = co_await call.Read();
  if (!bytes) co_return NoRequest(call);
  const google::protobuf::MethodDescriptor* method = route.grpc_descriptor;
  std::unique_ptr<Message> request = descriptors_->NewMessage(method->input_type());
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
    absl::StatusOr<RouteResult> result = co_await RunGrpcRoute(call, route, std::move(input), sink);
    if (!result.ok()) co_return result.status();
    gateway::v1::Part end;
    end.set_completed(result->completed);
    absl::StatusOr<Bytes> last = ToByteBuffer(end);
    if (last.ok()) (void)co_await call.Write(*last);
    co_return absl::OkStatus();
  }

  absl::StatusOr<RouteResult> result = co_await RunGrpcRoute(call, route, std::move(input));
  if (!result.ok()) co_return result.status();
  std::unique_ptr<Message> response = descriptors_->NewMessage(method->output_type());
  absl::Status filled = FillResponse(route, *result, response.get());
  if (!filled.ok()) co_return filled;
  absl::StatusOr<Bytes> out = ToByteBuffer(*response);
  if (!out.ok()) co_return out.status();
  co_return co_await call.Write(*out);
}

// Gateway/Aggregate: any (non-streaming) route by name, untyped.
Task<absl::Status> Gateway::ServeAggregate(GenericCall& call) {
  std::optional<Bytes> bytes = co_await call.Read();
  if (!bytes) co_return NoRequest(call);
  gateway::v1::AggregateRequest request;
  if (!FromByteBuffer(*bytes, &request).ok()) {
    co_return absl::InvalidArgumentError("the request is not a fanout.gateway.v1.AggregateRequest");
  }
  const CompiledRoute* route = nullptr;
  for (const CompiledRoute& r : routes_) {
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

  absl::StatusOr<RouteResult> result = co_await RunGrpcRoute(call, *route, std::move(input));
  if (!result.ok()) co_return result.status();
  gateway::v1::AggregateResponse response;
  *response.mutable_result() = MergeParts(*route, *result).struct_value();
  for (const PartResult& part : result->parts) *response.add_parts() = PartStatusOf(part);
  response.set_completed(result->completed);
  absl::StatusOr<Bytes> out = ToByteBuffer(response);
  if (!out.ok()) co_return out.status();
  co_return co_await call.Write(*out);
}

// What every route run on the gRPC door shares: admission, the deadline
// (the call's, capped by the route's), forwarded metadata, and the
// completion flag in trailing metadata. A failed required part (or the
// request itself) is the error.
Task<absl::StatusOr<RouteResult>> Gateway::RunGrpcRoute(GenericCall& call,
                                                        const CompiledRoute& route,
                                                        RequestInput input, PartSink sink) {
  // Before admission: a refused caller takes no slot and reaches no backend.
  absl::StatusOr<std::optional<Identity>> identity = AuthenticateGrpc(call, route.auth);
  if (!identity.ok()) co_return identity.status();
  std::optional<std::vector<AdmissionLimiter::Ticket>> tickets = Admit(route);
  if (!tickets) {
    NoteShed((co_await CurrentContext()).span.get(), route.name);
    co_return absl::UnavailableError(absl::StrCat("gateway overloaded: route \"", route.name,
                                                  "\" is at its limit; retry later"));
  }
  input.headers = MetadataPairs(call.context().client_metadata());
  input.forward = Forwarded(input.headers, HopsOf(call.context().client_metadata()), *identity);
  TaskContext context = co_await CurrentContext();
  absl::Time deadline = std::min(context.token.deadline(), absl::Now() + route.timeout);
  Task<absl::StatusOr<RouteResult>> run =
      WithDeadline(RunRoute(route, input, env_, std::move(sink)), deadline);
  absl::StatusOr<RouteResult> result = co_await std::move(run);
  if (!result.ok()) co_return result.status();
  if (!result->status.ok()) co_return result->status;
  call.context().AddTrailingMetadata("x-fanout-completed", result->completed ? "true" : "false");
  co_return result;
}

}  // namespace fanout::gateway
