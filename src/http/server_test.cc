#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

#include "base/strings.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

// Throws from the step named by the request's X-Amz-Target action.
class ThrowingOperation : public Operation {
 public:
  explicit ThrowingOperation(std::string where) : where_(std::move(where)) {}
  bool OnBody(std::string_view) override {
    if (where_ == "OnBody") throw std::runtime_error("boom in OnBody");
    return true;
  }
  HttpResponse Finish() override {
    if (where_ == "Finish") throw std::runtime_error("boom in Finish");
    if (where_ == "FinishInt") throw 42;  // not even a std::exception
    HttpResponse r;
    r.body = "{}";
    return r;
  }

 private:
  std::string where_;
};

class ServerGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (AwsProtocol protocol : {AwsProtocol::kJson, AwsProtocol::kRestXml}) {
      ServiceRoute route;
      route.signing_name = protocol == AwsProtocol::kJson ? "glue" : "s3";
      route.protocol = protocol;
      route.raw_uri = protocol == AwsProtocol::kRestXml;
      if (protocol == AwsProtocol::kJson) route.target_prefixes = {"Boom"};
      route.handler = [](HttpRequest& req, const SigV4Auth&) -> std::unique_ptr<Operation> {
        std::string where = req.HeaderOr("x-amz-target", req.path.substr(1));
        where = where.substr(where.find('.') + 1);
        if (where == "Handler") throw std::logic_error("boom in the handler");
        return std::make_unique<ThrowingOperation>(where);
      };
      router_.AddService(std::move(route));
    }
    HttpServerOptions options;
    options.port = 0;
    options.worker_threads = 2;
    auto server = HttpServer::Start(options, router_, keys_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  // Sends one signed request; returns the raw response.
  std::string Send(const std::string& target, const std::string& path, const std::string& body) {
    HttpRequest r;
    r.method = "POST";
    r.path = path;
    r.headers = {{"host", "127.0.0.1"}};
    if (!target.empty()) r.headers.emplace_back("x-amz-target", target);
    SignSigV4(r, "test", "test", "us-east-1", target.empty() ? "s3" : "glue", absl::Now(), body);
    std::string text = StrCat("POST ", path, " HTTP/1.1\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n");
    for (const auto& [k, v] : r.headers) StrAppend(&text, k, ": ", v, "\r\n");
    StrAppend(&text, "\r\n", body);
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server_->port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return out;
  }

  Router router_;
  AccessKeys keys_ = {{"test", "test"}};
  std::unique_ptr<HttpServer> server_;
};

TEST_F(ServerGuardTest, ExceptionsInServicesAnswer500InTheCallersProtocol) {
  for (std::string where : {"Handler", "OnBody", "Finish", "FinishInt"}) {
    std::string json = Send("Boom." + where, "/", "{\"a\": 1}");
    EXPECT_EQ(json.rfind("HTTP/1.1 500", 0), 0u) << where << ": " << json;
    EXPECT_NE(json.find("\"__type\":\"InternalFailure\""), std::string::npos) << where << ": " << json;
    std::string xml = Send("", "/" + where, "<x/>");
    EXPECT_EQ(xml.rfind("HTTP/1.1 500", 0), 0u) << where << ": " << xml;
    EXPECT_NE(xml.find("<Code>InternalError</Code>"), std::string::npos) << where << ": " << xml;
  }
  // The server still answers.
  std::string ok = Send("Boom.Fine", "/", "{}");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
}

}  // namespace
}  // namespace sluice
