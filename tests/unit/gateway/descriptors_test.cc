// DescriptorRegistry without sockets: compiled-in types, descriptor set files
// written by the test, bad files, and lookups racing additions.
#include "gateway/descriptors.h"

#include <gmock/gmock.h>
#include <google/protobuf/timestamp.pb.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "fanout/lab/v1/lab.pb.h"
#include "gateway/gateway_config.h"
#include "node/config/yaml_proto.h"
#include "tests/support/made_up_protos.h"
#include "tests/support/status_matchers.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using google::protobuf::FileDescriptorProto;
using google::protobuf::FileDescriptorSet;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kGetWidget[] = "/test.made.v1.Widgets/GetWidget";

// A FileDescriptorSet file in the test's temp dir, as protoc
// --include_imports would write it; removed when the test binary exits.
std::string WriteFile(const std::string& name, const std::string& bytes) {
  struct Written {
    ~Written() {
      for (const std::string& path : paths) std::remove(path.c_str());
    }
    std::vector<std::string> paths;
  };
  static Written written;
  // The pid: the plain and sanitizer builds' runs may share the temp dir.
  std::string path =
      absl::StrCat(::testing::TempDir(), "/descriptors_test_", ::getpid(), "_", name);
  std::ofstream(path, std::ios::binary) << bytes;
  written.paths.push_back(path);
  return path;
}

std::string WriteSet(const std::string& name, const std::vector<FileDescriptorProto>& files) {
  FileDescriptorSet set;
  for (const auto& file : files) *set.add_file() = file;
  return WriteFile(name, set.SerializeAsString());
}

FileDescriptorProto TimestampFile() {
  FileDescriptorProto file;
  google::protobuf::Timestamp::descriptor()->file()->CopyTo(&file);
  return file;
}

TEST(DescriptorRegistryTest, CompiledInTypesAreFoundByEitherPathForm) {
  lab::v1::EchoRequest::descriptor();  // Linked in.
  DescriptorRegistry registry;
  const auto* echo = registry.FindMethod("/fanout.lab.v1.Lab/Echo");
  ASSERT_NE(echo, nullptr);
  EXPECT_EQ(echo, registry.FindMethod("fanout.lab.v1.Lab/Echo"));
  EXPECT_EQ(echo->input_type(), lab::v1::EchoRequest::descriptor());
  EXPECT_EQ(registry.FindService("fanout.lab.v1.Lab"), echo->service());
  // The generated class, not a dynamic stand-in.
  std::unique_ptr<google::protobuf::Message> request = registry.NewMessage(echo->input_type());
  EXPECT_NE(dynamic_cast<lab::v1::EchoRequest*>(request.get()), nullptr);
}

TEST(DescriptorRegistryTest, UnknownOrMalformedNamesFindNothing) {
  DescriptorRegistry registry;
  EXPECT_EQ(registry.FindMethod("/fanout.lab.v1.Lab/NoSuchMethod"), nullptr);
  EXPECT_EQ(registry.FindMethod("/no.Such/Method"), nullptr);
  for (const char* bad : {"", "/", "fanout.lab.v1.Lab", "fanout.lab.v1.Lab/", "/Echo"}) {
    EXPECT_EQ(registry.FindMethod(bad), nullptr) << bad;
  }
  EXPECT_EQ(registry.FindService("no.Such"), nullptr);
  EXPECT_EQ(registry.NewMessage(nullptr), nullptr);
}

TEST(DescriptorRegistryTest, DescriptorSetFileAddsAMadeUpService) {
  DescriptorRegistry registry;
  EXPECT_EQ(registry.FindMethod(kGetWidget), nullptr);
  // protoc --include_imports also writes the compiled-in import: skipped.
  std::string path = WriteSet(
      "widgets.pb", {TimestampFile(), testing::MadeUpCommonFile(), testing::MadeUpWidgetsFile()});
  ASSERT_THAT(registry.AddDescriptorSetFile(path), IsOk());

  const auto* method = registry.FindMethod(kGetWidget);
  ASSERT_NE(method, nullptr);
  EXPECT_EQ(method->input_type()->full_name(), "test.made.v1.GetWidgetRequest");
  EXPECT_EQ(registry.FindService(testing::kMadeUpService), method->service());
  EXPECT_TRUE(registry.HasFile(testing::kMadeUpCommonFile));

  // A DynamicMessage that works like any message: set, serialize, parse.
  std::unique_ptr<google::protobuf::Message> widget = registry.NewMessage(method->output_type());
  ASSERT_NE(widget, nullptr);
  EXPECT_EQ(widget->GetDescriptor(), method->output_type());
  EXPECT_EQ(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(method->output_type()),
      nullptr);
  const auto* reflection = widget->GetReflection();
  const auto* descriptor = widget->GetDescriptor();
  reflection->SetString(widget.get(), descriptor->FindFieldByName("name"), "sprocket");
  google::protobuf::Message* made_at =
      reflection->MutableMessage(widget.get(), descriptor->FindFieldByName("made_at"));
  // The compiled-in import's type is its generated class even inside a dynamic message.
  auto* timestamp = dynamic_cast<google::protobuf::Timestamp*>(made_at);
  ASSERT_NE(timestamp, nullptr);
  timestamp->set_seconds(42);

  std::unique_ptr<google::protobuf::Message> copy = registry.NewMessage(method->output_type());
  ASSERT_TRUE(copy->ParseFromString(widget->SerializeAsString()));
  EXPECT_EQ(copy->ShortDebugString(), widget->ShortDebugString());
  EXPECT_THAT(copy->ShortDebugString(), HasSubstr("sprocket"));
}

