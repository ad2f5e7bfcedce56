#include "node/telemetry/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "node/telemetry/prometheus_text.h"

namespace fanout::metrics {
namespace {

// A programming error: the metric's definition or use is wrong.
[[noreturn]] void Die(std::string_view name, std::string_view what) {
  std::string line = "fanout: metric \"";
  line.append(name).append("\": ").append(what).append("\n");
  std::fputs(line.c_str(), stderr);
  std::abort();
}

// Hashes a tuple of label values the same way whatever holds the strings.
template <typename Range>
struct HashedLabelValues {
  const Range& values;
  template <typename H>
  friend H AbslHashValue(H h, const HashedLabelValues& v) {
    for (const auto& value : v.values)
      h = H::combine(std::move(h), absl::string_view(value.data(), value.size()));
    return H::combine(std::move(h), v.values.size());
  }
};

template <typename Range>
size_t HashLabelValues(const Range& values) {
  return absl::Hash<HashedLabelValues<Range>>{}(HashedLabelValues<Range>{values});
}

void CheckNames(std::string_view name, const std::vector<std::string>& label_names) {
  if (!prometheus::IsValidMetricName(name)) Die(name, "not a valid Prometheus metric name");
  for (const std::string& label : label_names) {
    if (!prometheus::IsValidLabelName(label)) {
      Die(name, absl::StrCat("label \"", label, "\" is not a valid Prometheus label name"));
    }
  }
  std::vector<std::string> sorted = label_names;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    Die(name, "a label name appears twice");
  }
}

void CheckBuckets(std::string_view name, const std::vector<double>& buckets) {
  if (buckets.empty()) Die(name, "a histogram needs at least one bucket");
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (!std::isfinite(buckets[i])) Die(name, "bucket bounds must be finite (+Inf is implied)");
    if (i > 0 && buckets[i] <= buckets[i - 1]) {
      Die(name, "bucket bounds must be strictly increasing");
    }
  }
}

// The children of a family, sorted by label values, for a stable output.
template <typename Map>
std::vector<
    std::pair<const std::vector<std::string>*, const typename Map::mapped_type::element_type*>>
SortedChildren(const Map& children) {
  std::vector<
      std::pair<const std::vector<std::string>*, const typename Map::mapped_type::element_type*>>
      sorted;
  sorted.reserve(children.size());
  for (const auto& [values, metric] : children) sorted.emplace_back(&values, metric.get());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return *a.first < *b.first; });
  return sorted;
}

void RenderChild(std::string* out, const internal::FamilyBase& family,
                 const std::vector<std::string>& values, const Counter& counter) {
  prometheus::AppendSample(out, family.name(), family.label_names(), values,
                           static_cast<double>(counter.value()));
}

void RenderChild(std::string* out, const internal::FamilyBase& family,
                 const std::vector<std::string>& values, const Gauge& gauge) {
  prometheus::AppendSample(out, family.name(), family.label_names(), values, gauge.value());
}

void RenderChild(std::string* out, const internal::FamilyBase& family,
                 const std::vector<std::string>& values, const Histogram& histogram) {
  const std::string bucket = absl::StrCat(family.name(), "_bucket");
  const std::vector<double>& bounds = histogram.bounds();
  // One read per bucket; _count is their total, so +Inf == _count holds.
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds.size(); ++i) {
    cumulative += histogram.bucket_count(i);
    std::string le = i < bounds.size() ? prometheus::FormatValue(bounds[i]) : "+Inf";
    prometheus::AppendSample(out, bucket, family.label_names(), values,
                             static_cast<double>(cumulative), "le", le);
  }
  prometheus::AppendSample(out, absl::StrCat(family.name(), "_sum"), family.label_names(), values,
                           histogram.sum());
  prometheus::AppendSample(out, absl::StrCat(family.name(), "_count"), family.label_names(), values,
                           static_cast<double>(cumulative));
}

}  // namespace

