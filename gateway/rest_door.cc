#include "gateway/rest_door.h"

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gateway/descriptors.h"
#include "gateway/gateway_config.h"
#include "gateway/http_status.h"
#include "gateway/message_json.h"
#include "gateway/route_compile.h"
#include "gateway/route_match.h"
#include "gateway/timeout_header.h"
#include "node/async/offload.h"
#include "node/async/with_deadline.h"
#include "node/base/status_macros.h"
#include "node/config/tls_config.h"
#include "node/http/http_server.h"
#include "node/http/http_telemetry.h"
#include "node/rpc/client.h"
#include "node/telemetry/trace.h"

namespace fanout::gateway {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// %XX and (in queries) '+' decoded; false on a broken escape.
bool PercentDecode(absl::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexDigit(in[i + 1]);
      int lo = HexDigit(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (plus_is_space && in[i] == '+') {
      out->push_back(' ');
    } else {
      out->push_back(in[i]);
    }
  }
  return true;
}

absl::StatusOr<std::map<std::string, std::string>> ParseQuery(absl::string_view query) {
  std::map<std::string, std::string> out;
  for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    std::string key, value;
    if (!PercentDecode(kv.first, true, &key) || !PercentDecode(kv.second, true, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("query parameter \"", kv.first, "\": broken %-escape"));
    }
    out.emplace(std::move(key), std::move(value));  // The first of repeated keys wins.
  }
  return out;
}

HttpResponse ErrorResponse(const absl::Status& status) {
  HttpResponse response{.status = HttpStatusFromCode(status.code()), .body = ErrorJson(status)};
  if (status.code() == absl::StatusCode::kUnavailable)
    response.headers.emplace_back("Retry-After", "1");
  return response;
}

// Caller-gone cancellation: the I/O thread posts, the loop cancels while
// the request still runs (`source` is reset, on the loop, when it ends).
struct CallerWatch {
  std::optional<CancellationSource> source;
};

std::string PartLine(const PartResult& part) {
  Value line = ObjectValue();
  SetPath(&line, "part", StringValue(part.name));
  if (part.status.ok()) {
    SetPath(&line, "value", part.value());
  } else {
    SetPath(&line, "error", PartErrorValue(part));
  }
  return ToJson(line);
}

std::string Frame(bool sse, absl::string_view event, absl::string_view json) {
  return sse ? absl::StrCat("event: ", event, "\ndata: ", json, "\n\n") : absl::StrCat(json, "\n");
}

// The answer of a non-streaming route.
HttpResponse RouteResponse(const CompiledRoute& route, const absl::StatusOr<RouteResult>& result) {
  if (!result.ok()) return ErrorResponse(result.status());
  if (!result->status.ok()) return ErrorResponse(result->status);
  HttpResponse response{.status = route.success_status};
  response.headers.emplace_back("X-Fanout-Completed", result->completed ? "true" : "false");
  if (route.respond_with >= 0) {
    const CompiledCall& call = route.calls[route.respond_with];
    // The answering part succeeded: a failed one failed the request.
    const PartResult& part = *result->Find(call.name);
    if (!call.Reshapes() && part.message) {
      absl::Status written = AppendMessageJson(*part.message, &response.body);
      if (!written.ok()) {
        return ErrorResponse(absl::InternalError(absl::StrCat(
            "part \"", part.name, "\": answer not convertible to JSON: ", written.message())));
      }
    } else {
      AppendJson(part.value(), &response.body);
    }
  } else if (absl::Status written = AppendMergedJson(route, *result, &response.body);
             !written.ok()) {
    return ErrorResponse(written);
  }
  response.body += "\n";
  return response;
}

}  // namespace

// A request past routing and admission, on its way to a loop.
struct RestDoor::Admitted {
  std::shared_ptr<HttpExchange> exchange;
  std::shared_ptr<const CompiledRoute> route;
  std::map<std::string, std::string> params;
  absl::Duration timeout;
  std::shared_ptr<trace::Span> span;  // The request's server span; null untraced.
  std::optional<Identity> identity;   // The verified caller, when the route read one.
};

