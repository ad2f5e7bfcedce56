// HttpServer over real sockets on 127.0.0.1:0, driven by a blocking client
// that sees the exact bytes.
#include "node/http/http_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "node/base/sync.h"
#include "tests/support/eventually.h"
#include "tests/support/http_test_client.h"
#include "tests/support/status_matchers.h"

namespace fanout {
namespace {

using ::fanout::testing::Eventually;

using ::fanout::testing::IsOk;
using ::fanout::testing::StatusIs;
using ::fanout::testing::TestHttpClient;
using ::fanout::testing::TestHttpResponse;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kGet[] = "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n";

// Collects exchanges as the handler receives them; the test answers them.
class ExchangeQueue {
 public:
  HttpHandler Handler() {
    return [this](std::shared_ptr<HttpExchange> exchange) {
      MutexLock lock(&mu_);
      exchanges_.push_back(std::move(exchange));
      cv_.SignalAll();
    };
  }
  std::shared_ptr<HttpExchange> Next() {
    MutexLock lock(&mu_);
    while (exchanges_.empty()) cv_.Wait(&mu_);
    auto exchange = std::move(exchanges_.front());
    exchanges_.pop_front();
    return exchange;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  std::deque<std::shared_ptr<HttpExchange>> exchanges_ ABSL_GUARDED_BY(mu_);
};

// Answers at once with what it was asked.
void EchoHandler(std::shared_ptr<HttpExchange> exchange) {
  const HttpRequest& r = exchange->request();
  exchange->Reply({.content_type = "text/plain",
                   .headers = {{"X-Path", r.path}},
                   .body = absl::StrCat(r.method, " ", r.path, " ?", r.query, " ", r.body)});
}

std::unique_ptr<HttpServer> StartServer(HttpServer::Options options, HttpHandler handler) {
  auto server = std::make_unique<HttpServer>(std::move(options), std::move(handler));
  EXPECT_THAT(server->Start(), IsOk());
  return server;
}

TEST(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto server = StartServer({}, EchoHandler);
  TestHttpClient client(server->port());
  ASSERT_TRUE(client.connected());
  for (int i = 0; i < 3; ++i) {
    std::string body = absl::StrCat("n=", i);
    ASSERT_TRUE(client.Send(absl::StrCat("POST /v1/items/", i, "?x=", i,
                                         " HTTP/1.1\r\nHost: t\r\nContent-Length: ", body.size(),
                                         "\r\n\r\n", body)));
    std::optional<TestHttpResponse> response = client.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, absl::StrCat("POST /v1/items/", i, " ?x=", i, " n=", i));
    EXPECT_EQ(response->Header("x-path"), absl::StrCat("/v1/items/", i));
    EXPECT_EQ(response->Header("content-type"), "text/plain");
    EXPECT_EQ(response->Header("connection"), "");
  }
}

TEST(HttpServerTest, RequestCarriesLowerCasedHeadersInOrder) {
  ExchangeQueue queue;
  auto server = StartServer({}, queue.Handler());
  TestHttpClient client(server->port());
  ASSERT_TRUE(
      client.Send("GET /a/b%20c?q=1&r=2 HTTP/1.1\r\nHost: t\r\nX-Trace-Id: abc\r\nX-Multi: 1\r\n"
                  "x-multi: 2\r\n\r\n"));
  auto exchange = queue.Next();
  const HttpRequest& request = exchange->request();
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.target, "/a/b%20c?q=1&r=2");
  EXPECT_EQ(request.path, "/a/b%20c");
  EXPECT_EQ(request.query, "q=1&r=2");
  EXPECT_EQ(request.version, 11);
  EXPECT_TRUE(request.keep_alive);
  EXPECT_EQ(request.Header("X-TRACE-ID"), "abc");
  EXPECT_EQ(request.Header("x-multi"), "1");
  EXPECT_EQ(request.Header("absent"), "");
  ASSERT_EQ(request.headers.size(), 4u);
  EXPECT_EQ(request.headers[1].first, "x-trace-id");
  EXPECT_EQ(request.headers[3], (std::pair<std::string, std::string>{"x-multi", "2"}));
  exchange->Reply({.body = "{}"});
  EXPECT_EQ(client.ReadResponse()->body, "{}");
}

TEST(HttpServerTest, ReplyFromAnotherThreadLater) {
  ExchangeQueue queue;
  auto server = StartServer({}, queue.Handler());
  TestHttpClient client(server->port());
  ASSERT_TRUE(client.Send(kGet));
  std::shared_ptr<HttpExchange> exchange = queue.Next();  // the handler has returned
  Notification go;
  std::thread replier([&] {
    go.WaitForNotification();
    exchange->Reply({.status = 201, .body = R"({"id": 7})"});
    exchange->Reply({.status = 500, .body = "second reply is ignored"});
  });
  go.Notify();
  std::optional<TestHttpResponse> response = client.ReadResponse();
  replier.join();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, R"({"id": 7})");
  EXPECT_EQ(response->Header("content-type"), "application/json");
  // The ignored second reply left nothing behind on the connection.
  ASSERT_TRUE(client.Send(kGet));
  queue.Next()->Reply({.body = "next"});
  EXPECT_EQ(client.ReadResponse()->body, "next");
}

