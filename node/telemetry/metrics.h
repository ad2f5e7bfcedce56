// Prometheus metrics: counters, gauges and histograms in a registry that the
// admin port renders at /metrics.
//
//   metrics::Family<metrics::Counter>& calls = metrics::DefaultRegistry().AddCounter(
//       "fanout_rpc_server_handled_total", "RPCs handled, by method and code.",
//       {"method", "code"});
//   calls.With({"/fanout.users.v1.Users/Get", "OK"}).Increment();
//
//   metrics::Histogram& latency = metrics::DefaultRegistry()
//       .AddHistogram("fanout_store_get_seconds", "Time to read one row.")
//       .With({});                  // Children are stable: cache the reference.
//   latency.Observe(0.0042);
//
// State that already lives elsewhere (a queue's depth, free permits) is read
// at scrape time by a callback instead of being mirrored on every change:
//
//   metrics::CallbackHandle handle = registry.AddCallback(
//       "fanout_offload_queue_depth", "Jobs waiting.", metrics::Type::kGauge, {"pool"},
//       [this] { return std::vector<metrics::Sample>{{{name_}, double(queue_depth())}}; });
//
// Conventions: counters end in `_total`, durations are `_seconds`, sizes
// `_bytes`, all in base units; labels have few values (a method, a code, a
// loop), never an id. Misuse (a bad name, the same name with another type or
// other labels, the wrong number of label values) is a programming error: the
// process aborts with a message naming the metric.
//
// Thread-safe, all of it. Counter, Gauge and Histogram updates are lock-free;
// Family::With takes a shared (reader) lock when the child exists.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "node/base/sync.h"

namespace fanout::metrics {

// Histogram buckets in seconds for latencies: 0.5 ms .. 10 s, 14 bounds (+Inf
// makes 15), roughly 1-2.5-5 per decade.
std::vector<double> LatencyBuckets();

// Only goes up. Thread-safe.
class Counter {
 public:
  // `n` >= 0: a counter that goes down is a gauge.
  void Increment(int64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Goes up and down. Thread-safe.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Counts observations into buckets by upper bound (`le`, inclusive). Thread-
// safe and lock-free: an observation is a few relaxed atomic adds.
class Histogram {
 public:
  // `bounds`: strictly increasing and finite; +Inf is implied.
  explicit Histogram(std::shared_ptr<const std::vector<double>> bounds);

  void Observe(double v);

  // The sum of the buckets, so a scrape's _count always equals its +Inf
  // bucket even while observations land.
  uint64_t count() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  const std::vector<double>& bounds() const { return *bounds_; }
  // Observations in bucket `i` alone (not cumulative); i == bounds().size()
  // is the +Inf bucket.
  uint64_t bucket_count(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<const std::vector<double>> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_->size() + 1
  std::atomic<double> sum_{0};
};

enum class Type { kCounter, kGauge, kHistogram };
std::string_view TypeName(Type type);  // "counter", "gauge", "histogram"

namespace internal {

// What the registry knows of a family, whatever its kind. Thread-safe.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, Type type, std::vector<std::string> label_names)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(type),
        label_names_(std::move(label_names)) {}
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  Type type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // False for families fed by callbacks.
  virtual bool is_callback() const { return false; }
  // Appends HELP, TYPE and every sample.
  virtual void Render(std::string* out) const = 0;

 protected:
  // Aborts naming the family when `count` is not the number of label names.
  void CheckLabelCount(size_t count) const;

 private:
  const std::string name_;
  const std::string help_;
  const Type type_;
  const std::vector<std::string> label_names_;
};

// Hash and equality over label-value tuples, whether stored
// (vector<string>) or looked up (a span of string_views), so that finding an
// existing child allocates nothing.
struct LabelValuesHash {
  using is_transparent = void;
  size_t operator()(const std::vector<std::string>& values) const;
  size_t operator()(absl::Span<const std::string_view> values) const;
};
struct LabelValuesEq {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::string_view(a[i]) != std::string_view(b[i])) return false;
    }
    return true;
  }
};

}  // namespace internal