std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::string_view TypeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// --- Histogram -------------------------------------------------------------

Histogram::Histogram(std::shared_ptr<const std::vector<double>> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_->size() + 1)) {}

void Histogram::Observe(double v) {
  // The first bound >= v is v's bucket; past the last (or NaN) it is +Inf.
  const std::vector<double>& bounds = *bounds_;
  size_t i =
      std::isnan(v)
          ? bounds.size()
          : static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

uint64_t Histogram::count() const {
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) total += bucket_count(i);
  return total;
}

// --- Family ----------------------------------------------------------------

namespace internal {

void FamilyBase::CheckLabelCount(size_t count) const {
  if (count != label_names_.size()) {
    Die(name_, absl::StrCat("expects ", label_names_.size(), " label value(s) (",
                            absl::StrJoin(label_names_, ", "), "), got ", count));
  }
}

size_t LabelValuesHash::operator()(const std::vector<std::string>& values) const {
  return HashLabelValues(values);
}
size_t LabelValuesHash::operator()(absl::Span<const std::string_view> values) const {
  return HashLabelValues(values);
}

}  // namespace internal

namespace {
template <typename Metric>
constexpr Type TypeOf() {
  if constexpr (std::is_same_v<Metric, Counter>) return Type::kCounter;
  if constexpr (std::is_same_v<Metric, Gauge>) return Type::kGauge;
  return Type::kHistogram;
}
}  // namespace

template <typename Metric>
Family<Metric>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                       std::shared_ptr<const std::vector<double>> bounds)
    : FamilyBase(std::move(name), std::move(help), TypeOf<Metric>(), std::move(label_names)),
      bounds_(std::move(bounds)) {
  // Without labels the one child exists from the start: rendered as 0.
  if (this->label_names().empty()) Insert({});
}

template <typename Metric>
Metric& Family<Metric>::Insert(absl::Span<const std::string_view> label_values) {
  std::unique_lock lock(mu_);
  auto it = children_.find(label_values);  // Another thread may have been first.
  if (it != children_.end()) return *it->second;
  std::unique_ptr<Metric> child;
  if constexpr (std::is_same_v<Metric, Histogram>) {
    child = std::make_unique<Histogram>(bounds_);
  } else {
    child = std::make_unique<Metric>();
  }
  Metric& metric = *child;
  children_.emplace(std::vector<std::string>(label_values.begin(), label_values.end()),
                    std::move(child));
  return metric;
}

