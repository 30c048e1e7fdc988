#include "cmd/api_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdlib>

#include "base/json.h"
#include "base/strings.h"
#include "http/sigv4.h"

namespace sluice {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = boost::asio::ip::tcp;

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

}  // namespace

ApiClient::ApiClient(const std::string& endpoint, std::string service, std::string target_prefix, std::string content_type)
    : service_(std::move(service)), target_prefix_(std::move(target_prefix)), content_type_(std::move(content_type)) {
  std::string_view ep = endpoint;
  ConsumePrefix(&ep, "http://");
  while (!ep.empty() && ep.back() == '/') ep.remove_suffix(1);
  auto colon = ep.rfind(':');
  host_ = std::string(ep.substr(0, colon));
  port_ = colon == std::string_view::npos ? "80" : std::string(ep.substr(colon + 1));
  access_key_ = Env("AWS_ACCESS_KEY_ID", "test");
  secret_ = Env("AWS_SECRET_ACCESS_KEY", "test");
  region_ = Env("AWS_DEFAULT_REGION", Env("AWS_REGION", "us-east-1"));
}

bool ApiClient::Call(const std::string& action, const Json& input, Json* out, std::string* error) {
  return Send("POST", "/", {{"x-amz-target", target_prefix_ + "." + action}}, input.dump(), out, error);
}

bool ApiClient::CallRest(const std::string& method, const std::string& path, Json* out, std::string* error) {
  return Send(method, path, {}, "", out, error);
}

bool ApiClient::Send(const std::string& method, const std::string& path, const HeaderList& headers,
                     const std::string& body, Json* out, std::string* error) {
  HttpRequest req;
  req.method = method;
  req.path = path;
  req.headers = {{"host", host_ + ":" + port_}, {"content-type", content_type_}};
  for (const auto& h : headers) req.headers.push_back(h);
  SignSigV4(req, access_key_, secret_, region_, service_, absl::Now(), body);
  try {
    boost::asio::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(resolver.resolve(host_, port_));
    bhttp::request<bhttp::string_body> r{bhttp::string_to_verb(method), path, 11};
    for (const auto& [k, v] : req.headers) r.set(k, v);
    r.body() = body;
    r.prepare_payload();
    bhttp::write(stream, r);
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(stream, buffer, res);
    *out = ParseJson(res.body());
    if (res.result_int() != 200) {
      std::string code = out->is_object() ? out->value("__type", "") : "";
      if (code.empty()) code = std::string(res["x-amzn-ErrorType"]);
      *error = out->is_object() ? StrCat(code.empty() ? "Error" : code, ": ", out->value("message", res.body()))
                                : res.body();
      return false;
    }
    return true;
  } catch (const std::exception& e) {
    *error = StrCat("cannot reach the server at http://", host_, ":", port_, " (", e.what(),
                    "); start it with `sluice server` or pass --endpoint");
    return false;
  }
}

}  // namespace sluice
