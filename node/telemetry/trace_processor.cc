#include "node/telemetry/trace_processor.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "node/base/log.h"
#include "node/base/this_thread.h"

namespace fanout::trace::internal {
namespace {

// One warning per this interval at most: a collector that is down fails
// every export, and one line says so as well as a thousand.
constexpr absl::Duration kWarningInterval = absl::Seconds(10);
constexpr char kScopeName[] = "fanout";

}  // namespace

SpanProcessor::SpanProcessor(Options options, std::shared_ptr<SpanExporter> exporter,
                             ResourceProto default_resource)
    : options_(options), exporter_(std::move(exporter)) {
  AddResource(std::move(default_resource));
  thread_ = std::thread([this] {
    NameThisThread("trace-export");
    Run();
  });
}

SpanProcessor::~SpanProcessor() { Shutdown(); }

int SpanProcessor::AddResource(ResourceProto resource) {
  MutexLock lock(&resources_mu_);
  resources_.push_back(std::move(resource));
  int count = static_cast<int>(resources_.size());
  resource_count_.store(count, std::memory_order_release);
  return count - 1;
}

void SpanProcessor::Submit(int resource, std::unique_ptr<SpanProto> span) {
  bool batch_full = false;
  {
    MutexLock lock(&mu_);
    if (stopping_ || queue_.size() >= options_.max_queue_spans) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;  // `span` is freed after the lock is released
    }
    queue_.push_back({resource, std::move(span)});
    batch_full = queue_.size() == options_.max_batch_spans;
  }
  if (batch_full) work_cv_.Signal();
}

void SpanProcessor::ForceFlush() {
  MutexLock lock(&mu_);
  if (stopping_) return;
  uint64_t seq = ++flush_requested_;
  work_cv_.Signal();
  absl::Time deadline = absl::Now() + options_.export_timeout;
  while (flush_done_ < seq && absl::Now() < deadline) flush_cv_.WaitWithDeadline(&mu_, deadline);
}

void SpanProcessor::Shutdown() {
  MutexLock shutdown_lock(&shutdown_mu_);
  {
    MutexLock lock(&mu_);
    if (!stopping_) shutdown_deadline_ = absl::Now() + options_.export_timeout;
    stopping_ = true;
  }
  work_cv_.Signal();
  if (thread_.joinable()) thread_.join();
}

SpanProcessor::Counts SpanProcessor::counts() const {
  Counts counts;
  {
    // Read before the counters: an export adds to them before it leaves
    // in_export_, so a span is never missing from all four.
    MutexLock lock(&mu_);
    counts.queued = static_cast<int64_t>(queue_.size() + in_export_);
  }
  counts.exported = exported_.load(std::memory_order_relaxed);
  counts.dropped = dropped_.load(std::memory_order_relaxed);
  counts.export_failures = export_failures_.load(std::memory_order_relaxed);
  return counts;
}

void SpanProcessor::Run() {
  absl::Time next_flush = absl::Now() + options_.flush_interval;
  while (true) {
    Wake wake = WaitForWork(next_flush);
    if (wake.stop) break;
    ExportQueued(wake.spans);
    FinishFlush(wake.flush_seq);
    next_flush = absl::Now() + options_.flush_interval;
  }
  // Shutting down: Submit drops from now on, so the queue only shrinks. What
  // is in it gets until the shutdown deadline; the rest is dropped.
  size_t remaining = 0;
  {
    MutexLock lock(&mu_);
    remaining = queue_.size();
  }
  ExportQueued(remaining);
  std::deque<QueuedSpan> left;
  {
    MutexLock lock(&mu_);
    dropped_.fetch_add(static_cast<int64_t>(queue_.size()), std::memory_order_relaxed);
    left.swap(queue_);
    flush_done_ = flush_requested_;
  }
  flush_cv_.SignalAll();
}

