#include <utility>

#include "absl/strings/ascii.h"
#include "node/base/log.h"
#include "node/http/http_server.h"
#include "node/http/http_wire.h"

namespace fanout {

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; same && i < key.size(); ++i) {
      same = absl::ascii_tolower(static_cast<unsigned char>(key[i])) ==
             absl::ascii_tolower(static_cast<unsigned char>(name[i]));
    }
    if (same) return value;
  }
  return "";
}

HttpExchange::HttpExchange(HttpRequest request, HttpResponseSink sink)
    : request_(std::move(request)), sink_(std::move(sink)) {}

HttpExchange::~HttpExchange() {
  MutexLock lock(&mu_);
  if (gone_ || written_) return;
  if (phase_ == Phase::kAwaiting) {
    FANOUT_LOG(WARNING) << "HTTP handler dropped " << request_.method << " " << request_.path
                        << " without answering; sending 500";
    HttpResponse response =
        http_internal::JsonError(500, "the server dropped this request without answering it");
    Answered(response);
    Emit({.kind = HttpResponseEvent::Kind::kReply, .response = std::move(response)});
  } else if (phase_ == Phase::kStreaming) {
    Answered(stream_head_);
    Emit({.kind = HttpResponseEvent::Kind::kAbort});
  }
}

void HttpExchange::OnAnswered(std::function<void(const HttpResponse& head)> fn) {
  MutexLock lock(&mu_);
  on_answered_.push_back(std::move(fn));
}

void HttpExchange::Answered(const HttpResponse& head) {
  for (auto& fn : std::exchange(on_answered_, {})) fn(head);
}

void HttpExchange::Emit(HttpResponseEvent event) {
  // Nobody is listening any more; the connection would discard it anyway.
  if (gone_ || !sink_) return;
  sink_(std::move(event));
}

void HttpExchange::AddResponseHeaders(
    const std::vector<std::pair<std::string, std::string>>& headers) {
  MutexLock lock(&mu_);
  extra_headers_.insert(extra_headers_.end(), headers.begin(), headers.end());
}

void HttpExchange::Reply(HttpResponse response) {
  MutexLock lock(&mu_);
  if (phase_ != Phase::kAwaiting) return;
  phase_ = Phase::kAnswered;
  response.headers.insert(response.headers.end(), extra_headers_.begin(), extra_headers_.end());
  Answered(response);
  Emit({.kind = HttpResponseEvent::Kind::kReply, .response = std::move(response)});
}

void HttpExchange::StartStream(HttpResponse head) {
  MutexLock lock(&mu_);
  if (phase_ != Phase::kAwaiting) return;
  phase_ = Phase::kStreaming;
  head.body.clear();
  head.headers.insert(head.headers.end(), extra_headers_.begin(), extra_headers_.end());
  if (!on_answered_.empty()) stream_head_ = head;
  Emit({.kind = HttpResponseEvent::Kind::kStreamStart, .response = std::move(head)});
}

void HttpExchange::Write(std::string chunk) {
  // An empty chunk would read as the end of a chunked body.
  if (chunk.empty()) return;
  MutexLock lock(&mu_);
  if (phase_ != Phase::kStreaming) return;
  Emit({.kind = HttpResponseEvent::Kind::kChunk, .chunk = std::move(chunk)});
}

void HttpExchange::End() {
  MutexLock lock(&mu_);
  if (phase_ != Phase::kStreaming) return;
  phase_ = Phase::kAnswered;
  Answered(stream_head_);
  Emit({.kind = HttpResponseEvent::Kind::kStreamEnd});
}

void HttpExchange::OnClientGone(std::function<void()> fn) {
  {
    MutexLock lock(&mu_);
    if (written_) return;
    if (!gone_) {
      on_gone_.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

bool HttpExchange::client_gone() const {
  MutexLock lock(&mu_);
  return gone_;
}

void HttpExchange::MarkClientGone() {
  std::vector<std::function<void()>> callbacks;
  {
    MutexLock lock(&mu_);
    if (gone_ || written_) return;
    gone_ = true;
    callbacks.swap(on_gone_);
  }
  // Outside the lock: a callback may well answer the exchange.
  for (auto& fn : callbacks) fn();
}

void HttpExchange::MarkResponseWritten() {
  std::vector<std::function<void()>> unused;
  MutexLock lock(&mu_);
  if (gone_) return;
  written_ = true;
  unused.swap(on_gone_);  // released after the lock: captures may be heavy
}

}  // namespace fanout
