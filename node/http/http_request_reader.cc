#include "node/http/http_request_reader.h"

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace fanout::http_internal {
namespace {

namespace asio = boost::asio;
namespace http = beast::http;

// A SyncReadStream over bytes in memory that ends in EOF: Beast's own read
// algorithms (the synchronous twins of the ones Connection awaits) run on it.
class MemoryStream {
 public:
  explicit MemoryStream(std::string_view bytes) : bytes_(bytes) {}

  template <typename MutableBuffers>
  size_t read_some(const MutableBuffers& buffers, beast::error_code& error) {
    if (bytes_.empty()) {
      error = asio::error::eof;
      return 0;
    }
    error = {};
    size_t n = asio::buffer_copy(buffers, asio::buffer(bytes_.data(), bytes_.size()));
    bytes_.remove_prefix(n);
    return n;
  }
  template <typename MutableBuffers>
  size_t read_some(const MutableBuffers& buffers) {
    beast::error_code error;
    size_t n = read_some(buffers, error);
    if (error) throw beast::system_error(error);
    return n;
  }

  std::string_view rest() const { return bytes_; }

 private:
  std::string_view bytes_;
};

}  // namespace

void LimitParser(const HttpServer::Options& options, RequestParser* parser) {
  parser->header_limit(static_cast<uint32_t>(
      std::min<size_t>(options.max_header_bytes, std::numeric_limits<uint32_t>::max())));
  parser->body_limit(options.max_body_bytes);
}

RequestRead CheckHeader(const RequestParser& parser, size_t header_bytes,
                        const HttpServer::Options& options) {
  if (header_bytes > options.max_header_bytes) {
    return {RequestRead::Outcome::kReject, 431,
            absl::StrCat("request header section exceeds the limit of ", options.max_header_bytes,
                         " bytes")};
  }
  const auto& header = parser.get();
  auto count = std::distance(header.begin(), header.end());
  if (count > options.max_headers) {
    return {
        RequestRead::Outcome::kReject, 431,
        absl::StrCat("request has ", count, " header fields; the limit is ", options.max_headers)};
  }
  return {};
}

RequestRead ClassifyReadError(const beast::error_code& error, const HttpServer::Options& options) {
  using Outcome = RequestRead::Outcome;
  // Closed, reset, timed out or stopped: nobody to tell.
  if (error.category() != http::make_error_code(http::error::end_of_stream).category() ||
      error == http::error::end_of_stream || error == http::error::partial_message) {
    return {Outcome::kClose};
  }
  if (error == http::error::header_limit) {
    return {Outcome::kReject, 431,
            absl::StrCat("request header section exceeds the limit of ", options.max_header_bytes,
                         " bytes")};
  }
  if (error == http::error::body_limit) {
    return {Outcome::kReject, 413,
            absl::StrCat("request body exceeds the limit of ", options.max_body_bytes, " bytes")};
  }
  return {Outcome::kReject, 400, absl::StrCat("malformed HTTP request: ", error.message())};
}

HttpRequest ToHttpRequest(http::request<http::string_body>&& request) {
  HttpRequest out;
  out.method = std::string(request.method_string());
  out.target = std::string(request.target());
  size_t question = out.target.find('?');
  out.path = out.target.substr(0, question);
  if (question != std::string::npos) out.query = out.target.substr(question + 1);
  for (const auto& field : request) {
    out.headers.emplace_back(absl::AsciiStrToLower(std::string(field.name_string())),
                             std::string(field.value()));
  }
  out.keep_alive = request.keep_alive();
  out.version = static_cast<int>(request.version());
  out.body = std::move(request.body());
  return out;
}

RequestRead ReadRequestFrom(std::string_view* bytes, const HttpServer::Options& options,
                            HttpRequest* request) {
  MemoryStream stream(*bytes);
  beast::flat_buffer buffer;
  RequestParser parser;
  LimitParser(options, &parser);
  // The steps of Connection::ReadRequest, without the timeouts and the
  // 100 Continue (which only writes).
  auto finish = [&](RequestRead read) {
    // Read but not parsed stays for the next request, as in Connection's buffer.
    std::string_view rest = stream.rest();
    bytes->remove_prefix(bytes->size() - rest.size() - buffer.size());
    return read;
  };
  beast::error_code error;
  size_t header_bytes = http::read_header(stream, buffer, parser, error);
  if (error) return finish(ClassifyReadError(error, options));
  if (RequestRead checked = CheckHeader(parser, header_bytes, options);
      checked.outcome != RequestRead::Outcome::kRequest) {
    return finish(std::move(checked));
  }
  if (!parser.is_done()) http::read(stream, buffer, parser, error);
  if (error) return finish(ClassifyReadError(error, options));
  if (RequestRead checked = CheckHeader(parser, header_bytes, options);
      checked.outcome != RequestRead::Outcome::kRequest) {
    return finish(std::move(checked));
  }
  *request = ToHttpRequest(parser.release());
  return finish({});
}

}  // namespace fanout::http_internal