absl::StatusOr<RestDoor::Options> RestDoor::OptionsFromConfig(
    const config::v1::GatewayConfig& config) {
  Options options;
  HttpServer::Options& http = options.http;
  http.address = config.rest_address();
  if (config.http_threads() > 0) http.threads = config.http_threads();
  if (config.max_body_bytes() > 0) http.max_body_bytes = config.max_body_bytes();
  if (config.max_headers() > 0) http.max_headers = config.max_headers();
  if (config.max_header_bytes() > 0) http.max_header_bytes = config.max_header_bytes();
  if (config.read_timeout_ms() > 0) {
    http.read_timeout = absl::Milliseconds(config.read_timeout_ms());
  }
  if (config.idle_timeout_ms() > 0) {
    http.idle_timeout = absl::Milliseconds(config.idle_timeout_ms());
  }
  http.max_requests_per_connection = config.max_requests_per_connection();
  if (config.max_connections() > 0) http.max_connections = config.max_connections();
  http.tls = TlsOptionsFromConfig(config.rest_tls());
  FANOUT_ASSIGN_OR_RETURN(options.cors, CorsPolicy::FromConfig(config.cors(), "gateway.cors"));
  options.body_limits = BodyLimits(config.json());
  if (config.json().offload_bytes() > 0) options.offload_bytes = config.json().offload_bytes();
  return options;
}

RestDoor::RestDoor(GatewayState& state, Options options)
    : state_(state), options_(std::move(options)) {}

RestDoor::~RestDoor() { Stop(); }

absl::Status RestDoor::Start(LoopGroup& loops) {
  loops_ = &loops;
  if (trace::Tracer* tracer = trace::GlobalTracer()) {
    trace_resource_ = tracer->ResourceOfGrpcService("fanout.gateway.v1.Gateway");
  }
  // One thread and a short queue: large bodies are rare, and a flood of
  // them is refused (RESOURCE_EXHAUSTED) rather than queued without bound.
  parse_pool_ = std::make_unique<OffloadPool>(
      OffloadPool::Options{.threads = 1, .queue_capacity = 64, .name = "gateway-json"});
  http_ = std::make_unique<HttpServer>(
      options_.http,
      [this](std::shared_ptr<HttpExchange> exchange) { Handle(std::move(exchange)); });
  return http_->Start();
}

void RestDoor::BeginDrain() {
  if (http_) http_->BeginDrain();
}

bool RestDoor::AwaitDrained(absl::Time deadline) {
  return http_ == nullptr || http_->AwaitIdle(deadline);
}

void RestDoor::Stop() {
  if (!http_) return;
  // Answers of requests cancelled as the loops stopped (503) are on their way.
  http_->AwaitIdle(absl::Now() + absl::Seconds(1));
  http_->Stop();
}

int RestDoor::port() const { return http_ ? http_->port() : 0; }

