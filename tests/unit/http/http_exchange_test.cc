// HttpExchange's contract, with a recording sink in place of a connection.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "node/http/http_server.h"

namespace fanout {
namespace {

using Kind = HttpResponseEvent::Kind;

class HttpExchangeTest : public ::testing::Test {
 protected:
  std::shared_ptr<HttpExchange> Make() {
    return std::make_shared<HttpExchange>(HttpRequest{.method = "GET", .path = "/x"},
                                          [this](HttpResponseEvent e) { events_.push_back(e); });
  }
  std::vector<Kind> kinds() const {
    std::vector<Kind> out;
    for (const auto& e : events_) out.push_back(e.kind);
    return out;
  }

  std::vector<HttpResponseEvent> events_;
};

TEST_F(HttpExchangeTest, FirstReplyWins) {
  auto exchange = Make();
  exchange->Reply({.status = 201});
  exchange->Reply({.status = 500});
  exchange->StartStream({});
  exchange->Write("x");
  exchange->End();
  ASSERT_EQ(kinds(), std::vector<Kind>{Kind::kReply});
  EXPECT_EQ(events_[0].response.status, 201);
}

TEST_F(HttpExchangeTest, EveryAnsweredCallbackRunsOnceBeforeTheAnswerGoesOut) {
  auto exchange = Make();
  std::vector<std::string> ran;
  exchange->OnAnswered([&](const HttpResponse& head) {
    ran.push_back("first " + std::to_string(head.status) + " sent " +
                  std::to_string(events_.size()));
  });
  exchange->OnAnswered([&](const HttpResponse&) { ran.push_back("second"); });
  exchange->StartStream({.status = 200});
  exchange->End();
  exchange->End();
  EXPECT_THAT(ran, ::testing::ElementsAre("first 200 sent 1", "second"));  // Before kStreamEnd.
}

TEST_F(HttpExchangeTest, StreamEventsInOrderAndOutOfOrderCallsIgnored) {
  auto exchange = Make();
  exchange->Write("before start");
  exchange->End();
  exchange->StartStream({.body = "dropped"});
  exchange->Write("a");
  exchange->Write("");
  exchange->Reply({});
  exchange->Write("b");
  exchange->End();
  exchange->Write("after end");
  EXPECT_EQ(kinds(),
            (std::vector<Kind>{Kind::kStreamStart, Kind::kChunk, Kind::kChunk, Kind::kStreamEnd}));
  EXPECT_EQ(events_[0].response.body, "");
  EXPECT_EQ(events_[1].chunk, "a");
  EXPECT_EQ(events_[2].chunk, "b");
}

TEST_F(HttpExchangeTest, ClientGoneRunsCallbacksOnceAndSilencesAnswers) {
  auto exchange = Make();
  int runs = 0;
  exchange->OnClientGone([&] { ++runs; });
  exchange->MarkClientGone();
  exchange->MarkClientGone();
  EXPECT_EQ(runs, 1);
  EXPECT_TRUE(exchange->client_gone());
  exchange->OnClientGone([&] { ++runs; });  // already gone: at once
  EXPECT_EQ(runs, 2);
  exchange->Reply({});
  exchange.reset();  // no 500 for a client that is not there
  EXPECT_TRUE(events_.empty());
}

TEST_F(HttpExchangeTest, WrittenResponseNeverReportsGone) {
  auto exchange = Make();
  int runs = 0;
  exchange->OnClientGone([&] { ++runs; });
  exchange->Reply({});
  exchange->MarkResponseWritten();
  exchange->MarkClientGone();
  exchange->OnClientGone([&] { ++runs; });
  EXPECT_EQ(runs, 0);
  EXPECT_FALSE(exchange->client_gone());
}

TEST_F(HttpExchangeTest, DroppedUnansweredSends500AndDroppedStreamAborts) {
  Make().reset();
  ASSERT_EQ(kinds(), std::vector<Kind>{Kind::kReply});
  EXPECT_EQ(events_[0].response.status, 500);
  events_.clear();
  {
    auto exchange = Make();
    exchange->StartStream({});
  }
  EXPECT_EQ(kinds(), (std::vector<Kind>{Kind::kStreamStart, Kind::kAbort}));
}

TEST_F(HttpExchangeTest, CallbackMayAnswerTheExchange) {
  auto exchange = Make();
  exchange->OnClientGone([&] { exchange->Reply({}); });
  exchange->MarkClientGone();
  EXPECT_TRUE(events_.empty());
}

}  // namespace
}  // namespace fanout
