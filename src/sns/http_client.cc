#include "sns/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>

#include "base/strings.h"

namespace sluice::sns {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

template <class Stream>
int Exchange(Stream& stream, const HttpTarget& target,
             const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body) {
  bhttp::request<bhttp::string_body> r{bhttp::verb::post, target.path, 11};
  bool default_port = target.port == (target.tls ? "443" : "80");
  r.set(bhttp::field::host, default_port ? target.host : StrCat(target.host, ":", target.port));
  for (const auto& [k, v] : headers) r.set(k, v);
  r.set(bhttp::field::connection, "close");
  r.body() = body;
  r.prepare_payload();
  bhttp::write(stream, r);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buffer, res);
  return res.result_int();
}

}  // namespace

absl::StatusOr<HttpTarget> ParseHttpUrl(const std::string& url) {
  HttpTarget t;
  std::string_view rest = url;
  if (ConsumePrefix(&rest, "https://")) {
    t.tls = true;
  } else if (!ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError("not an http(s) URL");
  }
  size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  t.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (t.path.starts_with("?")) t.path = "/" + t.path;
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority = authority.substr(at + 1);
  if (authority.empty()) return absl::InvalidArgumentError("URL has no host");
  size_t colon = authority.rfind(':');
  if (authority.front() == '[') {  // [v6]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return absl::InvalidArgumentError("bad IPv6 host");
    t.host = std::string(authority.substr(1, close - 1));
    colon = authority.size() > close + 1 && authority[close + 1] == ':' ? close + 1 : std::string_view::npos;
  } else {
    t.host = std::string(authority.substr(0, colon));
  }
  t.port = colon == std::string_view::npos ? (t.tls ? "443" : "80") : std::string(authority.substr(colon + 1));
  int port = 0;
  if (t.host.empty() || !ParseNumber(t.port, &port) || port <= 0 || port > 65535) {
    return absl::InvalidArgumentError("bad host or port");
  }
  return t;
}

absl::StatusOr<int> HttpPost(const HttpTarget& target, const std::vector<std::pair<std::string, std::string>>& headers,
                             const std::string& body, absl::Duration timeout) {
  auto deadline = std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout));
  try {
    boost::asio::io_context ioc;
    tcp::resolver resolver(ioc);
    auto endpoints = resolver.resolve(target.host, target.port);
    if (!target.tls) {
      beast::tcp_stream stream(ioc);
      stream.expires_after(deadline);
      stream.connect(endpoints);
      int status = Exchange(stream, target, headers, body);
      beast::error_code ec;
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      return status;
    }
    ssl::context ctx(ssl::context::tls_client);
    ctx.set_default_verify_paths();
    ctx.set_verify_mode(ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    if (!SSL_set_tlsext_host_name(stream.native_handle(), target.host.c_str())) {
      return absl::UnavailableError("cannot set TLS server name");
    }
    stream.set_verify_callback(ssl::host_name_verification(target.host));
    beast::get_lowest_layer(stream).expires_after(deadline);
    beast::get_lowest_layer(stream).connect(endpoints);
    stream.handshake(ssl::stream_base::client);
    int status = Exchange(stream, target, headers, body);
    beast::error_code ec;
    stream.shutdown(ec);
    return status;
  } catch (const std::exception& e) {
    return absl::UnavailableError(StrCat("POST to ", target.host, ":", target.port, " failed: ", e.what()));
  }
}

}  // namespace sluice::sns
