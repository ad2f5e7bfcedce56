// The gRPC front door. Every method no registered service has arrives here
// as a generic call: methods bound to a route (Route.grpc_method) and
// Gateway/Aggregate run the route; anything else is proxied to the backend
// that serves its service.
#include "absl/strings/str_cat.h"
#include "fanout/gateway/v1/gateway.pb.h"
#include "gateway/descriptors.h"
#include "gateway/gateway.h"
#include "gateway/grpc_proxy.h"
#include "gateway/http_status.h"
#include "node/async/with_deadline.h"
#include "node/rpc/byte_buffer.h"

namespace fanout::gateway {
namespace {

using google::protobuf::Message;

constexpr char kAggregateMethod[] = "/fanout.gateway.v1.Gateway/Aggregate";

std::vector<std::pair<std::string, std::string>> ClientMetadata(GenericCall& call) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, value] : call.context().client_metadata()) {
    out.emplace_back(std::string(key.data(), key.size()), std::string(value.data(), value.size()));
  }
  return out;
}

Value PartsValue(const RouteResult& result) {
  Value parts;
  parts.mutable_list_value();
  for (const PartResult& part : result.parts) {
    Value entry = ObjectValue();
    SetPath(&entry, "name", StringValue(part.name));
    Value code;
    code.set_number_value(static_cast<int>(part.status.code()));
    SetPath(&entry, "code", std::move(code));
    SetPath(&entry, "message", StringValue(std::string(part.status.message())));
    *parts.mutable_list_value()->add_values() = std::move(entry);
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
    for (const PartResult& part : result.parts) {
      if (part.name != route.calls[route.respond_with].name) continue;
      if (part.message && part.message->GetDescriptor() == response->GetDescriptor()) {
        response->CopyFrom(*part.message);
        return absl::OkStatus();
      }
      return ValueToMessage(part.value, response, /*ignore_unknown=*/true);
    }
  }
  Value merged = MergeParts(route, result);
  ErasePath(&merged, "errors");
  SetPath(&merged, "parts", PartsValue(result));
  SetPath(&merged, "completed", BoolValue(result.completed));
  absl::Status filled = ValueToMessage(merged, response, /*ignore_unknown=*/true);
  if (!filled.ok()) {
    return absl::InternalError(absl::StrCat("route \"", route.name, "\": its answer does not fit ",
                                            response->GetTypeName(), ": ", filled.message()));
  }
  return absl::OkStatus();
}

gateway::v1::Part PartMessage(const PartResult& part) {
  gateway::v1::Part out;
  out.set_name(part.name);
  out.mutable_status()->set_name(part.name);
  out.mutable_status()->set_code(static_cast<int>(part.status.code()));
  out.mutable_status()->set_message(std::string(part.status.message()));
  if (part.status.ok()) *out.mutable_value() = part.value;
  return out;
}

}  // namespace

Task<absl::Status> Gateway::ServeGrpc(GenericCall& call) {
  const std::string& method = call.method();
  if (auto it = grpc_routes_.find(method); it != grpc_routes_.end()) {
    co_return co_await ServeGrpcRoute(call, *it->second);
  }
  if (method == kAggregateMethod && !routes_.empty()) {
    co_return co_await ServeGrpcRoute(call, routes_.front());  // The route is named in the request.
  }
  std::string service = method.substr(1, method.rfind('/') - 1);
  std::string backend = BackendFor(service);
  if (backend.empty()) {
    co_return absl::UnimplementedError(
        absl::StrCat("method ", method, ": no backend serves ", service));
  }
  std::optional<AdmissionLimiter::Ticket> ticket = admission_.TryAdmit();
  if (!ticket) co_return absl::UnavailableError("gateway overloaded: retry later");
  const google::protobuf::MethodDescriptor* known = descriptors_->FindMethod(method);
  if (known && !known->client_streaming() && !known->server_streaming()) {
    co_return co_await ProxyUnary(call, *backends_.at(backend));
  }
  ProxyOptions options{.metadata_allowlist = {allowlist_.begin(), allowlist_.end()}};
  co_return co_await ProxyCall(call, backends_.at(backend)->stub(), options);
}

// A unary method the gateway knows: one message each way, through the
// backend's bulkhead and breaker like any routed call (and cheaper than a
// generic stream).
Task<absl::Status> Gateway::ProxyUnary(GenericCall& call, Backend& backend) {
  std::optional<grpc::ByteBuffer> request = co_await call.Read();
  if (!request) co_return absl::InvalidArgumentError("the call carried no request message");
  CallPolicy policy{.metadata = Forwarded(ClientMetadata(call))};
  absl::StatusOr<grpc::ByteBuffer> reply =
      co_await backend.Call(call.method(), *std::move(request), std::move(policy));
  if (!reply.ok()) co_return reply.status();
  co_return co_await call.Write(*reply);
}

