// SpanProcessor: the tracer's batch processor. Finished spans wait in a
// bounded queue; one exporter thread takes them out in batches (every
// flush_interval, or as soon as a batch is full), groups them by resource into
// one ExportTraceServiceRequest and hands it to the SpanExporter.
//
// Callers never wait on the collector: Submit takes a lock for a push onto a
// deque and returns; when the queue is full the span is dropped and counted,
// so a collector that is down or slow costs memory up to the queue's capacity
// and nothing else. An internal piece of Tracer (node/telemetry/trace.h).
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "node/base/sync.h"
#include "node/telemetry/trace_exporter.h"
#include "opentelemetry/proto/resource/v1/resource.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"

namespace fanout::trace::internal {

using ResourceProto = opentelemetry::proto::resource::v1::Resource;
using SpanProto = opentelemetry::proto::trace::v1::Span;

class SpanProcessor {
 public:
  struct Options {
    size_t max_queue_spans = 2048;
    size_t max_batch_spans = 512;
    absl::Duration flush_interval = absl::Seconds(1);
    absl::Duration export_timeout = absl::Seconds(5);
  };
  struct Counts {
    int64_t exported = 0;
    int64_t dropped = 0;
    int64_t export_failures = 0;
    int64_t queued = 0;  // in the queue or in an export under way
  };

  // Starts the exporter thread. Resource 0 is `default_resource`.
  SpanProcessor(Options options, std::shared_ptr<SpanExporter> exporter,
                ResourceProto default_resource);
  // Shutdown().
  ~SpanProcessor();
  SpanProcessor(const SpanProcessor&) = delete;
  SpanProcessor& operator=(const SpanProcessor&) = delete;

  // Returns the new resource's index.
  int AddResource(ResourceProto resource);
  int resource_count() const { return resource_count_.load(std::memory_order_acquire); }

  // Queues a finished span, or drops and counts it (queue full, shut down).
  void Submit(int resource, std::unique_ptr<SpanProto> span);
  // Exports what is queued now; returns when done or after export_timeout.
  void ForceFlush();
  // Exports what is queued (bounded by export_timeout), then joins the
  // thread. Spans submitted later are dropped. Idempotent.
  void Shutdown();

  Counts counts() const;

 private:
  struct QueuedSpan {
    int resource;
    std::unique_ptr<SpanProto> span;
  };
  // Why the exporter thread woke up.
  struct Wake {
    bool stop = false;
    uint64_t flush_seq = 0;  // the flush requests this round answers
    size_t spans = 0;        // how many to export this round
  };

  void Run();
  Wake WaitForWork(absl::Time next_flush);
  // Exports `count` queued spans in batches, each export ending by its own
  // timeout or the shutdown deadline, whichever comes first.
  void ExportQueued(size_t count);
  absl::Time ShutdownDeadline() const;
  std::vector<QueuedSpan> TakeBatch(size_t max);
  void ExportBatch(std::vector<QueuedSpan> batch, absl::Time deadline);
  ExportTraceServiceRequest BuildRequest(std::vector<QueuedSpan> batch) const;
  void CountFailure(const absl::Status& status, size_t spans);
  void FinishFlush(uint64_t flush_seq);

  const Options options_;
  const std::shared_ptr<SpanExporter> exporter_;

  mutable Mutex resources_mu_;
  std::vector<ResourceProto> resources_ ABSL_GUARDED_BY(resources_mu_);
  std::atomic<int> resource_count_{0};

  mutable Mutex mu_;
  CondVar work_cv_;   // the exporter thread waits here
  CondVar flush_cv_;  // ForceFlush waits here
  std::deque<QueuedSpan> queue_ ABSL_GUARDED_BY(mu_);
  size_t in_export_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t flush_requested_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t flush_done_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Set by Shutdown: every export, under way or queued, ends by then.
  absl::Time shutdown_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();

  std::atomic<int64_t> exported_{0};
  std::atomic<int64_t> dropped_{0};
  std::atomic<int64_t> export_failures_{0};

  // Exporter thread only: rate-limits the failure warning.
  absl::Time last_warning_ = absl::InfinitePast();
  int64_t failures_since_warning_ = 0;

  Mutex shutdown_mu_;   // one Shutdown joins; the others wait for it
  std::thread thread_;  // last: starts after everything above exists
};

}  // namespace fanout::trace::internal