// A route calling a service fanoutd was not compiled with is refused, naming
// the key; listed in descriptor_sets, it checks (and is typed) like any.
// proves: gateway.descriptor_sets
TEST(DescriptorRegistryTest, DescriptorSetsLetRoutesCallServicesNotCompiledIn) {
  std::string path = WriteSet(
      "routes.pb", {TimestampFile(), testing::MadeUpCommonFile(), testing::MadeUpWidgetsFile()});
  const std::string route =
      "routes: [{name: w, path: /w, calls: [{name: w, backend: widgets, method: "
      "test.made.v1.Widgets/GetWidget}]}]\n";
  config::v1::GatewayConfig config;
  ASSERT_THAT(YamlTextToMessage(route, "test", &config), IsOk());
  EXPECT_THAT(CheckGatewayConfig(config, {"widgets"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not in descriptor_sets")));
  config::v1::GatewayConfig with_sets;
  ASSERT_THAT(YamlTextToMessage(absl::StrCat(route, "descriptor_sets: [\"", path, "\"]\n"), "test",
                                &with_sets),
              IsOk());
  EXPECT_THAT(CheckGatewayConfig(with_sets, {"widgets"}), IsOk());
}

TEST(DescriptorRegistryTest, FilesMayComeInAnyOrderAndTwice) {
  DescriptorRegistry registry;
  std::vector<FileDescriptorProto> reversed = {testing::MadeUpWidgetsFile(),
                                               testing::MadeUpCommonFile()};
  ASSERT_THAT(registry.AddFiles(reversed), IsOk());
  EXPECT_NE(registry.FindMethod(kGetWidget), nullptr);
  EXPECT_THAT(registry.AddFiles(reversed), IsOk());
}

TEST(DescriptorRegistryTest, BadFilesAreNamed) {
  DescriptorRegistry registry;
  std::string missing = absl::StrCat(::testing::TempDir(), "/no_such_descriptor_set.pb");
  EXPECT_THAT(registry.AddDescriptorSetFile(missing),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(missing)));

  std::string garbage = WriteFile("garbage.pb", "\xff\xff\xff not a descriptor set");
  EXPECT_THAT(registry.AddDescriptorSetFile(garbage),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(garbage), HasSubstr("FileDescriptorSet"))));

  // Without --include_imports: the import is missing.
  std::string no_imports = WriteSet("no_imports.pb", {testing::MadeUpWidgetsFile()});
  EXPECT_THAT(registry.AddDescriptorSetFile(no_imports),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(no_imports), HasSubstr(testing::kMadeUpWidgetsFile),
                             HasSubstr(testing::kMadeUpCommonFile))));

  FileDescriptorProto broken = testing::MadeUpCommonFile();
  broken.mutable_message_type(0)->mutable_field(0)->set_type_name(".test.made.v1.Nowhere");
  broken.mutable_message_type(0)->mutable_field(0)->set_type(
      google::protobuf::FieldDescriptorProto::TYPE_MESSAGE);
  std::string broken_path = WriteSet("broken.pb", {broken});
  EXPECT_THAT(registry.AddDescriptorSetFile(broken_path),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(broken_path), HasSubstr(testing::kMadeUpCommonFile),
                             HasSubstr("Nowhere"))));
  EXPECT_EQ(registry.FindMethod(kGetWidget), nullptr);
}

TEST(DescriptorRegistryTest, LookupsFromOtherThreadsWhileFilesAreAdded) {
  DescriptorRegistry registry;
  std::atomic<bool> done{false};
  std::atomic<int> found{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!done.load()) {
        if (registry.FindMethod("/fanout.lab.v1.Lab/Echo") == nullptr) std::abort();
        if (const auto* m = registry.FindMethod(kGetWidget)) {
          found.fetch_add(1);
          registry.NewMessage(m->input_type());
        }
      }
    });
  }
  // Many files of distinct names, each defining its own package.
  for (int i = 0; i < 50; ++i) {
    FileDescriptorProto common = testing::MadeUpCommonFile();
    common.set_name(absl::StrCat("race/", i, "/common.proto"));
    common.set_package(absl::StrCat("race", i));
    ASSERT_THAT(registry.AddFiles({common}), IsOk());
  }
  ASSERT_THAT(registry.AddFiles(testing::MadeUpFiles()), IsOk());
  while (found.load() == 0) std::this_thread::yield();
  done = true;
  for (auto& reader : readers) reader.join();
  EXPECT_TRUE(registry.HasFile("race/49/common.proto"));
}

}  // namespace
}  // namespace fanout::gateway
