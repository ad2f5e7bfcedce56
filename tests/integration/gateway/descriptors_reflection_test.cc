// DescriptorRegistry::LoadFromReflection against real servers: a reflection
// server holding a made-up service the test binary was not compiled with,
// and a server without reflection.
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "fanout/lab/v1/lab.pb.h"
#include "gateway/descriptors.h"
#include "node/rpc/server.h"
#include "tests/support/file_reflection_service.h"
#include "tests/support/made_up_protos.h"
#include "tests/support/status_matchers.h"
#include "tests/support/without_reflection.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::testing::HasSubstr;

class LoadFromReflectionTest : public ::testing::Test {
 protected:
  // gRPC's own reflection serves only the generated pool: the made-up
  // service comes from a generic reflection service instead.
  LoadFromReflectionTest()
      : server_({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1}),
        bare_({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1}),
        reflection_(testing::MadeUpFiles()) {
    server_.builder().SetOption(std::make_unique<testing::WithoutReflection>());
    server_.RegisterGenericService(&generic_);
    EXPECT_THAT(server_.Start(), IsOk());
    server_.ServeGeneric(&generic_, [this](GenericCall& call) { return reflection_.Handle(call); });
    bare_.builder().SetOption(std::make_unique<testing::WithoutReflection>());
    EXPECT_THAT(bare_.Start(), IsOk());
    stub_ = std::make_unique<grpc::GenericStub>(Channel(server_.port()));
    bare_stub_ = std::make_unique<grpc::GenericStub>(Channel(bare_.port()));
  }
  ~LoadFromReflectionTest() override {
    bare_.Shutdown(absl::Seconds(1));
    server_.Shutdown(absl::Seconds(1));
  }

  static std::shared_ptr<grpc::Channel> Channel(int port) {
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                               grpc::InsecureChannelCredentials());
  }
  absl::Status Load(grpc::GenericStub* stub, std::string service) {
    return BlockOn(server_.loops().At(0), registry_.LoadFromReflection(stub, std::move(service)));
  }

  Server server_;
  Server bare_;
  grpc::AsyncGenericService generic_;
  testing::FileReflectionService reflection_;
  std::unique_ptr<grpc::GenericStub> stub_;
  std::unique_ptr<grpc::GenericStub> bare_stub_;
  DescriptorRegistry registry_;
};

TEST_F(LoadFromReflectionTest, LoadsAServiceAndItsImports) {
  ASSERT_EQ(registry_.FindService(testing::kMadeUpService), nullptr);
  ASSERT_THAT(Load(stub_.get(), testing::kMadeUpService), IsOk());
  const auto* method = registry_.FindMethod("/test.made.v1.Widgets/GetWidget");
  ASSERT_NE(method, nullptr);
  EXPECT_EQ(method->output_type()->full_name(), "test.made.v1.Widget");
  std::unique_ptr<google::protobuf::Message> widget = registry_.NewMessage(method->output_type());
  ASSERT_NE(widget, nullptr);
  EXPECT_EQ(widget->GetDescriptor(), method->output_type());
  // The compiled-in import (timestamp.proto) was not asked for.
  EXPECT_THAT(reflection_.files_asked(), ::testing::ElementsAre(testing::kMadeUpCommonFile));
  // Loaded once: a second load asks nothing.
  ASSERT_THAT(Load(stub_.get(), testing::kMadeUpService), IsOk());
  EXPECT_EQ(reflection_.files_asked().size(), 1u);
}

TEST_F(LoadFromReflectionTest, UnknownServiceIsNotFoundAndNamed) {
  EXPECT_THAT(Load(stub_.get(), "test.made.v1.Gadgets"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("test.made.v1.Gadgets")));
  // A symbol that is there but is no service.
  EXPECT_THAT(Load(stub_.get(), "test.made.v1.Widget"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("not define it as a service")));
}

TEST_F(LoadFromReflectionTest, ServerWithoutReflectionIsUnimplemented) {
  EXPECT_THAT(Load(bare_stub_.get(), testing::kMadeUpService),
              StatusIs(absl::StatusCode::kUnimplemented, HasSubstr(testing::kMadeUpService)));
}

TEST_F(LoadFromReflectionTest, CompiledInServicesNeedNoServer) {
  lab::v1::EchoRequest::descriptor();  // Linked in.
  // Answered from the generated pool: the server (which has no reflection) is never asked.
  EXPECT_THAT(Load(bare_stub_.get(), "fanout.lab.v1.Lab"), IsOk());
}

}  // namespace
}  // namespace fanout::gateway