// A graceful stop: the request in flight is answered with Connection: close,
// a keep-alive client's next request on its open connection too, a new
// connection is refused, and AwaitIdle tells when the last answer is out.
TEST(HttpServerTest, DrainAnswersWhatWasReadClosesKeepAliveAndRefusesNewConnections) {
  ExchangeQueue queue;
  auto server = StartServer({}, queue.Handler());
  TestHttpClient held(server->port());
  TestHttpClient idle(server->port());
  ASSERT_TRUE(held.Send(kGet));
  std::shared_ptr<HttpExchange> in_flight = queue.Next();
  // `idle` is accepted (a request of its own, answered) before the drain.
  ASSERT_TRUE(idle.Send(kGet));
  queue.Next()->Reply({.body = "first"});
  EXPECT_NE(idle.ReadResponse()->Header("connection"), "close");

  server->BeginDrain();
  EXPECT_FALSE(server->AwaitIdle(absl::Now() + absl::Milliseconds(50)));  // One is in flight.
  in_flight->Reply({.body = "late"});
  std::optional<TestHttpResponse> answered = held.ReadResponse();
  ASSERT_TRUE(answered.has_value());
  EXPECT_EQ(answered->body, "late");
  EXPECT_EQ(answered->Header("connection"), "close");

  ASSERT_TRUE(idle.Send(kGet));
  queue.Next()->Reply({.body = "second"});
  std::optional<TestHttpResponse> second = idle.ReadResponse();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->Header("connection"), "close");
  EXPECT_EQ(idle.ReadToEof(), "");  // And the server closed it.

  EXPECT_TRUE(server->AwaitIdle(absl::Now() + absl::Seconds(10)));
  // The listening socket is closed: a connect is refused.
  EXPECT_TRUE(Eventually([&] { return !TestHttpClient(server->port()).connected(); }));
  server->Stop();
}

