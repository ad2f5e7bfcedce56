// The bytes HttpServer writes, without sockets.
#include "node/http/http_wire.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/status_matchers.h"

namespace fanout::http_internal {
namespace {

using ::fanout::testing::IsOkAndHolds;
using ::fanout::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;
using Kind = HttpResponseEvent::Kind;

TEST(HttpWireTest, WholeResponseHasLengthAndBody) {
  HttpResponse response{.status = 404, .headers = {{"X-Id", "7"}}, .body = "{}"};
  EXPECT_EQ(SerializeResponse(response, {}),
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nX-Id: 7\r\n"
            "Content-Length: 2\r\n\r\n{}");
}

TEST(HttpWireTest, HeadAndBodylessStatusesCarryNoBody) {
  HttpResponse response{.body = "hello"};
  EXPECT_EQ(SerializeResponse(response, {.head = true}),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n");
  HttpResponse no_content{.status = 204, .content_type = "", .body = "ignored"};
  EXPECT_EQ(SerializeResponse(no_content, {}), "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(HttpWireTest, ConnectionHeaderFollowsTheClient) {
  EXPECT_THAT(SerializeResponse({}, {.keep_alive = false}), HasSubstr("Connection: close\r\n"));
  EXPECT_THAT(SerializeResponse({}, {.http10 = true}), HasSubstr("Connection: keep-alive\r\n"));
  EXPECT_THAT(SerializeResponse({}, {}), Not(HasSubstr("Connection:")));
}

TEST(HttpWireTest, HandlerHeadersCannotBreakTheFraming) {
  HttpResponse response{.headers = {{"Content-Length", "999"},
                                    {"transfer-encoding", "chunked"},
                                    {"Connection", "close"},
                                    {"X-Evil", "a\r\nSet-Cookie: x"},
                                    {"Bad Name", "v"},
                                    {"X-Good", "yes"}}};
  std::string bytes = SerializeResponse(response, {});
  EXPECT_THAT(bytes, HasSubstr("Content-Length: 0\r\n"));
  EXPECT_THAT(bytes, Not(HasSubstr("999")));
  EXPECT_THAT(bytes, Not(HasSubstr("chunked")));
  EXPECT_THAT(bytes, Not(HasSubstr("Connection")));
  EXPECT_THAT(bytes, Not(HasSubstr("Set-Cookie")));
  EXPECT_THAT(bytes, Not(HasSubstr("Bad Name")));
  EXPECT_THAT(bytes, HasSubstr("X-Good: yes\r\n"));
}

TEST(HttpWireTest, OutOfRangeStatusBecomes500) {
  EXPECT_THAT(SerializeResponse({.status = 42}, {}), HasSubstr("HTTP/1.1 500 "));
}

TEST(HttpWireTest, StreamIsChunkedForHttp11) {
  HttpFraming framing;
  ResponsePiece head = SerializeEvent({.kind = Kind::kStreamStart}, framing);
  EXPECT_EQ(head.bytes,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n");
  EXPECT_FALSE(head.last);
  ResponsePiece chunk =
      SerializeEvent({.kind = Kind::kChunk, .chunk = std::string(26, 'z')}, framing);
  EXPECT_EQ(chunk.bytes, "1a\r\n" + std::string(26, 'z') + "\r\n");
  ResponsePiece end = SerializeEvent({.kind = Kind::kStreamEnd}, framing);
  EXPECT_EQ(end.bytes, "0\r\n\r\n");
  EXPECT_TRUE(end.last);
  EXPECT_FALSE(end.close);
}

TEST(HttpWireTest, StreamRunsToCloseForHttp10AndIsEmptyForHead) {
  HttpFraming old = FramingFor({.keep_alive = true, .version = 10});
  EXPECT_THAT(SerializeEvent({.kind = Kind::kStreamStart}, old).bytes,
              AllOf(Not(HasSubstr("chunked")), HasSubstr("Connection: close")));
  EXPECT_EQ(SerializeEvent({.kind = Kind::kChunk, .chunk = "raw"}, old).bytes, "raw");
  EXPECT_TRUE(SerializeEvent({.kind = Kind::kStreamEnd}, old).close);
  HttpFraming head = FramingFor({.method = "HEAD"});
  EXPECT_EQ(SerializeEvent({.kind = Kind::kChunk, .chunk = "x"}, head).bytes, "");
  EXPECT_EQ(SerializeEvent({.kind = Kind::kStreamEnd}, head).bytes, "");
}

TEST(HttpWireTest, AbortClosesWithoutAnotherByte) {
  ResponsePiece abort = SerializeEvent({.kind = Kind::kAbort}, {});
  EXPECT_EQ(abort.bytes, "");
  EXPECT_TRUE(abort.last);
  EXPECT_TRUE(abort.close);
}

TEST(HttpWireTest, JsonErrorEscapes) {
  EXPECT_EQ(JsonErrorBody(400, "bad \"x\"\\\n\t"),
            "{\"code\": 400, \"message\": \"bad \\\"x\\\"\\\\\\n\\u0009\"}\n");
}

TEST(HttpWireTest, SplitHostPort) {
  EXPECT_THAT(SplitHostPort("127.0.0.1:80"),
              IsOkAndHolds(std::make_pair(std::string("127.0.0.1"), 80)));
  EXPECT_THAT(SplitHostPort("[::1]:0"), IsOkAndHolds(std::make_pair(std::string("::1"), 0)));
  EXPECT_THAT(SplitHostPort("localhost:8080"),
              IsOkAndHolds(std::make_pair(std::string("localhost"), 8080)));
  for (const char* bad : {"127.0.0.1", ":80", "h:99999", "h:x", "::1:80", "[::1:80"}) {
    EXPECT_THAT(SplitHostPort(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
}

}  // namespace
}  // namespace fanout::http_internal