SpanProcessor::Wake SpanProcessor::WaitForWork(absl::Time next_flush) {
  MutexLock lock(&mu_);
  while (!stopping_ && flush_requested_ == flush_done_ &&
         queue_.size() < options_.max_batch_spans && absl::Now() < next_flush) {
    work_cv_.WaitWithDeadline(&mu_, next_flush);
  }
  return Wake{.stop = stopping_, .flush_seq = flush_requested_, .spans = queue_.size()};
}

void SpanProcessor::ExportQueued(size_t count) {
  while (count > 0) {
    absl::Time now = absl::Now();
    absl::Time deadline = std::min(ShutdownDeadline(), now + options_.export_timeout);
    if (now >= deadline) return;
    std::vector<QueuedSpan> batch = TakeBatch(std::min(count, options_.max_batch_spans));
    if (batch.empty()) return;
    count -= batch.size();
    ExportBatch(std::move(batch), deadline);
  }
}

absl::Time SpanProcessor::ShutdownDeadline() const {
  MutexLock lock(&mu_);
  return shutdown_deadline_;
}

std::vector<SpanProcessor::QueuedSpan> SpanProcessor::TakeBatch(size_t max) {
  std::vector<QueuedSpan> batch;
  MutexLock lock(&mu_);
  size_t n = std::min(max, queue_.size());
  batch.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  in_export_ += n;
  return batch;
}

void SpanProcessor::ExportBatch(std::vector<QueuedSpan> batch, absl::Time deadline) {
  const size_t n = batch.size();
  ExportTraceServiceRequest request = BuildRequest(std::move(batch));
  absl::StatusOr<int64_t> rejected = exporter_->Export(request, deadline);
  if (rejected.ok()) {
    int64_t r = std::clamp<int64_t>(*rejected, 0, static_cast<int64_t>(n));
    exported_.fetch_add(static_cast<int64_t>(n) - r, std::memory_order_relaxed);
    dropped_.fetch_add(r, std::memory_order_relaxed);
  } else {
    CountFailure(rejected.status(), n);
  }
  MutexLock lock(&mu_);
  in_export_ -= n;
}

ExportTraceServiceRequest SpanProcessor::BuildRequest(std::vector<QueuedSpan> batch) const {
  ExportTraceServiceRequest request;
  MutexLock lock(&resources_mu_);
  // One ResourceSpans per resource present, each with one ScopeSpans.
  std::vector<opentelemetry::proto::trace::v1::ScopeSpans*> scopes(resources_.size(), nullptr);
  for (QueuedSpan& queued : batch) {
    size_t r = static_cast<size_t>(queued.resource);
    if (r >= resources_.size()) r = 0;
    if (scopes[r] == nullptr) {
      auto* resource_spans = request.add_resource_spans();
      *resource_spans->mutable_resource() = resources_[r];
      scopes[r] = resource_spans->add_scope_spans();
      scopes[r]->mutable_scope()->set_name(kScopeName);
    }
    scopes[r]->mutable_spans()->AddAllocated(queued.span.release());
  }
  return request;
}

void SpanProcessor::CountFailure(const absl::Status& status, size_t spans) {
  export_failures_.fetch_add(1, std::memory_order_relaxed);
  dropped_.fetch_add(static_cast<int64_t>(spans), std::memory_order_relaxed);
  ++failures_since_warning_;
  absl::Time now = absl::Now();
  if (now - last_warning_ < kWarningInterval) return;
  FANOUT_LOG(WARNING) << "trace export to " << exporter_->Describe() << " failed: " << status
                      << "; dropped " << spans << " spans"
                      << (failures_since_warning_ > 1
                              ? absl::StrCat(" (", failures_since_warning_,
                                             " failed exports since the last warning)")
                              : "");
  last_warning_ = now;
  failures_since_warning_ = 0;
}

void SpanProcessor::FinishFlush(uint64_t flush_seq) {
  {
    MutexLock lock(&mu_);
    flush_done_ = std::max(flush_done_, flush_seq);
  }
  flush_cv_.SignalAll();
}

}  // namespace fanout::trace::internal