template <typename Metric>
void Family<Metric>::Render(std::string* out) const {
  prometheus::AppendHeader(out, name(), help(), TypeName(type()));
  std::shared_lock lock(mu_);
  for (const auto& [values, metric] : SortedChildren(children_)) {
    RenderChild(out, *this, *values, *metric);
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// --- Callbacks -------------------------------------------------------------

// A family whose samples come from callbacks. Its callbacks are guarded by
// the registry's lock (every caller holds it).
class Registry::CallbackFamily final : public internal::FamilyBase {
 public:
  using FamilyBase::FamilyBase;
  bool is_callback() const override { return true; }

  void Add(uint64_t id, std::function<std::vector<Sample>()> read) {
    callbacks_.emplace(id, std::move(read));
  }
  void Remove(uint64_t id) { callbacks_.erase(id); }

  void Render(std::string* out) const override {
    prometheus::AppendHeader(out, name(), help(), TypeName(type()));
    // Sorted by label values; equal ones from several callbacks add up.
    std::map<std::vector<std::string>, double> series;
    for (const auto& [id, read] : callbacks_) {
      for (Sample& sample : read()) {
        CheckLabelCount(sample.label_values.size());
        series[std::move(sample.label_values)] += sample.value;
      }
    }
    for (const auto& [values, value] : series) {
      prometheus::AppendSample(out, name(), label_names(), values, value);
    }
  }

 private:
  std::map<uint64_t, std::function<std::vector<Sample>()>> callbacks_;
};

CallbackHandle::CallbackHandle(CallbackHandle&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)),
      family_(std::exchange(other.family_, nullptr)),
      id_(std::exchange(other.id_, 0)) {}

CallbackHandle& CallbackHandle::operator=(CallbackHandle&& other) noexcept {
  if (this != &other) {
    Reset();
    registry_ = std::exchange(other.registry_, nullptr);
    family_ = std::exchange(other.family_, nullptr);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void CallbackHandle::Reset() {
  if (registry_ == nullptr) return;
  std::exchange(registry_, nullptr)->RemoveCallback(family_, id_);
  family_ = nullptr;
}

// --- Registry --------------------------------------------------------------

Registry::~Registry() = default;

internal::FamilyBase& Registry::FindOrAdd(
    const std::string& name, Type type, bool is_callback,
    const std::vector<std::string>& label_names,
    const std::function<std::unique_ptr<internal::FamilyBase>()>& make) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    CheckNames(name, label_names);
    it = families_.emplace(name, make()).first;
    return *it->second;
  }
  internal::FamilyBase& existing = *it->second;
  if (existing.type() != type || existing.is_callback() != is_callback) {
    Die(name, absl::StrCat("already registered as a ", existing.is_callback() ? "callback " : "",
                           std::string(TypeName(existing.type())), ", now wanted as a ",
                           is_callback ? "callback " : "", std::string(TypeName(type))));
  }
  if (existing.label_names() != label_names) {
    Die(name, absl::StrCat("already registered with labels (",
                           absl::StrJoin(existing.label_names(), ", "), "), now wanted with (",
                           absl::StrJoin(label_names, ", "), ")"));
  }
  return existing;
}

Family<Counter>& Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
  MutexLock lock(&mu_);
  return static_cast<Family<Counter>&>(FindOrAdd(name, Type::kCounter, false, label_names, [&]() {
    return std::make_unique<Family<Counter>>(name, std::move(help), label_names);
  }));
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  MutexLock lock(&mu_);
  return static_cast<Family<Gauge>&>(FindOrAdd(name, Type::kGauge, false, label_names, [&]() {
    return std::make_unique<Family<Gauge>>(name, std::move(help), label_names);
  }));
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> buckets) {
  CheckBuckets(name, buckets);
  for (const std::string& label : label_names) {
    if (label == "le") Die(name, "\"le\" is reserved for histogram buckets");
  }
  MutexLock lock(&mu_);
  auto& family =
      static_cast<Family<Histogram>&>(FindOrAdd(name, Type::kHistogram, false, label_names, [&]() {
        return std::make_unique<Family<Histogram>>(
            name, std::move(help), label_names,
            std::make_shared<const std::vector<double>>(buckets));
      }));
  if (*family.bounds() != buckets) Die(name, "already registered with other buckets");
  return family;
}

CallbackHandle Registry::AddCallback(std::string name, std::string help, Type type,
                                     std::vector<std::string> label_names,
                                     std::function<std::vector<Sample>()> read) {
  if (type == Type::kHistogram) Die(name, "a callback reports counters or gauges, not histograms");
  MutexLock lock(&mu_);
  auto& family = static_cast<CallbackFamily&>(FindOrAdd(name, type, true, label_names, [&]() {
    return std::make_unique<CallbackFamily>(name, std::move(help), type, label_names);
  }));
  uint64_t id = next_callback_id_++;
  family.Add(id, std::move(read));
  return CallbackHandle(this, &family, id);
}

void Registry::RemoveCallback(internal::FamilyBase* family, uint64_t id) {
  MutexLock lock(&mu_);  // Waits for a Render that may be calling it.
  static_cast<CallbackFamily*>(family)->Remove(id);
}

std::string Registry::Render() const {
  std::string out;
  MutexLock lock(&mu_);
  for (const auto& [name, family] : families_) family->Render(&out);
  return out;
}

Registry& DefaultRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

}  // namespace fanout::metrics
