// The gRPC door's limits (the node config's grpc_server block, through
// ServerLimitsFromConfig as fanoutd reads it) as a client meets them, on a
// real server on 127.0.0.1:0: what gRPC does at each limit, asserted as
// behaviour (who answered, on which connection, how many at once), not as
// durations.
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fanout/lab/v1/lab.grpc.pb.h"
#include "node/async/sleep.h"
#include "node/config/yaml_proto.h"
#include "node/rpc/server.h"
#include "node/rpc/server_limits_config.h"
#include "tests/support/status_matchers.h"

namespace fanout {
namespace {

using lab::v1::EchoRequest;
using lab::v1::EchoResponse;
using lab::v1::Lab;
using ::testing::HasSubstr;
using ::testing::Not;

// Lab/Echo answering, after delay_ms, with the caller's address as the
// server saw it ("ipv4:127.0.0.1:PORT": one port per client connection),
// counting the calls it ran and how many ran at once.
class PeerEcho {
 public:
  explicit PeerEcho(Server::Options::Limits limits)
      : server_({.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1, .limits = limits}) {
    server_.RegisterService(&service_);
    EXPECT_THAT(server_.Start(), testing::IsOk());
    server_.ServeUnary(&service_, &Lab::AsyncService::RequestEcho,
                       [this](grpc::ServerContext& context, const EchoRequest& request) {
                         return Echo(context.peer(), request.delay_ms());
                       });
  }
  ~PeerEcho() { server_.Shutdown(absl::Milliseconds(100)); }

  std::shared_ptr<grpc::Channel> NewChannel(grpc::ChannelArguments args = {}) {
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_.port()),
                                     grpc::InsecureChannelCredentials(), args);
  }
  int calls() const { return calls_.load(); }
  int peak() const { return peak_.load(); }

 private:
  Task<absl::StatusOr<EchoResponse>> Echo(std::string peer, int64_t delay_ms) {
    calls_.fetch_add(1);
    int now = running_.fetch_add(1) + 1;
    for (int peak = peak_.load(); now > peak && !peak_.compare_exchange_weak(peak, now);) {
    }
    absl::Status slept = co_await Sleep(absl::Milliseconds(delay_ms));
    running_.fetch_sub(1);
    if (!slept.ok()) co_return slept;
    EchoResponse response;
    response.set_message(peer);
    co_return response;
  }

  Server server_;
  Lab::AsyncService service_;
  std::atomic<int> calls_{0};
  std::atomic<int> running_{0};
  std::atomic<int> peak_{0};
};

// The limits a node config's `grpc_server: {<keys>}` sets.
Server::Options::Limits Limits(const std::string& keys) {
  config::v1::GrpcServer config;
  EXPECT_THAT(YamlTextToMessage("{" + keys + "}", "test", &config), testing::IsOk());
  return ServerLimitsFromConfig(config);
}

struct Answer {
  grpc::Status status;
  std::string peer;  // the server's view of the caller's connection
};

Answer Call(const std::shared_ptr<grpc::Channel>& channel, int64_t delay_ms = 0,
            std::string metadata_value = "") {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  if (!metadata_value.empty()) context.AddMetadata("x-big", metadata_value);
  EchoRequest request;
  request.set_delay_ms(delay_ms);
  EchoResponse response;
  grpc::Status status = Lab::NewStub(channel)->Echo(&context, request, &response);
  return {status, response.message()};
}

// True once the channel's connection is no longer READY (the server sent
// GOAWAY or closed it), within a bound that only keeps a broken test from
// hanging.
bool ConnectionEnds(grpc::Channel* channel) {
  absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (channel->GetState(false) == GRPC_CHANNEL_READY) {
    if (!channel->WaitForStateChange(GRPC_CHANNEL_READY, absl::ToChronoTime(give_up))) return false;
  }
  return true;
}

