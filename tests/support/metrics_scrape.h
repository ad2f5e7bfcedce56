// Prometheus text in tests: parsed strictly, a test failure (with the text)
// when it does not parse.
//
//   PrometheusText before = ScrapeMetrics(admin_port);
//   ...
//   EXPECT_EQ(ScrapeMetrics(admin_port).Delta(before, "calls_total", {{"code", "OK"}}), 1);
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "tests/support/http_client.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/status_matchers.h"

namespace fanout::testing {

// `body` parsed; empty (and a failure) if it is not Prometheus text.
inline PrometheusText ParsedOrEmpty(const std::string& body) {
  absl::StatusOr<PrometheusText> text = ParsePrometheusText(body);
  EXPECT_THAT(text.status(), IsOk()) << body;
  return text.ok() ? *std::move(text) : PrometheusText{};
}

// GET /metrics on 127.0.0.1:`port`, parsed.
inline PrometheusText ScrapeMetrics(int port) {
  HttpResult result = HttpCall(port, "GET", "/metrics");
  EXPECT_EQ(result.status, 200);
  return ParsedOrEmpty(result.body);
}

}  // namespace fanout::testing
