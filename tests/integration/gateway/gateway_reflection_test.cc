// A backend the gateway was not built with: its types come from the
// backend's server reflection at the first call (gateway.use_reflection),
// so a new backend needs no gateway rebuild.
#include <google/protobuf/dynamic_message.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include "gateway/gateway.h"
#include "node/config/yaml_proto.h"
#include "node/rpc/byte_buffer.h"
#include "node/rpc/reflection_client.h"
#include "tests/support/file_reflection_service.h"
#include "tests/support/http_client.h"
#include "tests/support/made_up_protos.h"
#include "tests/support/status_matchers.h"
#include "tests/support/without_reflection.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::HttpCall;
using ::fanout::testing::IsOk;
using ::testing::HasSubstr;

// Serves test.made.v1.Widgets/GetWidget (a widget named as asked, 5 EUR)
// and reflection over the made-up files, with dynamic messages only.
class WidgetsBackend {
 public:
  WidgetsBackend()
      : pool_(google::protobuf::DescriptorPool::generated_pool()),
        reflection_(testing::MadeUpFiles()) {
    for (const auto& file : testing::MadeUpFiles()) pool_.BuildFile(file);
    server_.builder().SetOption(std::make_unique<testing::WithoutReflection>());
    server_.RegisterGenericService(&generic_);
    EXPECT_THAT(server_.Start(), IsOk());
    server_.ServeGeneric(&generic_, [this](GenericCall& call) { return Handle(call); });
  }
  ~WidgetsBackend() { server_.Shutdown(absl::Seconds(1)); }
  int port() { return server_.port(); }

 private:
  Task<absl::Status> Handle(GenericCall& call) {
    if (call.method() == kServerReflectionMethod) co_return co_await reflection_.Handle(call);
    if (call.method() != "/test.made.v1.Widgets/GetWidget") {
      co_return absl::UnimplementedError(call.method());
    }
    std::optional<Bytes> bytes = co_await call.Read();
    const auto* request_type = pool_.FindMessageTypeByName("test.made.v1.GetWidgetRequest");
    const auto* widget_type = pool_.FindMessageTypeByName("test.made.v1.Widget");
    std::unique_ptr<google::protobuf::Message> request(factory_.GetPrototype(request_type)->New());
    if (!bytes || !FromByteBuffer(*bytes, request.get()).ok()) {
      co_return absl::InvalidArgumentError("not a GetWidgetRequest");
    }
    std::unique_ptr<google::protobuf::Message> widget(factory_.GetPrototype(widget_type)->New());
    const auto* name = request_type->FindFieldByName("name");
    widget->GetReflection()->SetString(widget.get(), widget_type->FindFieldByName("name"),
                                       request->GetReflection()->GetString(*request, name));
    auto* price = widget->GetReflection()->MutableMessage(
        widget.get(), widget_type->FindFieldByName("price"), &factory_);
    price->GetReflection()->SetInt64(price, price->GetDescriptor()->FindFieldByName("units"), 5);
    price->GetReflection()->SetString(price, price->GetDescriptor()->FindFieldByName("currency"),
                                      "EUR");
    absl::StatusOr<Bytes> reply = ToByteBuffer(*widget);
    if (!reply.ok()) co_return reply.status();
    co_return co_await call.Write(*reply);
  }

  google::protobuf::DescriptorPool pool_;
  google::protobuf::DynamicMessageFactory factory_{&pool_};
  Server server_{{.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1}};
  grpc::AsyncGenericService generic_;
  testing::FileReflectionService reflection_;
};

// proves: gateway.use_reflection
TEST(GatewayReflectionTest, RoutesAndDirectCallsToAServiceLearnedByReflection) {
  WidgetsBackend widgets;
  config::v1::GatewayConfig config;
  ASSERT_THAT(YamlTextToMessage(R"yaml(
rest_address: 127.0.0.1:0
use_reflection: true
routes:
  - name: widget
    path: /widgets/{name}
    respond_with: w
    calls:
      - {name: w, backend: widgets, method: test.made.v1.Widgets/GetWidget, request: {name: path.name}}
)yaml",
                                "test", &config),
              IsOk());
  Gateway::Options options{.config = config, .backends = {{"widgets", {}}}};
  std::string target = absl::StrCat("127.0.0.1:", widgets.port());
  options.channel = [target](const std::string&) {
    return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  };
  auto gateway = Gateway::Create(std::move(options));
  ASSERT_THAT(gateway, IsOk());
  Server front({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1});
  (*gateway)->Register(front);
  ASSERT_THAT(front.Start(), IsOk());
  ASSERT_THAT((*gateway)->Start(front), IsOk());
  int port = (*gateway)->rest_port();

  auto routed = HttpCall(port, "GET", "/widgets/gear");
  ASSERT_EQ(routed.status, 200) << routed.body;
  EXPECT_THAT(routed.body, HasSubstr(R"("name":"gear")"));
  EXPECT_THAT(routed.body, HasSubstr(R"("currency":"EUR")"));

  auto direct = HttpCall(port, "POST", "/v1/test.made.v1.Widgets/GetWidget", R"({"name": "cog"})");
  ASSERT_EQ(direct.status, 200) << direct.body;
  EXPECT_THAT(direct.body, HasSubstr(R"("name":"cog")"));

  // The learned types check requests like compiled-in ones.
  auto bad = HttpCall(port, "POST", "/v1/test.made.v1.Widgets/GetWidget", R"({"colour": 1})");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_THAT(bad.body, HasSubstr("colour"));
  (*gateway)->Stop();
  front.Shutdown(absl::Seconds(1));
}

}  // namespace
}  // namespace fanout::gateway