void RestDoor::Handle(std::shared_ptr<HttpExchange> exchange) {
  const HttpRequest& request = exchange->request();
  auto telemetry = std::make_shared<HttpRequestTelemetry>(request, trace_resource_);
  exchange->OnAnswered([telemetry](const HttpResponse& head) { telemetry->End(head); });
  std::string_view origin = request.Header("origin");
  if (!origin.empty() && request.method == "OPTIONS" &&
      !request.Header("access-control-request-method").empty() && AnswerPreflight(*exchange)) {
    return;
  }
  RouteMatch match = MatchRoute(state_.routes(), request.method, request.path);
  // A browser may read the answer (errors too) when the policy allows its
  // origin: the route's own, else the gateway's.
  const CorsPolicy* cors = CorsFor(match.route);
  if (cors != nullptr && !origin.empty()) exchange->AddResponseHeaders(cors->ForResponse(origin));
  std::shared_ptr<const CompiledRoute> route;
  if (match.route) {
    route = std::shared_ptr<const CompiledRoute>(std::shared_ptr<void>(), match.route);
  } else if (match.allowed.empty()) {
    absl::Status why =
        absl::NotFoundError(absl::StrCat("no route for ", request.method, " ", request.path));
    if (request.method == "POST") route = DirectRoute(request.path, &why);
    if (!route) return exchange->Reply(ErrorResponse(why));
  } else {
    if (absl::c_linear_search(match.allowed, "GET")) match.allowed.push_back("HEAD");
    HttpResponse response = ErrorResponse(absl::InvalidArgumentError(
        absl::StrCat(request.method, " is not allowed on ", request.path,
                     "; allowed: ", absl::StrJoin(match.allowed, ", "))));
    response.status = 405;
    response.headers.emplace_back("Allow", absl::StrJoin(match.allowed, ", "));
    return exchange->Reply(std::move(response));
  }
  telemetry->SetRoute(route->name);
  if (state_.rate_limits().Applies(route->rate_limit)) {
    CallerRateLimits::Headers rate_headers;
    std::string_view forwarded = request.Header("x-forwarded-for");
    absl::Status allowed = state_.CheckRateLimits(
        route.get(), request.peer, absl::string_view(forwarded.data(), forwarded.size()),
        &rate_headers);
    exchange->AddResponseHeaders(rate_headers);
    if (!allowed.ok()) return exchange->Reply(ErrorResponse(allowed));
  }
  // Credentials before admission: a refused caller takes no slot and
  // reaches no backend.
  std::string_view authorization = request.Header("authorization");
  std::string_view api_key = request.Header(state_.auth().api_key_header());
  std::string challenge;
  absl::StatusOr<std::optional<Identity>> identity = state_.Authenticate(
      route->auth, absl::string_view(authorization.data(), authorization.size()),
      absl::string_view(api_key.data(), api_key.size()), &challenge);
  if (!identity.ok()) {
    HttpResponse response = ErrorResponse(identity.status());
    if (!challenge.empty()) response.headers.emplace_back("WWW-Authenticate", std::move(challenge));
    return exchange->Reply(std::move(response));
  }
  absl::Duration timeout = route->timeout;
  for (const char* header : {"request-timeout", "grpc-timeout"}) {
    std::string value(request.Header(header));
    if (value.empty()) continue;
    absl::StatusOr<absl::Duration> asked = ParseTimeoutHeader(header, value);
    if (!asked.ok()) return exchange->Reply(ErrorResponse(asked.status()));
    timeout = std::min(timeout, *asked);
  }
  std::optional<std::vector<AdmissionLimiter::Ticket>> tickets = state_.Admit(*route);
  if (!tickets) {
    GatewayState::NoteShed(telemetry->span().get(), route->name);
    return exchange->Reply(ErrorResponse(
        absl::UnavailableError(absl::StrCat("gateway overloaded: route \"", route->name,
                                            "\" or the gateway is at its in-flight limit; "
                                            "retry later"))));
  }
  // The in-flight slots go back as the answer is sent, before the caller can
  // see it (its next request must not be shed by this one), however the
  // exchange ends.
  auto held = std::make_shared<std::vector<AdmissionLimiter::Ticket>>(*std::move(tickets));
  exchange->OnAnswered([held](const HttpResponse&) { held->clear(); });
  EventLoop& loop = loops_->At(
      static_cast<int>(next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_->size()));
  Admitted rest{.exchange = exchange,
                .route = std::move(route),
                .params = std::move(match.params),
                .timeout = timeout,
                .span = telemetry->span(),
                .identity = *std::move(identity)};
  bool spawned = Spawn(loop, Serve(std::move(rest)), "REST request");
  if (!spawned) exchange->Reply(ErrorResponse(absl::UnavailableError("the gateway is stopping")));
}

