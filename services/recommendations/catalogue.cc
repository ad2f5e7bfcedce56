#include "services/recommendations/catalogue.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace fanout::recommendations {
namespace {

void Normalise(float* v) {
  float norm = 0;
  for (int d = 0; d < Catalogue::kDimensions; ++d) norm += v[d] * v[d];
  norm = std::sqrt(norm);
  if (norm == 0) return;
  for (int d = 0; d < Catalogue::kDimensions; ++d) v[d] /= norm;
}

}  // namespace

std::vector<float> Catalogue::Features(const std::string& item) {
  // A stable pseudo-random vector per name (splitmix64 over a fixed hash).
  std::vector<float> v(kDimensions);
  uint64_t state = 1469598103934665603ull;
  for (unsigned char c : item) state = (state ^ c) * 1099511628211ull;
  for (int d = 0; d < kDimensions; ++d) {
    state += 0x9e3779b97f4a7c15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    v[d] = static_cast<float>(z % 2001) / 1000.0f - 1.0f;
  }
  Normalise(v.data());
  return v;
}

Catalogue::Catalogue(int size) {
  names_.reserve(size);
  features_.reserve(static_cast<size_t>(size) * kDimensions);
  for (int i = 0; i < size; ++i) {
    names_.push_back(absl::StrCat("item-", i));
    std::vector<float> f = Features(names_.back());
    features_.insert(features_.end(), f.begin(), f.end());
  }
}

std::vector<v1::Recommendation> Catalogue::Score(const std::vector<float>& taste, int limit,
                                                 const std::vector<std::string>& exclude) const {
  std::vector<float> t = taste;
  Normalise(t.data());
  absl::flat_hash_set<std::string> skip(exclude.begin(), exclude.end());
  std::vector<std::pair<float, int>> scored;
  scored.reserve(names_.size());
  for (int i = 0; i < size(); ++i) {
    const float* f = &features_[static_cast<size_t>(i) * kDimensions];
    float dot = std::inner_product(f, f + kDimensions, t.data(), 0.0f);
    scored.emplace_back(dot, i);
  }
  auto better = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  // Only the first `limit` not skipped are read: at most that many and
  // every skipped name before them, not the whole catalogue, are put in order.
  const size_t wanted =
      std::min(scored.size(), static_cast<size_t>(std::max(limit, 0)) + skip.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(wanted),
                    scored.end(), better);
  scored.resize(wanted);
  std::vector<v1::Recommendation> best;
  for (const auto& [score, i] : scored) {
    if (static_cast<int>(best.size()) >= limit) break;
    if (skip.contains(names_[i])) continue;
    v1::Recommendation& r = best.emplace_back();
    r.set_item(names_[i]);
    r.set_score(score);
  }
  return best;
}

}  // namespace fanout::recommendations