Task<absl::Status> Gateway::ServeGrpcRoute(GenericCall& call, const CompiledRoute& route) {
  std::optional<grpc::ByteBuffer> bytes = co_await call.Read();
  if (!bytes) co_return absl::InvalidArgumentError("the call carried no request message");
  bool aggregate = call.method() == kAggregateMethod;
  const CompiledRoute* target = &route;
  RequestInput input;
  const google::protobuf::MethodDescriptor* descriptor =
      descriptors_->FindMethod(call.method().substr(1));
  std::unique_ptr<Message> request = descriptors_->NewMessage(descriptor->input_type());
  if (!FromByteBuffer(*bytes, request.get()).ok()) {
    co_return absl::InvalidArgumentError(
        absl::StrCat("the request is not a ", descriptor->input_type()->full_name()));
  }
  if (aggregate) {
    const auto& typed = static_cast<const gateway::v1::AggregateRequest&>(*request);
    target = nullptr;
    for (const CompiledRoute& r : routes_) {
      if (r.name == typed.route()) target = &r;
    }
    if (target == nullptr) {
      co_return absl::NotFoundError(absl::StrCat("no route named \"", typed.route(), "\""));
    }
    if (target->stream) {
      co_return absl::InvalidArgumentError(
          absl::StrCat("route \"", typed.route(), "\" streams; call its own streaming method"));
    }
    input.path.insert(typed.params().begin(), typed.params().end());
    input.query = input.path;
    if (typed.has_body()) *input.body.mutable_struct_value() = typed.body();
  } else {
    absl::StatusOr<Value> fields = MessageToValue(*request);
    if (!fields.ok()) co_return fields.status();
    input.body = *std::move(fields);
  }
  std::optional<std::vector<AdmissionLimiter::Ticket>> tickets = Admit(*target);
  if (!tickets) {
    co_return absl::UnavailableError(absl::StrCat("gateway overloaded: route \"", target->name,
                                                  "\" is at its limit; retry later"));
  }
  input.headers = ClientMetadata(call);
  input.forward = Forwarded(input.headers);
  TaskContext context = co_await CurrentContext();
  absl::Time deadline = std::min(context.token.deadline(), absl::Now() + target->timeout);

  if (target->stream) {
    PartSink sink = [&](const PartResult& part) -> Task<void> {
      absl::StatusOr<grpc::ByteBuffer> message = ToByteBuffer(PartMessage(part));
      if (message.ok()) (void)co_await call.Write(*message);
    };
    Task<absl::StatusOr<RouteResult>> run =
        WithDeadline(RunRoute(*target, input, env_, sink), deadline);
    absl::StatusOr<RouteResult> result = co_await std::move(run);
    if (!result.ok()) co_return result.status();
    if (!result->status.ok()) co_return result->status;
    gateway::v1::Part end;
    end.set_completed(result->completed);
    call.context().AddTrailingMetadata("x-fanout-completed", result->completed ? "true" : "false");
    absl::StatusOr<grpc::ByteBuffer> last = ToByteBuffer(end);
    if (last.ok()) (void)co_await call.Write(*last);
    co_return absl::OkStatus();
  }

  Task<absl::StatusOr<RouteResult>> run = WithDeadline(RunRoute(*target, input, env_), deadline);
  absl::StatusOr<RouteResult> result = co_await std::move(run);
  if (!result.ok()) co_return result.status();
  if (!result->status.ok()) co_return result->status;
  call.context().AddTrailingMetadata("x-fanout-completed", result->completed ? "true" : "false");
  std::unique_ptr<Message> response = descriptors_->NewMessage(descriptor->output_type());
  if (aggregate) {
    auto& typed = static_cast<gateway::v1::AggregateResponse&>(*response);
    Value merged = MergeParts(*target, *result);
    *typed.mutable_result() = merged.struct_value();
    for (const PartResult& part : result->parts) {
      gateway::v1::PartStatus* status = typed.add_parts();
      status->set_name(part.name);
      status->set_code(static_cast<int>(part.status.code()));
      status->set_message(std::string(part.status.message()));
    }
    typed.set_completed(result->completed);
  } else {
    absl::Status filled = FillResponse(*target, *result, response.get());
    if (!filled.ok()) co_return filled;
  }
  absl::StatusOr<grpc::ByteBuffer> out = ToByteBuffer(*response);
  if (!out.ok()) co_return out.status();
  absl::Status written = co_await call.Write(*out);
  co_return written;
}

}  // namespace fanout::gateway
