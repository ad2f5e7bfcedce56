// The server-reflection client against gRPC's own reflection service (a
// Server serving Lab with the reflection plugin), a server without one, and
// a minimal reflection server that sends no imports unasked.
#include "node/rpc/reflection_client.h"

#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fanout/gateway/v1/gateway.pb.h"
#include "fanout/lab/v1/lab.grpc.pb.h"
#include "node/rpc/server.h"
#include "services/lab/lab_service.h"
#include "tests/support/file_reflection_service.h"
#include "tests/support/made_up_protos.h"
#include "tests/support/status_matchers.h"
#include "tests/support/without_reflection.h"

namespace fanout {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::IsOkAndHolds;
using ::fanout::testing::StatusIs;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using FileList = std::vector<google::protobuf::FileDescriptorProto>;

// Linking libgrpc++_reflection already registers the plugin for every
// server; saying so keeps the test honest if that changes.
bool EnableReflection() {
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  return true;
}

std::vector<std::string> Names(const FileList& files) {
  std::vector<std::string> names;
  for (const auto& file : files) names.push_back(file.name());
  return names;
}

std::shared_ptr<grpc::Channel> Channel(int port) {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
}

class ReflectionClientTest : public ::testing::Test {
 protected:
  ReflectionClientTest()
      : reflection_enabled_(EnableReflection()),
        server_({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1}),
        bare_({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1}),
        lab_({.name = "lab"}),
        bare_lab_({.name = "bare"}) {
    lab_.Register(server_);
    EXPECT_THAT(server_.Start(), IsOk());
    lab_.Serve(server_);
    bare_.builder().SetOption(std::make_unique<testing::WithoutReflection>());
    bare_lab_.Register(bare_);
    EXPECT_THAT(bare_.Start(), IsOk());
    bare_lab_.Serve(bare_);
    stub_ = std::make_unique<grpc::GenericStub>(Channel(server_.port()));
    bare_stub_ = std::make_unique<grpc::GenericStub>(Channel(bare_.port()));
    // Linked in, so the reflection service can find it.
    fanout::gateway::v1::Dashboard::descriptor();
  }
  ~ReflectionClientTest() override {
    bare_.Shutdown(absl::Seconds(1));
    server_.Shutdown(absl::Seconds(1));
  }

  template <typename T>
  T Run(Task<T> task) {
    return BlockOn(server_.loops().At(0), std::move(task));
  }

