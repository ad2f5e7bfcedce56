// How two messages differ, NaN equal to NaN: the round-trip check of the
// fuzz targets that print a message and read it back.
//
//   if (std::optional<std::string> diff = MessageDifference(before, after)) Broken(..., *diff);
#pragma once

#include <google/protobuf/message.h>
#include <google/protobuf/util/field_comparator.h>
#include <google/protobuf/util/message_differencer.h>

#include <optional>
#include <string>

namespace fanout::fuzz {

inline std::optional<std::string> MessageDifference(const google::protobuf::Message& a,
                                                    const google::protobuf::Message& b) {
  google::protobuf::util::DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer differencer;
  differencer.set_field_comparator(&comparator);
  std::string diff;
  differencer.ReportDifferencesToString(&diff);
  if (differencer.Compare(a, b)) return std::nullopt;
  return diff;
}

}  // namespace fanout::fuzz