// proves: grpc_server.max_metadata_bytes
TEST(ServerLimitsTest, MetadataOverTheLimitIsRefusedBeforeTheHandler) {
  PeerEcho server(Limits("max_metadata_bytes: 4096"));
  auto channel = server.NewChannel();
  EXPECT_TRUE(Call(channel, 0, std::string(2000, 'a')).status.ok());
  Answer big = Call(channel, 0, std::string(8000, 'a'));
  EXPECT_EQ(big.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << big.status.error_message();
  EXPECT_EQ(server.calls(), 1);
  // The server keeps serving calls within the limit. gRPC 1.51 usually keeps
  // the connection too, but may close it after the refusal (seen under
  // TSan's timing: UNAVAILABLE "Socket closed"): then the next call
  // reconnects.
  grpc::Status after = Call(channel).status;
  if (after.error_code() == grpc::StatusCode::UNAVAILABLE) after = Call(channel).status;
  EXPECT_TRUE(after.ok()) << after.error_code() << " " << after.error_message();
}

TEST(ServerLimitsTest, TheDefaultMetadataLimitIs8KiB) {
  PeerEcho server(Limits(""));
  auto channel = server.NewChannel();
  EXPECT_TRUE(Call(channel, 0, std::string(6000, 'a')).status.ok());
  EXPECT_EQ(Call(channel, 0, std::string(9000, 'a')).status.error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

// proves: grpc_server.max_concurrent_streams
TEST(ServerLimitsTest, StreamsBeyondTheLimitWaitInTheClientAndAllSucceed) {
  PeerEcho server(Limits("max_concurrent_streams: 2"));
  auto channel = server.NewChannel();
  // Connected, so the client knows the server's limit before the burst.
  ASSERT_TRUE(Call(channel).status.ok());
  std::vector<Answer> answers(6);
  std::vector<std::thread> callers;
  for (Answer& answer : answers) {
    callers.emplace_back([&] { answer = Call(channel, 200); });
  }
  for (std::thread& caller : callers) caller.join();
  for (const Answer& answer : answers) {
    EXPECT_TRUE(answer.status.ok()) << answer.status.error_message();
  }
  EXPECT_EQ(server.peak(), 2);  // Never more than the limit at the server at once.
}

// proves: grpc_server.max_connection_age_ms
TEST(ServerLimitsTest, AnOldConnectionGetsGoawayAndTheNextCallReconnects) {
  PeerEcho server(Limits("max_connection_age_ms: 300, max_connection_age_grace_ms: 300"));
  auto channel = server.NewChannel();
  Answer first = Call(channel);
  ASSERT_TRUE(first.status.ok());
  ASSERT_TRUE(ConnectionEnds(channel.get()));
  Answer second = Call(channel);
  ASSERT_TRUE(second.status.ok()) << second.status.error_message();
  EXPECT_NE(second.peer, first.peer);  // A new connection.
}

// proves: grpc_server.max_connection_age_grace_ms
TEST(ServerLimitsTest, ACallStillOpenPastTheAgeAndGraceIsCut) {
  PeerEcho server(Limits("max_connection_age_ms: 100, max_connection_age_grace_ms: 100"));
  auto channel = server.NewChannel();
  Answer held = Call(channel, 10'000);
  EXPECT_EQ(held.status.error_code(), grpc::StatusCode::UNAVAILABLE) << held.status.error_message();
  EXPECT_TRUE(Call(channel).status.ok());
}

// proves: grpc_server.max_connection_idle_ms
TEST(ServerLimitsTest, AnIdleConnectionIsClosedAndTheNextCallReconnects) {
  PeerEcho server(Limits("max_connection_idle_ms: 200"));
  auto channel = server.NewChannel();
  Answer first = Call(channel);
  ASSERT_TRUE(first.status.ok());
  ASSERT_TRUE(ConnectionEnds(channel.get()));
  Answer second = Call(channel);
  ASSERT_TRUE(second.status.ok()) << second.status.error_message();
  EXPECT_NE(second.peer, first.peer);
}

// A client pinging as often as it can while its call sends nothing (gRPC
// 1.51's client sends one a second at most).
grpc::ChannelArguments EagerPinger() {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 100);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  // Nothing on its own side holds it back (gRPC clients throttle
  // themselves to a ping per 5 min without data by default).
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_HTTP2_MIN_SENT_PING_INTERVAL_WITHOUT_DATA_MS, 100);
  return args;
}

// proves: grpc_server.max_ping_strikes
TEST(ServerLimitsTest, AClientPingingTooOftenIsDisconnected) {
  // The default 10 s minimum; one strike allowed, so the third ping is GOAWAY.
  PeerEcho server(Limits("max_ping_strikes: 1"));
  auto channel = server.NewChannel(EagerPinger());
  Answer held = Call(channel, 3500);
  EXPECT_EQ(held.status.error_code(), grpc::StatusCode::UNAVAILABLE) << held.status.error_message();
  EXPECT_THAT(held.status.error_message(), HasSubstr("Too many pings"));
  EXPECT_EQ(server.calls(), 1);
}

// proves: grpc_server.min_ping_interval_ms
TEST(ServerLimitsTest, PingsWithinTheMinimumIntervalAreAllowed) {
  PeerEcho server(Limits("min_ping_interval_ms: 10, max_ping_strikes: 1"));
  auto channel = server.NewChannel(EagerPinger());
  Answer held = Call(channel, 3500);  // the same pings as above
  EXPECT_TRUE(held.status.ok()) << held.status.error_message();
}

// The same eager pinger with no call open: a strike each ping unless
// permit_keepalive_without_calls (then the minimum interval applies).
grpc::ChannelArguments IdlePinger() {
  grpc::ChannelArguments args = EagerPinger();
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  return args;
}

// proves: grpc_server.permit_keepalive_without_calls
TEST(ServerLimitsTest, PingsWithoutACallAreStrikesUnlessPermitted) {
  PeerEcho strict(Limits("min_ping_interval_ms: 10, max_ping_strikes: 1"));
  auto cut = strict.NewChannel(IdlePinger());
  ASSERT_TRUE(Call(cut).status.ok());
  EXPECT_TRUE(ConnectionEnds(cut.get()));  // GOAWAY "too many pings"

  PeerEcho permissive(Limits(
      "min_ping_interval_ms: 10, max_ping_strikes: 1, permit_keepalive_without_calls: true"));
  auto kept = permissive.NewChannel(IdlePinger());
  Answer first = Call(kept);
  ASSERT_TRUE(first.status.ok());
  // The pings of a call held as long as above, on another connection, while
  // this one sits idle pinging: it is still the same connection after.
  Call(permissive.NewChannel(), 3500);
  Answer after = Call(kept);
  ASSERT_TRUE(after.status.ok()) << after.status.error_message();
  EXPECT_EQ(after.peer, first.peer);
}

}  // namespace
}  // namespace fanout