  bool reflection_enabled_;
  Server server_;
  Server bare_;
  lab::LabService lab_;
  lab::LabService bare_lab_;
  std::unique_ptr<grpc::GenericStub> stub_;
  std::unique_ptr<grpc::GenericStub> bare_stub_;
};

TEST_F(ReflectionClientTest, ListServicesFindsLab) {
  auto services = Run(ListServices(stub_.get()));
  EXPECT_THAT(services, IsOkAndHolds(Contains("fanout.lab.v1.Lab")));
  EXPECT_THAT(services, IsOkAndHolds(Contains("grpc.reflection.v1alpha.ServerReflection")));
}

TEST_F(ReflectionClientTest, FilesContainingAServiceGivesItsFile) {
  auto files = Run(FilesContainingSymbol(stub_.get(), "fanout.lab.v1.Lab", nullptr));
  ASSERT_THAT(files, IsOk());
  ASSERT_THAT(Names(*files), ElementsAre("fanout/lab/v1/lab.proto"));
  ASSERT_EQ((*files)[0].service_size(), 1);
  EXPECT_EQ((*files)[0].service(0).name(), "Lab");
}

TEST_F(ReflectionClientTest, MethodAndMessageSymbolsWorkToo) {
  EXPECT_THAT(Run(FilesContainingSymbol(stub_.get(), "fanout.lab.v1.Lab.Echo", nullptr)),
              IsOkAndHolds(::testing::SizeIs(1)));
  EXPECT_THAT(Run(FilesContainingSymbol(stub_.get(), "fanout.lab.v1.EchoRequest", nullptr)),
              IsOkAndHolds(::testing::SizeIs(1)));
}

TEST_F(ReflectionClientTest, ImportsComeFirstAndKnownFilesAreLeftOut) {
  auto known = [](const std::string& name) { return absl::StartsWith(name, "google/protobuf/"); };
  auto files = Run(FilesContainingSymbol(stub_.get(), "fanout.gateway.v1.Gateway", known));
  ASSERT_THAT(files, IsOk());
  std::vector<std::string> names = Names(*files);
  ASSERT_EQ(names.size(), 4u) << ::testing::PrintToString(names);
  EXPECT_EQ(names.back(), "fanout/gateway/v1/gateway.proto");
  EXPECT_THAT(names, Contains("fanout/users/v1/users.proto"));
  EXPECT_THAT(names, Contains("fanout/orders/v1/orders.proto"));
  EXPECT_THAT(names, Contains("fanout/recommendations/v1/recommendations.proto"));
  // Without `known`, the well-known import comes too, still before its user.
  auto all = Run(FilesContainingSymbol(stub_.get(), "fanout.gateway.v1.Gateway", nullptr));
  ASSERT_THAT(all, IsOk());
  names = Names(*all);
  auto position = [&](const std::string& name) {
    return std::find(names.begin(), names.end(), name) - names.begin();
  };
  EXPECT_LT(position("google/protobuf/struct.proto"), position("fanout/gateway/v1/gateway.proto"));
  EXPECT_EQ(names.back(), "fanout/gateway/v1/gateway.proto");
}

TEST_F(ReflectionClientTest, UnknownSymbolIsNotFound) {
  EXPECT_THAT(Run(FilesContainingSymbol(stub_.get(), "no.such.Service", nullptr)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no.such.Service")));
}

TEST_F(ReflectionClientTest, ServerWithoutReflectionIsUnimplemented) {
  EXPECT_THAT(Run(ListServices(bare_stub_.get())), StatusIs(absl::StatusCode::kUnimplemented));
  EXPECT_THAT(Run(FilesContainingSymbol(bare_stub_.get(), "fanout.lab.v1.Lab", nullptr)),
              StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("server reflection")));
}

TEST_F(ReflectionClientTest, ImportsTheServerLeftOutAreAskedByName) {
  Server made_up({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1});
  testing::FileReflectionService reflection(
      {testing::MadeUpCommonFile(), testing::MadeUpWidgetsFile(), [] {
         google::protobuf::FileDescriptorProto timestamp;
         google::protobuf::Timestamp::descriptor()->file()->CopyTo(&timestamp);
         return timestamp;
       }()});
  grpc::AsyncGenericService generic;
  made_up.builder().SetOption(std::make_unique<testing::WithoutReflection>());
  made_up.RegisterGenericService(&generic);
  ASSERT_THAT(made_up.Start(), IsOk());
  made_up.ServeGeneric(&generic, [&](GenericCall& call) { return reflection.Handle(call); });
  grpc::GenericStub stub(Channel(made_up.port()));

  auto files = Run(FilesContainingSymbol(&stub, testing::kMadeUpService, nullptr));
  ASSERT_THAT(files, IsOk());
  std::vector<std::string> names = Names(*files);
  ASSERT_EQ(names.size(), 3u) << ::testing::PrintToString(names);
  EXPECT_EQ(names.back(), testing::kMadeUpWidgetsFile);
  EXPECT_THAT(reflection.files_asked(),
              ::testing::UnorderedElementsAre(testing::kMadeUpCommonFile,
                                              "google/protobuf/timestamp.proto"));
  // A known import is not asked for.
  auto known = [](const std::string& name) { return absl::StartsWith(name, "google/protobuf/"); };
  files = Run(FilesContainingSymbol(&stub, testing::kMadeUpService, known));
  EXPECT_THAT(files, IsOkAndHolds(::testing::SizeIs(2)));
  EXPECT_THAT(Names(*files), ElementsAre(testing::kMadeUpCommonFile, testing::kMadeUpWidgetsFile));
  made_up.Shutdown(absl::Seconds(1));
}

}  // namespace
}  // namespace fanout
