// Catalogue: items with feature vectors, and the scoring of all of them
// against a user's taste (the sum of the vectors of what they ordered).
// Scoring is real CPU work (items × dimensions multiply-adds and a partial
// sort): run it through Offload.
//
// Thread-safe after construction (read-only).
#pragma once

#include <string>
#include <vector>

#include "fanout/recommendations/v1/recommendations.pb.h"

namespace fanout::recommendations {

class Catalogue {
 public:
  static constexpr int kDimensions = 64;

  // `size` synthetic items named "item-0" ..., with deterministic features.
  explicit Catalogue(int size);

  // A vector for any item name, catalogued or not (what users ordered).
  static std::vector<float> Features(const std::string& item);

  // The `limit` best items by cosine similarity to `taste`, excluding
  // `exclude` (what was already ordered).
  std::vector<v1::Recommendation> Score(const std::vector<float>& taste, int limit,
                                        const std::vector<std::string>& exclude) const;

  int size() const { return static_cast<int>(names_.size()); }

 private:
  std::vector<std::string> names_;
  std::vector<float> features_;  // size() × kDimensions, normalised rows.
};

}  // namespace fanout::recommendations
