// Authentication at both gateway doors against a real backend on
// 127.0.0.1:0 that counts its calls and tells what metadata it was sent.
// A refused call never reaches it; an accepted one arrives with the
// identity the gateway verified, and with nothing a caller made up.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "fanout/gateway/v1/gateway.grpc.pb.h"
#include "fanout/lab/v1/lab.grpc.pb.h"
#include "gateway/gateway.h"
#include "node/config/yaml_proto.h"
#include "tests/support/http_client.h"
#include "tests/support/jwt_keys.h"
#include "tests/support/status_matchers.h"

namespace fanout::gateway {
namespace {

using ::fanout::testing::HttpCall;
using ::fanout::testing::HttpResult;
using ::fanout::testing::IsOk;
using ::fanout::testing::SigningKey;
using ::testing::HasSubstr;

// Lab/Echo that answers with the identity metadata it received:
// "subject=..;scopes=..;auth=..;user=..;hops=..".
class MetadataRecorder {
 public:
  void Register(Server& server) { server.RegisterService(&service_); }
  void Serve(Server& server) {
    server.ServeUnary(&service_, &lab::v1::Lab::AsyncService::RequestEcho,
                      [this](grpc::ServerContext& context, const lab::v1::EchoRequest&) {
                        return Echo(Seen(context));
                      });
  }
  int calls() const { return calls_.load(); }

 private:
  static std::string Seen(grpc::ServerContext& context) {
    auto get = [&](const char* key) {
      auto [begin, end] = context.client_metadata().equal_range(key);
      std::string out;
      for (auto it = begin; it != end; ++it) {
        absl::StrAppend(&out, out.empty() ? "" : ",",
                        std::string(it->second.data(), it->second.size()));
      }
      return out;
    };
    return absl::StrCat("subject=", get("x-fanout-subject"), ";scopes=", get("x-fanout-scopes"),
                        ";auth=", get("x-fanout-auth"), ";user=", get("x-user-id"),
                        ";hops=", get("x-fanout-hops"));
  }
  Task<absl::StatusOr<lab::v1::EchoResponse>> Echo(std::string seen) {
    ++calls_;
    lab::v1::EchoResponse response;
    response.set_message(std::move(seen));
    co_return response;
  }