// An answer from another thread is sent by that thread when the socket
// takes it whole (DirectAnswer). One of 8 MiB cannot be: the sender writes
// what fits and the I/O thread the rest, and the client reads every byte in
// order, then uses the connection again.
TEST(HttpServerTest, AnAnswerTooBigForTheSocketArrivesWholeAndTheConnectionGoesOn) {
  ExchangeQueue queue;
  auto server = StartServer({}, queue.Handler());
  TestHttpClient client(server->port());
  ASSERT_TRUE(client.Send(kGet));
  std::string body(8 << 20, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
  std::thread replier([&, exchange = queue.Next()] { exchange->Reply({.body = body}); });
  std::optional<TestHttpResponse> response = client.ReadResponse();
  replier.join();
  ASSERT_TRUE(response.has_value());
  EXPECT_TRUE(response->body == body) << "got " << response->body.size() << " bytes";
  ASSERT_TRUE(client.Send(kGet));
  queue.Next()->Reply({.body = "next"});
  EXPECT_EQ(client.ReadResponse()->body, "next");
}

// An exchange whose answer its sender wrote stops counting at once, though
// the I/O thread hears of it only with the client's next bytes: a drain
// does not wait for a kept-alive client that has nothing more to ask.
TEST(HttpServerTest, AClientIdleAfterItsAnswerDoesNotHoldADrain) {
  ExchangeQueue queue;
  auto server = StartServer({}, queue.Handler());
  TestHttpClient idle(server->port());
  ASSERT_TRUE(idle.Send(kGet));
  std::thread replier([exchange = queue.Next()] { exchange->Reply({.body = "answered"}); });
  replier.join();
  EXPECT_EQ(idle.ReadResponse()->body, "answered");
  server->BeginDrain();
  EXPECT_TRUE(server->AwaitIdle(absl::Now() + absl::Seconds(5)));
  server->Stop();
  EXPECT_TRUE(idle.ServerClosed());
}

TEST(HttpServerTest, StreamChunksArriveInOrderAndOneAtATime) {
  ExchangeQueue queue;
  auto server = StartServer({}, queue.Handler());
  TestHttpClient client(server->port());
  ASSERT_TRUE(client.Send(kGet));
  auto exchange = queue.Next();
  std::thread writer([exchange] {
    exchange->StartStream({.status = 200, .content_type = "application/x-ndjson"});
    exchange->Write("{\"part\": 1}\n");
  });
  writer.join();
  std::optional<TestHttpResponse> head = client.ReadHead();
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("transfer-encoding"), "chunked");
  EXPECT_EQ(head->Header("content-length"), "");
  // The first chunk is on the wire before the second is even written.
  EXPECT_EQ(client.ReadChunk(), "{\"part\": 1}\n");
  exchange->Write("");  // skipped: would end the body
  exchange->Write("{\"part\": 2}\n");
  EXPECT_EQ(client.ReadChunk(), "{\"part\": 2}\n");
  exchange->End();
  exchange->Write("after the end is ignored");
  EXPECT_EQ(client.ReadChunk(), "");
  // The connection is still good for the next request.
  ASSERT_TRUE(client.Send(kGet));
  queue.Next()->Reply({.body = "after stream"});
  EXPECT_EQ(client.ReadResponse()->body, "after stream");
}

TEST(HttpServerTest, ClientGoneFiresWhenClientClosesMidRequest) {
  ExchangeQueue queue;
  auto server = StartServer({}, queue.Handler());
  TestHttpClient client(server->port());
  ASSERT_TRUE(client.Send(kGet));
  auto exchange = queue.Next();
  Notification gone;
  exchange->OnClientGone([&] { gone.Notify(); });
  EXPECT_FALSE(exchange->client_gone());
  client.Close();
  gone.WaitForNotification();
  EXPECT_TRUE(exchange->client_gone());
  // Registered after the fact: runs at once.
  bool late = false;
  exchange->OnClientGone([&] { late = true; });
  EXPECT_TRUE(late);
  exchange->Reply({.body = "nobody is listening"});  // discarded safely
  // The server is fine.
  TestHttpClient next(server->port());
  ASSERT_TRUE(next.Send(kGet));
  queue.Next()->Reply({.body = "ok"});
  EXPECT_EQ(next.ReadResponse()->body, "ok");
}