bool RestDoor::AnswerPreflight(HttpExchange& exchange) {
  const HttpRequest& request = exchange.request();
  std::string asked(request.Header("access-control-request-method"));
  RouteMatch match = MatchRoute(state_.routes(), asked, request.path);
  const CorsPolicy* policy = CorsFor(match.route);
  if (policy == nullptr) return false;
  // The methods the path has: its routes', or POST for a direct call.
  std::vector<std::string> methods = MatchRoute(state_.routes(), "OPTIONS", request.path).allowed;
  if (methods.empty() && absl::StartsWith(request.path, "/v1/")) methods.push_back("POST");
  if (absl::c_linear_search(methods, "GET")) methods.push_back("HEAD");
  absl::StatusOr<CorsPolicy::Headers> allowed = policy->Preflight(
      request.Header("origin"), asked, request.Header("access-control-request-headers"), methods);
  if (!allowed.ok()) {
    exchange.Reply(ErrorResponse(allowed.status()));
  } else {
    exchange.Reply(HttpResponse{.status = 204, .content_type = "", .headers = *std::move(allowed)});
  }
  return true;
}

Task<absl::Status> RestDoor::Serve(Admitted rest) {
  const std::shared_ptr<HttpExchange>& exchange = rest.exchange;
  const std::shared_ptr<const CompiledRoute>& route = rest.route;
  const HttpRequest& request = exchange->request();
  if (EventLoop* loop = EventLoop::Current()) loop->NoteActivity(route->activity);
  RequestInput input;
  for (auto& [name, raw] : rest.params) {
    if (!PercentDecode(raw, false, &input.path[name])) {
      exchange->Reply(ErrorResponse(absl::InvalidArgumentError(
          absl::StrCat("path parameter \"", name, "\": broken %-escape in \"", raw, "\""))));
      co_return absl::OkStatus();
    }
  }
  absl::StatusOr<std::map<std::string, std::string>> query = ParseQuery(request.query);
  if (!query.ok()) {
    exchange->Reply(ErrorResponse(query.status()));
    co_return absl::OkStatus();
  }
  input.query = *std::move(query);
  input.headers = request.headers;
  input.forward = state_.Forwarded(request.headers, /*hops=*/0, rest.identity);
  for (const auto& [name, value] : input.forward) {
    if (absl::Status sendable = CheckMetadata(name, value); !sendable.ok()) {
      exchange->Reply(ErrorResponse(absl::InvalidArgumentError(
          absl::StrCat("header ", sendable.message(), " (it is forwarded to the backends)"))));
      co_return absl::OkStatus();
    }
  }
  if (!absl::StripAsciiWhitespace(request.body).empty()) {
    // Parsing is linear and bounded, but a large body still takes
    // milliseconds: those are parsed off the loop.
    absl::StatusOr<Value> body;
    if (static_cast<int64_t>(request.body.size()) > options_.offload_bytes) {
      auto parse = [&] { return ParseJson(request.body, options_.body_limits); };
      body = co_await Offload(*parse_pool_, std::move(parse));
    } else {
      body = ParseJson(request.body, options_.body_limits);
    }
    if (!body.ok() && body.status().code() != absl::StatusCode::kInvalidArgument) {
      exchange->Reply(ErrorResponse(body.status()));  // The parse thread is busy.
      co_return absl::OkStatus();
    }
    if (!body.ok()) {
      exchange->Reply(ErrorResponse(absl::InvalidArgumentError(
          absl::StrCat("body is not valid JSON: ", body.status().message()))));
      co_return absl::OkStatus();
    }
    input.body = *std::move(body);
  }

  TaskContext context = co_await CurrentContext();
  absl::Time deadline = absl::Now() + rest.timeout;
  auto watch = std::make_shared<CallerWatch>();
  watch->source.emplace(context.token, deadline);
  EventLoop* loop = context.loop;
  exchange->OnClientGone([loop, watch] {
    loop->Post([watch] {
      if (watch->source) watch->source->Cancel(absl::CancelledError("the caller went away"));
    });
  });
  TaskContext watched{loop, watch->source->token(), rest.span};
  if (route->stream) {
    Task<void> stream = Stream(*exchange, *route, input);
    co_await std::move(stream).WithContext(watched);
  } else {
    Task<absl::StatusOr<RouteResult>> run =
        WithDeadline(RunRoute(*route, input, state_.env()), deadline);
    absl::StatusOr<RouteResult> result = co_await std::move(run).WithContext(watched);
    loop->NoteActivity(route->activity);
    exchange->Reply(RouteResponse(*route, result));
  }
  watch->source.reset();
  co_return absl::OkStatus();
}

