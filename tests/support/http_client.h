// One HTTP/1.1 request per connection, for tests of routes: the request
// written out, the whole response read back (chunked bodies joined), on
// TestHttpClient (http_test_client.h), which tests of the wire use directly.
//
//   HttpResult r = HttpCall(port, "GET", "/v1/users/7");
//   EXPECT_EQ(r.status, 200);
//   EXPECT_EQ(r.headers["x-fanout-completed"], "true");
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/http_test_client.h"

namespace fanout::testing {

struct HttpResult {
  int status = 0;                              // 0: no answer (connection failed or closed).
  std::map<std::string, std::string> headers;  // Lower-case names.
  std::string body;
};

inline std::string HttpRequestText(const std::string& method, const std::string& target,
                                   const std::string& body,
                                   const std::vector<std::pair<std::string, std::string>>& headers,
                                   bool close = true) {
  std::string text = absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  if (close) text += "Connection: close\r\n";
  for (const auto& [name, value] : headers) absl::StrAppend(&text, name, ": ", value, "\r\n");
  if (!body.empty() || method == "POST" || method == "PATCH" || method == "PUT") {
    absl::StrAppend(&text, "Content-Type: application/json\r\nContent-Length: ", body.size(),
                    "\r\n");
  }
  return absl::StrCat(text, "\r\n", body);
}

inline HttpResult HttpCall(int port, const std::string& method, const std::string& target,
                           const std::string& body = "",
                           const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  TestHttpClient client(port);
  if (!client.connected() || !client.Send(HttpRequestText(method, target, body, headers)))
    return {};
  std::optional<TestHttpResponse> response = client.ReadResponse(method == "HEAD");
  if (!response) return {};
  HttpResult result{.status = response->status, .body = std::move(response->body)};
  for (auto& [name, value] : response->headers) result.headers.emplace(name, std::move(value));
  return result;
}

}  // namespace fanout::testing