TEST(HttpServerTest, ClientGoneFiresWhenClientClosesMidStream) {
  ExchangeQueue queue;
  auto server = StartServer({}, queue.Handler());
  TestHttpClient client(server->port());
  ASSERT_TRUE(client.Send(kGet));
  auto exchange = queue.Next();
  Notification gone;
  exchange->OnClientGone([&] { gone.Notify(); });
  exchange->StartStream({});
  exchange->Write("first");
  ASSERT_TRUE(client.ReadHead().has_value());
  EXPECT_EQ(client.ReadChunk(), "first");
  client.Close();
  gone.WaitForNotification();
  exchange->Write("second");  // discarded safely
  exchange->End();
}

TEST(HttpServerTest, ClientGoneDoesNotFireForACompletedExchange) {
  ExchangeQueue queue;
  auto server = StartServer({}, queue.Handler());
  std::atomic<int> fired{0};
  std::shared_ptr<HttpExchange> exchange;
  {
    TestHttpClient client(server->port());
    ASSERT_TRUE(client.Send(kGet));
    exchange = queue.Next();
    exchange->OnClientGone([&] { ++fired; });
    exchange->Reply({.body = "done"});
    EXPECT_EQ(client.ReadResponse()->body, "done");
  }  // the client hangs up after the complete response
  // Stop() joins the I/O threads: whatever the server would do, it has done.
  server->Stop();
  EXPECT_EQ(fired.load(), 0);
  EXPECT_FALSE(exchange->client_gone());
  exchange->OnClientGone([&] { ++fired; });  // after completion: never runs
  EXPECT_EQ(fired.load(), 0);
}