Task<void> RestDoor::Stream(HttpExchange& exchange, const CompiledRoute& route,
                            const RequestInput& input) {
  bool sse =
      absl::StrContains(std::string(exchange.request().Header("accept")), "text/event-stream");
  HttpResponse head{.status = 200,
                    .content_type = sse ? "text/event-stream" : "application/x-ndjson"};
  head.headers.emplace_back("Cache-Control", "no-cache");
  exchange.StartStream(std::move(head));
  PartSink sink = [&](const PartResult& part) -> Task<void> {
    exchange.Write(Frame(sse, "part", PartLine(part)));
    co_return;
  };
  TaskContext context = co_await CurrentContext();
  Task<absl::StatusOr<RouteResult>> run =
      WithDeadline(RunRoute(route, input, state_.env(), sink), context.token.deadline());
  absl::StatusOr<RouteResult> result = co_await std::move(run);
  Value end = ObjectValue();
  Value completed;
  completed.set_bool_value(result.ok() && result->status.ok() && result->completed);
  SetPath(&end, "completed", std::move(completed));
  absl::Status failed = result.ok() ? result->status : result.status();
  if (!failed.ok()) {
    PartResult whole{.name = route.name, .status = failed};
    SetPath(&end, "error", PartErrorValue(whole));
  }
  exchange.Write(Frame(sse, "end", ToJson(end)));
  exchange.End();
}

std::shared_ptr<const CompiledRoute> RestDoor::DirectRoute(absl::string_view path,
                                                           absl::Status* why) {
  {
    MutexLock lock(&direct_mu_);
    if (auto it = direct_.find(std::string(path)); it != direct_.end()) return it->second;
  }
  std::vector<absl::string_view> segments = absl::StrSplit(path, '/');
  // "", "v1", service, method
  if (segments.size() != 4 || segments[1] != "v1" || !absl::StrContains(segments[2], '.')) {
    return nullptr;
  }
  std::string service(segments[2]), method(segments[3]);
  std::string backend = state_.BackendFor(service);
  if (backend.empty()) {
    *why = absl::NotFoundError(absl::StrCat("no backend serves gRPC service \"", service,
                                            "\" (gateway.services, backends.*.services)"));
    return nullptr;
  }
  const google::protobuf::MethodDescriptor* descriptor =
      state_.descriptors().FindMethod(absl::StrCat(service, "/", method));
  if (descriptor == nullptr && !state_.config().use_reflection()) {
    *why = absl::NotFoundError(absl::StrCat("service \"", service, "\" has no method \"", method,
                                            "\" the gateway knows of"));
    return nullptr;
  }
  if (descriptor && (descriptor->client_streaming() || descriptor->server_streaming())) {
    *why = absl::InvalidArgumentError(
        absl::StrCat(service, "/", method,
                     " is a streaming method; POST /v1/{service}/{method} calls unary ones"));
    return nullptr;
  }
  auto route = std::make_shared<const CompiledRoute>(
      DirectCallRoute(backend, service, method, descriptor, state_.default_timeout()));
  // Known methods are cached (as many as the descriptors hold); unknown ones
  // are made per request, so made-up names cannot grow the cache.
  if (descriptor) {
    MutexLock lock(&direct_mu_);
    direct_.emplace(std::string(path), route);
  }
  return route;
}

}  // namespace fanout::gateway