  lab::v1::Lab::AsyncService service_;
  std::atomic<int> calls_{0};
};

constexpr char kIssuer[] = "https://issuer.test";

constexpr char kConfig[] = R"yaml(
rest_address: 127.0.0.1:0
auth:
  default_mode: required
  jwt: {issuer: "https://issuer.test", audiences: [fanout], jwks_file: "%s", refresh_interval_s: 5}
  api_keys: {file: "%s"}
routes:
  - name: open
    path: /open
    auth: {mode: none}
    respond_with: echo
    calls: [{name: echo, backend: recorder, method: fanout.lab.v1.Lab/Echo}]
  - name: who
    path: /who
    respond_with: echo
    calls: [{name: echo, backend: recorder, method: fanout.lab.v1.Lab/Echo}]
  - name: maybe
    path: /maybe
    auth: {mode: optional}
    respond_with: echo
    calls: [{name: echo, backend: recorder, method: fanout.lab.v1.Lab/Echo}]
  - name: orders
    path: /orders
    auth: {mode: required, scopes: [orders.read], claims: {tenant: acme}}
    respond_with: echo
    calls: [{name: echo, backend: recorder, method: fanout.lab.v1.Lab/Echo}]
)yaml";

class GatewayAuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = new SigningKey(SigningKey::Rsa("rsa-1"));
    ec_ = new SigningKey(SigningKey::P256("ec-1"));
    stranger_ = new SigningKey(SigningKey::Rsa("rsa-1"));  // Same kid, another key.
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete ec_;
    delete stranger_;
  }

  GatewayAuthTest() {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("gateway_auth_", ::getpid(), "_", reinterpret_cast<uintptr_t>(this));
    std::filesystem::create_directories(dir_);
    jwks_ = (dir_ / "jwks.json").string();
    testing::ReplaceFile(jwks_, testing::JwksJson({rsa_->Jwk(), ec_->Jwk()}));
    std::string keys = (dir_ / "api_keys").string();
    testing::ReplaceFile(
        keys, absl::StrCat("reporting ", testing::Sha256Hex("sesame"), " orders.read\n"));

    recorder_.Register(backend_);
    EXPECT_THAT(backend_.Start(), IsOk());
    recorder_.Serve(backend_);
    config::v1::GatewayConfig config;
    EXPECT_THAT(YamlTextToMessage(absl::StrFormat(kConfig, jwks_, keys), "test", &config), IsOk());
    Gateway::Options options{.config = config, .clock = &clock_};
    options.backends = {{"recorder", {}}};
    std::string target = absl::StrCat("127.0.0.1:", backend_.port());
    options.channel = [target](const std::string&) {
      return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
    };
    auto gateway = Gateway::Create(std::move(options));
    EXPECT_THAT(gateway, IsOk());
    gateway_ = *std::move(gateway);
    gateway_->Register(front_);
    EXPECT_THAT(front_.Start(), IsOk());
    EXPECT_THAT(gateway_->Start(front_), IsOk());
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", front_.port()),
                                   grpc::InsecureChannelCredentials());
  }
  ~GatewayAuthTest() override {
    gateway_->Stop();
    front_.Shutdown(absl::Seconds(1));
    backend_.Shutdown(absl::Seconds(1));
    std::filesystem::remove_all(dir_);
  }

  int64_t Now() const { return absl::ToUnixSeconds(clock_.Now()); }
  std::string Payload(const std::string& more = "") const {
    return absl::StrFormat(R"({"iss":"%s","aud":"fanout","sub":"alice","exp":%d,)"
                           R"("scope":"orders.read"%s})",
                           kIssuer, Now() + 300, more);
  }
  HttpResult Get(const std::string& path,
                 std::vector<std::pair<std::string, std::string>> headers) {
    return HttpCall(front_port(), "GET", path, "", headers);
  }
  int front_port() const { return gateway_->rest_port(); }

  // Through the gRPC proxy (default_mode: required), with these metadata.
  grpc::Status Echo(const std::vector<std::pair<std::string, std::string>>& metadata,
                    lab::v1::EchoResponse* reply, grpc::ClientContext* context) {
    for (const auto& [key, value] : metadata) context->AddMetadata(key, value);
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    return lab::v1::Lab::NewStub(channel_)->Echo(context, lab::v1::EchoRequest(), reply);
  }
  // A route by name through Gateway/Aggregate.
  grpc::Status Aggregate(const std::string& route, const std::string& authorization,
                         gateway::v1::AggregateResponse* reply) {
    grpc::ClientContext context;
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    gateway::v1::AggregateRequest request;
    request.set_route(route);
    return gateway::v1::Gateway::NewStub(channel_)->Aggregate(&context, request, reply);
  }

  static SigningKey* rsa_;
  static SigningKey* ec_;
  static SigningKey* stranger_;
  ManualClock clock_;
  std::filesystem::path dir_;
  std::string jwks_;
  MetadataRecorder recorder_;
  Server backend_{{.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1}};
  Server front_{{.listen_addresses = {"127.0.0.1:0"}, .num_loops = 2}};
  std::unique_ptr<Gateway> gateway_;
  std::shared_ptr<grpc::Channel> channel_;
};
SigningKey* GatewayAuthTest::rsa_ = nullptr;
SigningKey* GatewayAuthTest::ec_ = nullptr;
SigningKey* GatewayAuthTest::stranger_ = nullptr;