TEST(HttpServerTest, PipelinedRequestIsServedNotTakenForAGoneClient) {
  ExchangeQueue queue;
  auto server = StartServer({}, queue.Handler());
  TestHttpClient client(server->port());
  ASSERT_TRUE(client.Send("GET /first HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto first = queue.Next();  // the server now watches the idle socket
  ASSERT_TRUE(client.Send("GET /second HTTP/1.1\r\nHost: t\r\n\r\n"));
  // A whole exchange on another connection of the same (only) I/O thread:
  // by the time it completes, that thread has seen the pipelined bytes.
  {
    TestHttpClient other(server->port());
    ASSERT_TRUE(other.Send(kGet));
    queue.Next()->Reply({.body = "other"});
    EXPECT_EQ(other.ReadResponse()->body, "other");
  }
  EXPECT_FALSE(first->client_gone());
  first->Reply({.body = "first"});
  auto second = queue.Next();
  EXPECT_EQ(second->request().path, "/second");
  second->Reply({.body = "second"});
  EXPECT_EQ(client.ReadResponse()->body, "first");
  EXPECT_EQ(client.ReadResponse()->body, "second");
}

TEST(HttpServerTest, PipelinedRequestsInOneWriteAreAnsweredInOrder) {
  auto server = StartServer({}, EchoHandler);
  TestHttpClient client(server->port());
  ASSERT_TRUE(
      client.Send("GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\n"
                  "GET /3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(client.ReadResponse()->Header("x-path"), "/1");
  EXPECT_EQ(client.ReadResponse()->Header("x-path"), "/2");
  EXPECT_EQ(client.ReadResponse()->Header("x-path"), "/3");
  EXPECT_TRUE(client.ServerClosed());
}

TEST(HttpServerTest, MalformedRequestIs400AndCloses) {
  auto server = StartServer({}, EchoHandler);
  TestHttpClient client(server->port());
  ASSERT_TRUE(client.Send("GET /x HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n"));
  std::optional<TestHttpResponse> response = client.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 400);
  EXPECT_EQ(response->Header("content-type"), "application/json");
  EXPECT_EQ(response->Header("connection"), "close");
  EXPECT_THAT(response->body, HasSubstr(R"({"code": 400, "message": "malformed HTTP request: )"));
  EXPECT_TRUE(client.ServerClosed());
}

TEST(HttpServerTest, HeaderSectionTooLargeIs431) {
  auto server = StartServer({.max_header_bytes = 1024}, EchoHandler);
  TestHttpClient client(server->port());
  ASSERT_TRUE(client.Send(
      absl::StrCat("GET / HTTP/1.1\r\nHost: t\r\nX-Big: ", std::string(2000, 'a'), "\r\n\r\n")));
  std::optional<TestHttpResponse> response = client.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 431);
  EXPECT_THAT(response->body, HasSubstr("exceeds the limit of 1024 bytes"));
  EXPECT_TRUE(client.ServerClosed());
}

TEST(HttpServerTest, TooManyHeadersIs431) {
  auto server = StartServer({.max_headers = 5}, EchoHandler);
  TestHttpClient client(server->port());
  std::string request = "GET / HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < 5; ++i) absl::StrAppend(&request, "X-H", i, ": v\r\n");
  ASSERT_TRUE(client.Send(request + "\r\n"));
  std::optional<TestHttpResponse> response = client.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 431);
  EXPECT_THAT(response->body, HasSubstr("request has 6 header fields; the limit is 5"));
  EXPECT_TRUE(client.ServerClosed());
}

TEST(HttpServerTest, BodyOverTheLimitIs413) {
  auto server = StartServer({.max_body_bytes = 1000}, EchoHandler);
  {
    TestHttpClient client(server->port());
    ASSERT_TRUE(client.Send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\nabc"));
    std::optional<TestHttpResponse> response = client.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 413);
    EXPECT_THAT(response->body, HasSubstr("request body exceeds the limit of 1000 bytes"));
    EXPECT_TRUE(client.ServerClosed());
  }
  {  // Chunked: the limit applies as the body arrives.
    TestHttpClient client(server->port());
    ASSERT_TRUE(client.Send(absl::StrCat("POST / HTTP/1.1\r\nHost: t\r\n",
                                         "Transfer-Encoding: chunked\r\n\r\n", "7d0\r\n",
                                         std::string(2000, 'x'), "\r\n0\r\n\r\n")));
    std::optional<TestHttpResponse> response = client.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 413);
  }
  {  // At the limit is fine.
    TestHttpClient client(server->port());
    ASSERT_TRUE(client.Send(absl::StrCat(
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n", std::string(1000, 'y'))));
    EXPECT_EQ(client.ReadResponse()->status, 200);
  }
}

TEST(HttpServerTest, ExpectContinueGets100BeforeTheBody) {
  auto server = StartServer({}, EchoHandler);
  TestHttpClient client(server->port());
  ASSERT_TRUE(client.Send(
      "POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
  EXPECT_EQ(client.ReadUntil("\r\n\r\n"), "HTTP/1.1 100 Continue");
  ASSERT_TRUE(client.Send("data"));
  std::optional<TestHttpResponse> response = client.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "POST /up ? data");
}

TEST(HttpServerTest, HeadGetsHeadersWithoutBody) {
  auto server = StartServer({}, EchoHandler);
  TestHttpClient client(server->port());
  ASSERT_TRUE(client.Send("HEAD /thing HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::optional<TestHttpResponse> response = client.ReadResponse(/*head_request=*/true);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("content-length"), "14");  // of the body "HEAD /thing ? "
  // No body bytes followed: the next response parses cleanly.
  ASSERT_TRUE(client.Send("GET /next HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(client.ReadResponse()->body, "GET /next ? ");
}

TEST(HttpServerTest, ConnectionCloseIsHonoured) {
  auto server = StartServer({}, EchoHandler);
  TestHttpClient client(server->port());
  ASSERT_TRUE(client.Send("GET /bye HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  std::optional<TestHttpResponse> response = client.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->Header("connection"), "close");
  EXPECT_TRUE(client.ServerClosed());
}

TEST(HttpServerTest, TheLastRequestAConnectionMayCarryIsAnsweredWithConnectionClose) {
  auto server = StartServer({.max_requests_per_connection = 3}, EchoHandler);
  TestHttpClient client(server->port());
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(client.Send(kGet));
    std::optional<TestHttpResponse> response = client.ReadResponse();
    ASSERT_TRUE(response.has_value()) << "request " << i;
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->Header("connection"), i < 3 ? "" : "close") << "request " << i;
  }
  EXPECT_TRUE(client.ServerClosed());
  // Pipelined past the limit: the third is answered, closing; the fourth is not read.
  TestHttpClient pipelined(server->port());
  ASSERT_TRUE(pipelined.Send(absl::StrCat(kGet, kGet, kGet, kGet)));
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(pipelined.ReadResponse().has_value()) << i;
  EXPECT_TRUE(pipelined.ServerClosed());
  HttpServer bad({.max_requests_per_connection = -1}, EchoHandler);
  EXPECT_THAT(bad.Start(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(HttpServerTest, Http10ClosesUnlessKeepAliveIsAsked) {
  auto server = StartServer({}, EchoHandler);
  {
    TestHttpClient client(server->port());
    ASSERT_TRUE(client.Send("GET /old HTTP/1.0\r\n\r\n"));
    std::optional<TestHttpResponse> response = client.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->body, "GET /old ? ");
    EXPECT_TRUE(client.ServerClosed());
  }
  {
    TestHttpClient client(server->port());
    ASSERT_TRUE(client.Send("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    std::optional<TestHttpResponse> response = client.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->Header("connection"), "keep-alive");
    ASSERT_TRUE(client.Send("GET /again HTTP/1.0\r\n\r\n"));
    EXPECT_EQ(client.ReadResponse()->body, "GET /again ? ");
  }
}

TEST(HttpServerTest, Http10StreamRunsToClose) {
  ExchangeQueue queue;
  auto server = StartServer({}, queue.Handler());
  TestHttpClient client(server->port());
  ASSERT_TRUE(client.Send("GET /s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto exchange = queue.Next();
  exchange->StartStream({});
  exchange->Write("a");
  exchange->Write("b");
  exchange->End();
  std::optional<TestHttpResponse> response = client.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->Header("transfer-encoding"), "");
  EXPECT_EQ(response->Header("connection"), "close");
  EXPECT_EQ(response->body, "ab");
}

TEST(HttpServerTest, DroppedExchangeIsAnswered500) {
  auto server = StartServer({}, [](std::shared_ptr<HttpExchange>) {});
  TestHttpClient client(server->port());
  ASSERT_TRUE(client.Send(kGet));
  std::optional<TestHttpResponse> response = client.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 500);
  EXPECT_THAT(response->body, HasSubstr("without answering"));
}

TEST(HttpServerTest, StopFiresClientGoneAndLateAnswersAreSafe) {
  ExchangeQueue queue;
  auto server = StartServer({.threads = 2}, queue.Handler());
  TestHttpClient a(server->port());
  TestHttpClient b(server->port());
  TestHttpClient idle(server->port());
  ASSERT_TRUE(a.Send(kGet));
  ASSERT_TRUE(b.Send(kGet));
  auto waiting = queue.Next();
  auto streaming = queue.Next();
  streaming->StartStream({});
  Notification waiting_gone, streaming_gone;
  waiting->OnClientGone([&] { waiting_gone.Notify(); });
  streaming->OnClientGone([&] { streaming_gone.Notify(); });
  server->Stop();
  EXPECT_TRUE(waiting_gone.HasBeenNotified());
  EXPECT_TRUE(streaming_gone.HasBeenNotified());
  server->Stop();  // idempotent
  // A loop thread answering after Stop, and even after the server is gone.
  waiting->Reply({.body = "late"});
  streaming->Write("late");
  server.reset();
  streaming->Write("later");
  streaming->End();
  EXPECT_TRUE(idle.ServerClosed());
}

TEST(HttpServerTest, TwoIoThreadsServeConnectionsConcurrently) {
  ExchangeQueue queue;
  Mutex mu;
  std::set<std::thread::id> threads;
  auto server = StartServer({.threads = 2}, [&](std::shared_ptr<HttpExchange> exchange) {
    {
      MutexLock lock(&mu);
      threads.insert(std::this_thread::get_id());
    }
    queue.Handler()(std::move(exchange));
  });
  TestHttpClient a(server->port());
  TestHttpClient b(server->port());
  ASSERT_TRUE(a.Send("GET /a HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(b.Send("GET /b HTTP/1.1\r\nHost: t\r\n\r\n"));
  // Both are in flight at once, one per thread (connections go round-robin).
  auto first = queue.Next();
  auto second = queue.Next();
  {
    MutexLock lock(&mu);
    EXPECT_EQ(threads.size(), 2u);
  }
  std::thread answer_a(
      [&] { (first->request().path == "/a" ? first : second)->Reply({.body = "A"}); });
  std::thread answer_b(
      [&] { (first->request().path == "/b" ? first : second)->Reply({.body = "B"}); });
  answer_a.join();
  answer_b.join();
  EXPECT_EQ(a.ReadResponse()->body, "A");
  EXPECT_EQ(b.ReadResponse()->body, "B");
}

TEST(HttpServerTest, ConnectionsBeyondTheLimitAreClosed) {
  ExchangeQueue queue;
  auto server = StartServer({.max_connections = 1}, queue.Handler());
  TestHttpClient first(server->port());
  ASSERT_TRUE(first.Send(kGet));
  auto exchange = queue.Next();  // the first connection is surely counted
  TestHttpClient second(server->port());
  EXPECT_TRUE(second.ServerClosed());
  exchange->Reply({.body = "still served"});
  EXPECT_EQ(first.ReadResponse()->body, "still served");
}

TEST(HttpServerTest, SilentClientsAreClosedAfterTheTimeouts) {
  // A request that stops half-way: closed after read_timeout.
  auto reading = StartServer(
      {.read_timeout = absl::Milliseconds(50), .idle_timeout = absl::Seconds(10)}, EchoHandler);
  TestHttpClient partial(reading->port());
  ASSERT_TRUE(partial.Send("GET / HTTP/1.1\r\nHo"));
  EXPECT_TRUE(partial.ServerClosed());
  // A kept-alive connection with nothing more to ask: closed after
  // idle_timeout. Its first request has a generous read_timeout, so a
  // stalled test thread cannot lose it.
  auto idling = StartServer(
      {.read_timeout = absl::Seconds(10), .idle_timeout = absl::Milliseconds(50)}, EchoHandler);
  TestHttpClient idle(idling->port());
  ASSERT_TRUE(idle.Send(kGet));
  ASSERT_TRUE(idle.ReadResponse().has_value());
  EXPECT_TRUE(idle.ServerClosed());
}

TEST(HttpServerTest, StartErrorsNameTheAddress) {
  HttpServer bad_address({.address = "127.0.0.1"}, EchoHandler);
  EXPECT_THAT(bad_address.Start(), StatusIs(absl::StatusCode::kInvalidArgument));
  HttpServer bad_threads({.threads = 0}, EchoHandler);
  EXPECT_THAT(bad_threads.Start(), StatusIs(absl::StatusCode::kInvalidArgument));
  auto server = StartServer({}, EchoHandler);
  std::string taken = absl::StrCat("127.0.0.1:", server->port());
  HttpServer clash({.address = taken}, EchoHandler);
  absl::Status status = clash.Start();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(status.message()), HasSubstr(taken));
  EXPECT_THAT(server->Start(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(HttpServerTest, ListensOnIpv6Loopback) {
  HttpServer server({.address = "[::1]:0"}, EchoHandler);
  absl::Status status = server.Start();
  if (!status.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << status;
  EXPECT_GT(server.port(), 0);
}

}  // namespace
}  // namespace fanout