// One metric name with fixed label names, and a child metric per tuple of
// label values, created on first use and kept for the registry's life: the
// reference With returns stays valid, callers may cache it. Thread-safe.
template <typename Metric>
class Family final : public internal::FamilyBase {
 public:
  // Made by Registry. `bounds` only for histograms.
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::shared_ptr<const std::vector<double>> bounds = nullptr);

  // One value per label name, in order (else abort, naming the metric).
  Metric& With(std::initializer_list<std::string_view> label_values) {
    return With(absl::Span<const std::string_view>(label_values.begin(), label_values.size()));
  }
  Metric& With(absl::Span<const std::string_view> label_values);

  const std::shared_ptr<const std::vector<double>>& bounds() const { return bounds_; }
  void Render(std::string* out) const override;

 private:
  Metric& Insert(absl::Span<const std::string_view> label_values);

  const std::shared_ptr<const std::vector<double>> bounds_;
  // Readers (the request path) share the lock; only a new child takes it
  // exclusively. std::shared_mutex rather than absl::Mutex: see node/base/sync.h.
  mutable std::shared_mutex mu_;
  absl::flat_hash_map<std::vector<std::string>, std::unique_ptr<Metric>, internal::LabelValuesHash,
                      internal::LabelValuesEq>
      children_;  // Guarded by mu_.
};

template <typename Metric>
Metric& Family<Metric>::With(absl::Span<const std::string_view> label_values) {
  CheckLabelCount(label_values.size());
  {
    std::shared_lock lock(mu_);
    auto it = children_.find(label_values);
    if (it != children_.end()) return *it->second;
  }
  return Insert(label_values);
}

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

// One series a callback reports: values for the family's labels, in order.
struct Sample {
  std::vector<std::string> label_values;
  double value = 0;
};

class Registry;

// Keeps a callback registered; destroying it (or Reset) unregisters the
// callback and waits for a scrape that is calling it, so what the callback
// reads may be destroyed right after. Must not outlive its registry.
// Movable. Thread-safe.
class CallbackHandle {
 public:
  CallbackHandle() = default;
  ~CallbackHandle() { Reset(); }
  CallbackHandle(CallbackHandle&& other) noexcept;
  CallbackHandle& operator=(CallbackHandle&& other) noexcept;
  CallbackHandle(const CallbackHandle&) = delete;
  CallbackHandle& operator=(const CallbackHandle&) = delete;

  void Reset();
  bool registered() const { return registry_ != nullptr; }

 private:
  friend class Registry;
  CallbackHandle(Registry* registry, internal::FamilyBase* family, uint64_t id)
      : registry_(registry), family_(family), id_(id) {}

  Registry* registry_ = nullptr;
  internal::FamilyBase* family_ = nullptr;
  uint64_t id_ = 0;
};

// A set of metric families, rendered together. Thread-safe.
class Registry {
 public:
  Registry() = default;
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The same name again returns the same family; with another type, other
  // label names (or other buckets) it aborts, naming the metric. Names and
  // label names must follow Prometheus' grammar. A family without labels has
  // its one child from the start, so it is rendered (as 0) before first use.
  Family<Counter>& AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names = {});
  // `buckets`: strictly increasing, finite; `le` is not a valid label name.
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names = {},
                                  std::vector<double> buckets = LatencyBuckets());

  // `read` runs at each Render, on the scraping thread, under the registry's
  // lock: it must be quick, and must not call into this registry. Several
  // callbacks may share a name (same type and label names): their samples are
  // rendered under one HELP/TYPE, and samples with equal label values are
  // added up (two pools both named "db" show their total). `type` is
  // kCounter or kGauge.
  [[nodiscard]] CallbackHandle AddCallback(std::string name, std::string help, Type type,
                                           std::vector<std::string> label_names,
                                           std::function<std::vector<Sample>()> read);

  // Prometheus text format 0.0.4 (prometheus::kContentType), families sorted
  // by name, series sorted by label values.
  std::string Render() const;

 private:
  friend class CallbackHandle;
  class CallbackFamily;

  // The family under `name`, made by `make` when new; aborts when the
  // existing one is of another kind or has other label names.
  internal::FamilyBase& FindOrAdd(
      const std::string& name, Type type, bool is_callback,
      const std::vector<std::string>& label_names,
      const std::function<std::unique_ptr<internal::FamilyBase>()>& make);
  void RemoveCallback(internal::FamilyBase* family, uint64_t id);

  mutable Mutex mu_;
  std::map<std::string, std::unique_ptr<internal::FamilyBase>> families_ ABSL_GUARDED_BY(mu_);
  uint64_t next_callback_id_ ABSL_GUARDED_BY(mu_) = 1;
};

// The process's registry: node internals, services and the gateway record
// into it; the admin server renders it at /metrics. Never destroyed.
Registry& DefaultRegistry();

}  // namespace fanout::metrics