// proves: gateway.auth.jwt.issuer, gateway.auth.jwt.audiences, gateway.auth.jwt.jwks_file
// proves: gateway.auth.default_mode
TEST_F(GatewayAuthTest, BadTokensAre401AtBothDoorsAndReachNoBackend) {
  std::string payload = Payload();
  std::string good = rsa_->Sign(payload);
  std::vector<std::pair<const char*, std::string>> tokens = {
      {"expired", rsa_->Sign(absl::StrFormat(R"({"iss":"%s","aud":"fanout","sub":"a","exp":%d})",
                                             kIssuer, Now() - 60))},
      {"not yet valid",
       rsa_->Sign(absl::StrFormat(R"({"iss":"%s","aud":"fanout","sub":"a","exp":%d,"nbf":%d})",
                                  kIssuer, Now() + 600, Now() + 120))},
      {"wrong issuer",
       rsa_->Sign(absl::StrFormat(
           R"({"iss":"https://evil.test","aud":"fanout","sub":"a","exp":%d})", Now() + 60))},
      {"wrong audience",
       rsa_->Sign(absl::StrFormat(R"({"iss":"%s","aud":"billing","sub":"a","exp":%d})", kIssuer,
                                  Now() + 60))},
      {"wrong key", stranger_->Sign(payload)},
      {"alg none", testing::UnsignedToken(R"({"alg":"none","kid":"rsa-1"})", payload)},
      {"HS256 with the public key as secret", rsa_->SignHs256WithPublicKey(payload)},
      {"truncated", good.substr(0, good.size() - 12)},
      {"garbage", "not-a-jwt"},
  };
  for (const auto& [name, token] : tokens) {
    std::string bearer = "Bearer " + token;
    HttpResult rest = Get("/who", {{"Authorization", bearer}});
    EXPECT_EQ(rest.status, 401) << name << ": " << rest.body;
    EXPECT_THAT(rest.headers["www-authenticate"],
                HasSubstr("Bearer realm=\"fanout\", error=\"invalid_token\""))
        << name;
    lab::v1::EchoResponse reply;
    grpc::ClientContext context;
    grpc::Status proxied = Echo({{"authorization", bearer}}, &reply, &context);
    EXPECT_EQ(proxied.error_code(), grpc::StatusCode::UNAUTHENTICATED) << name;
    auto challenge = context.GetServerTrailingMetadata().find("www-authenticate");
    EXPECT_NE(challenge, context.GetServerTrailingMetadata().end()) << name;
    gateway::v1::AggregateResponse aggregated;
    EXPECT_EQ(Aggregate("who", bearer, &aggregated).error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << name;
  }
  EXPECT_EQ(recorder_.calls(), 0);  // Not one of them reached the backend.
  EXPECT_EQ(Get("/who", {}).status, 401);
  EXPECT_EQ(Get("/who", {}).headers["www-authenticate"], "Bearer realm=\"fanout\"");
  EXPECT_EQ(recorder_.calls(), 0);
}

// proves: gateway.routes.*.auth.mode
TEST_F(GatewayAuthTest, TheBackendIsToldWhoCalledAndNothingTheCallerMadeUp) {
  std::vector<std::pair<std::string, std::string>> spoofed = {
      {"x-fanout-subject", "root"}, {"x-fanout-scopes", "admin"}, {"x-user-id", "0"}};
  auto headers = spoofed;
  headers.emplace_back("Authorization", "Bearer " + ec_->Sign(Payload()));
  HttpResult rest = Get("/who", headers);
  ASSERT_EQ(rest.status, 200) << rest.body;
  EXPECT_THAT(rest.body, HasSubstr("subject=alice;scopes=orders.read;auth=jwt;user=;hops=1"));

  lab::v1::EchoResponse reply;
  grpc::ClientContext context;
  auto metadata = spoofed;
  metadata.emplace_back("authorization", "Bearer " + rsa_->Sign(Payload()));
  grpc::Status proxied = Echo(metadata, &reply, &context);
  ASSERT_TRUE(proxied.ok()) << proxied.error_message();
  EXPECT_EQ(reply.message(), "subject=alice;scopes=orders.read;auth=jwt;user=;hops=1");

  // A route that reads no credentials passes none on, and still drops the made-up ones.
  HttpResult open = Get("/open", spoofed);
  ASSERT_EQ(open.status, 200) << open.body;
  EXPECT_THAT(open.body, HasSubstr("subject=;scopes=;auth=;user=;hops=1"));
  // Optional: anonymous passes, anonymous.
  HttpResult maybe = Get("/maybe", spoofed);
  ASSERT_EQ(maybe.status, 200) << maybe.body;
  EXPECT_THAT(maybe.body, HasSubstr("subject=;scopes=;auth=;user=;hops=1"));
}

// proves: gateway.routes.*.auth.scopes, gateway.routes.*.auth.claims
TEST_F(GatewayAuthTest, MissingScopesOrClaimsAre403) {
  std::string acme = "Bearer " + rsa_->Sign(Payload(R"(,"tenant":"acme")"));
  EXPECT_EQ(Get("/orders", {{"Authorization", acme}}).status, 200);
  int calls = recorder_.calls();
  HttpResult initech = Get(
      "/orders", {{"Authorization", "Bearer " + rsa_->Sign(Payload(R"(,"tenant":"initech")"))}});
  EXPECT_EQ(initech.status, 403) << initech.body;
  EXPECT_THAT(initech.body, HasSubstr("needs claim \\\"tenant\\\" = \\\"acme\\\""));
  std::string no_scope =
      "Bearer " + rsa_->Sign(absl::StrFormat(
                      R"({"iss":"%s","aud":"fanout","sub":"bob","exp":%d,"tenant":"acme"})",
                      kIssuer, Now() + 60));
  HttpResult scope = Get("/orders", {{"Authorization", no_scope}});
  EXPECT_EQ(scope.status, 403);
  EXPECT_THAT(scope.headers["www-authenticate"], HasSubstr("error=\"insufficient_scope\""));
  gateway::v1::AggregateResponse reply;
  EXPECT_EQ(Aggregate("orders", no_scope, &reply).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(recorder_.calls(), calls);
}

// proves: gateway.auth.api_keys.file
TEST_F(GatewayAuthTest, ApiKeysGoodAndBad) {
  HttpResult good = Get("/who", {{"X-Api-Key", "sesame"}});
  ASSERT_EQ(good.status, 200) << good.body;
  EXPECT_THAT(good.body, HasSubstr("subject=reporting;scopes=orders.read;auth=api-key"));
  HttpResult bad = Get("/who", {{"X-Api-Key", "open sesame"}});
  EXPECT_EQ(bad.status, 401);
  EXPECT_THAT(bad.body, HasSubstr("unknown API key"));
  // An API key carries no claims: the tenant route refuses it.
  EXPECT_EQ(Get("/orders", {{"X-Api-Key", "sesame"}}).status, 403);
  lab::v1::EchoResponse reply;
  grpc::ClientContext context;
  ASSERT_TRUE(Echo({{"x-api-key", "sesame"}}, &reply, &context).ok());
  EXPECT_THAT(reply.message(), HasSubstr("subject=reporting"));
}

// proves: gateway.auth.jwt.refresh_interval_s
TEST_F(GatewayAuthTest, ARotatedKeySetIsUsedWithoutARestart) {
  SigningKey rotated = SigningKey::P256("ec-2");
  std::string bearer = "Bearer " + rotated.Sign(Payload());
  EXPECT_EQ(Get("/who", {{"Authorization", bearer}}).status, 401);
  testing::ReplaceFile(jwks_, testing::JwksJson({rotated.Jwk()}));
  clock_.Advance(absl::Seconds(5));  // refresh_interval_s
  EXPECT_EQ(Get("/who", {{"Authorization", bearer}}).status, 200);
  EXPECT_EQ(Get("/who", {{"Authorization", "Bearer " + rsa_->Sign(Payload())}}).status, 401);
}

TEST(GatewayAuthConfigTest, ARouteCannotRequireWhatIsNotConfigured) {
  config::v1::GatewayConfig config;
  ASSERT_THAT(YamlTextToMessage("routes: [{name: r, path: /r, auth: {mode: required}, calls: "
                                "[{name: e, backend: lab, method: fanout.lab.v1.Lab/Echo}]}]",
                                "test", &config),
              IsOk());
  absl::Status checked = CheckGatewayConfig(config, {"lab"});
  EXPECT_EQ(checked.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(checked.message(), HasSubstr("route \"r\": auth: mode REQUIRED needs credentials"));
  ASSERT_THAT(YamlTextToMessage("auth: {jwt: {issuer: i, audiences: [a], jwks_file: /no/such}}",
                                "test", &config),
              IsOk());
  EXPECT_THAT(CheckGatewayConfig(config, {"lab"}).message(),
              HasSubstr("gateway.auth.jwt.jwks_file: cannot read \"/no/such\""));
}

}  // namespace
}  // namespace fanout::gateway
