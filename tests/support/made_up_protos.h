// Two made-up .proto files as FileDescriptorProtos, for tests that need
// types the test binary is not compiled with (descriptor registry, server
// reflection):
//
//   test/made/v1/common.proto   message Money
//   test/made/v1/widgets.proto  imports common.proto and
//                               google/protobuf/timestamp.proto;
//                               service Widgets { rpc GetWidget(GetWidgetRequest) returns (Widget);
//                               }
//
// Thread-safe.
#pragma once

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/timestamp.pb.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace fanout::testing {

inline constexpr char kMadeUpCommonFile[] = "test/made/v1/common.proto";
inline constexpr char kMadeUpWidgetsFile[] = "test/made/v1/widgets.proto";
inline constexpr char kMadeUpService[] = "test.made.v1.Widgets";

inline google::protobuf::FileDescriptorProto ParseFileOrDie(const std::string& text) {
  google::protobuf::FileDescriptorProto file;
  if (!google::protobuf::TextFormat::ParseFromString(text, &file)) {
    std::fputs("made_up_protos.h: bad FileDescriptorProto text\n", stderr);
    std::abort();
  }
  return file;
}

inline google::protobuf::FileDescriptorProto MadeUpCommonFile() {
  return ParseFileOrDie(R"pb(
    name: "test/made/v1/common.proto"
    package: "test.made.v1"
    syntax: "proto3"
    message_type {
      name: "Money"
      field { name: "units" number: 1 type: TYPE_INT64 label: LABEL_OPTIONAL json_name: "units" }
      field {
        name: "currency"
        number: 2
        type: TYPE_STRING
        label: LABEL_OPTIONAL
        json_name: "currency"
      }
    }
  )pb");
}

inline google::protobuf::FileDescriptorProto MadeUpWidgetsFile() {
  // Make sure the import is in the generated pool.
  google::protobuf::Timestamp::descriptor();
  return ParseFileOrDie(R"pb(
    name: "test/made/v1/widgets.proto"
    package: "test.made.v1"
    syntax: "proto3"
    dependency: "test/made/v1/common.proto"
    dependency: "google/protobuf/timestamp.proto"
    message_type {
      name: "Widget"
      field { name: "name" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL json_name: "name" }
      field {
        name: "price"
        number: 2
        type: TYPE_MESSAGE
        label: LABEL_OPTIONAL
        type_name: ".test.made.v1.Money"
        json_name: "price"
      }
      field {
        name: "made_at"
        number: 3
        type: TYPE_MESSAGE
        label: LABEL_OPTIONAL
        type_name: ".google.protobuf.Timestamp"
        json_name: "madeAt"
      }
    }
    message_type {
      name: "GetWidgetRequest"
      field { name: "name" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL json_name: "name" }
    }
    service {
      name: "Widgets"
      method {
        name: "GetWidget"
        input_type: ".test.made.v1.GetWidgetRequest"
        output_type: ".test.made.v1.Widget"
      }
    }
  )pb");
}

// Dependencies first.
inline std::vector<google::protobuf::FileDescriptorProto> MadeUpFiles() {
  return {MadeUpCommonFile(), MadeUpWidgetsFile()};
}

}  // namespace fanout::testing
