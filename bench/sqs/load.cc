// Load generator for bench/sqs/run.sh: signed AmazonSQS JSON-protocol requests on keep-alive
// connections, one thread per connection, for a fixed time (a C++ client, so that the client
// is not what is measured).
//
//   load HOST PORT CASE QUEUE_URL THREADS SECONDS
//
// CASE: health (GET /health, unsigned), noop (GetQueueUrl: a signed request answered from
// memory, the request path's ceiling), send, send-batch (10 per request), receive-delete
// (ReceiveMessage 1 + DeleteMessage), receive-delete-batch (ReceiveMessage 10 +
// DeleteMessageBatch). Prints one JSON line: requests, messages, errors, seconds.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string Hex(const unsigned char* d, size_t n) {
  static const char* k = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) out += k[d[i] >> 4], out += k[d[i] & 15];
  return out;
}
std::string Sha256Hex(const std::string& s) {
  unsigned char d[32];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  return Hex(d, 32);
}
std::string Hmac(const std::string& key, const std::string& data) {
  unsigned char d[32];
  unsigned int n = 32;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), d, &n);
  return std::string(reinterpret_cast<char*>(d), n);
}

struct Conn {
  std::string host;
  int port = 0;
  int fd = -1;
  std::string hostport;
  std::string key_date, key;

  bool Connect() {
    if (fd >= 0) close(fd);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, host.c_str(), &a.sin_addr);
    return connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  // Sends a request, returns the status (0 on a connection error) and the body.
  int Roundtrip(const std::string& req, std::string* body) {
    size_t off = 0;
    while (off < req.size()) {
      ssize_t n = write(fd, req.data() + off, req.size() - off);
      if (n <= 0) return 0;
      off += n;
    }
    std::string buf;
    char tmp[65536];
    size_t header_end;
    while ((header_end = buf.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = read(fd, tmp, sizeof tmp);
      if (n <= 0) return 0;
      buf.append(tmp, n);
    }
    int status = std::atoi(buf.c_str() + 9);
    size_t len = 0;
    size_t cl = buf.find("ontent-Length: ");
    if (cl == std::string::npos) cl = buf.find("ontent-length: ");
    if (cl != std::string::npos && cl < header_end) len = std::strtoul(buf.c_str() + cl + 15, nullptr, 10);
    while (buf.size() < header_end + 4 + len) {
      ssize_t n = read(fd, tmp, sizeof tmp);
      if (n <= 0) return 0;
      buf.append(tmp, n);
    }
    *body = buf.substr(header_end + 4, len);
    return status;
  }
  int Call(const std::string& action, const std::string& payload, std::string* body) {
    time_t now = time(nullptr);
    char amz[32], date[16];
    strftime(amz, sizeof amz, "%Y%m%dT%H%M%SZ", gmtime(&now));
    strftime(date, sizeof date, "%Y%m%d", gmtime(&now));
    if (key_date != date) {
      key_date = date;
      key = Hmac(Hmac(Hmac(Hmac("AWS4test", date), "us-east-1"), "sqs"), "aws4_request");
    }
    std::string target = "AmazonSQS." + action;
    std::string signed_headers = "content-type;host;x-amz-date;x-amz-target";
    std::string canonical = "POST\n/\n\ncontent-type:application/x-amz-json-1.0\nhost:" + hostport +
                            "\nx-amz-date:" + amz + "\nx-amz-target:" + target + "\n\n" + signed_headers + "\n" +
                            Sha256Hex(payload);
    std::string scope = std::string(date) + "/us-east-1/sqs/aws4_request";
    std::string sts = std::string("AWS4-HMAC-SHA256\n") + amz + "\n" + scope + "\n" + Sha256Hex(canonical);
    std::string sig = Hmac(key, sts);
    std::string req = "POST / HTTP/1.1\r\nHost: " + hostport +
                      "\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Date: " + amz +
                      "\r\nX-Amz-Target: " + target + "\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/" + scope +
                      ", SignedHeaders=" + signed_headers +
                      ", Signature=" + Hex(reinterpret_cast<const unsigned char*>(sig.data()), sig.size()) +
                      "\r\nContent-Length: " + std::to_string(payload.size()) + "\r\n\r\n" + payload;
    return Roundtrip(req, body);
  }
};

std::vector<std::string> Handles(const std::string& body) {
  std::vector<std::string> out;
  const std::string k = "\"ReceiptHandle\":\"";
  for (size_t p = body.find(k); p != std::string::npos; p = body.find(k, p)) {
    p += k.size();
    size_t e = body.find('"', p);
    out.push_back(body.substr(p, e - p));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: load HOST PORT CASE QUEUE_URL THREADS SECONDS\n");
    return 2;
  }
  std::string host = argv[1], kase = argv[3], url = argv[4];
  int port = std::atoi(argv[2]), threads = std::atoi(argv[5]);
  double seconds = std::atof(argv[6]);
  std::string name = url.substr(url.rfind('/') + 1);
  std::string body200(200, 'x');
  std::atomic<long> requests{0}, messages{0}, errors{0};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      Conn c;
      c.host = host;
      c.port = port;
      c.hostport = host + ":" + std::to_string(port);
      c.Connect();
      long req = 0, msgs = 0, errs = 0;
      std::string body;
      while (std::chrono::steady_clock::now() < deadline) {
        int st = 0;
        if (kase == "health") {
          st = c.Roundtrip("GET /health HTTP/1.1\r\nHost: " + c.hostport + "\r\n\r\n", &body);
          ++req;
        } else if (kase == "noop") {
          st = c.Call("GetQueueUrl", "{\"QueueName\":\"" + name + "\"}", &body);
          ++req;
        } else if (kase == "send") {
          st = c.Call("SendMessage", "{\"QueueUrl\":\"" + url + "\",\"MessageBody\":\"" + body200 + "\"}", &body);
          ++req;
          if (st == 200) ++msgs;
        } else if (kase == "send-batch") {
          std::string entries;
          for (int i = 0; i < 10; ++i) {
            entries += std::string(i ? "," : "") + "{\"Id\":\"" + std::to_string(i) + "\",\"MessageBody\":\"" +
                       body200 + "\"}";
          }
          st = c.Call("SendMessageBatch", "{\"QueueUrl\":\"" + url + "\",\"Entries\":[" + entries + "]}", &body);
          ++req;
          if (st == 200) msgs += 10;
        } else {
          int n = kase == "receive-delete-batch" ? 10 : 1;
          st = c.Call("ReceiveMessage",
                      "{\"QueueUrl\":\"" + url + "\",\"MaxNumberOfMessages\":" + std::to_string(n) + "}", &body);
          ++req;
          auto hs = Handles(body);
          if (st == 200 && !hs.empty()) {
            if (n == 1) {
              st = c.Call("DeleteMessage", "{\"QueueUrl\":\"" + url + "\",\"ReceiptHandle\":\"" + hs[0] + "\"}", &body);
            } else {
              std::string entries;
              for (size_t i = 0; i < hs.size(); ++i) {
                entries += std::string(i ? "," : "") + "{\"Id\":\"" + std::to_string(i) + "\",\"ReceiptHandle\":\"" +
                           hs[i] + "\"}";
              }
              st = c.Call("DeleteMessageBatch", "{\"QueueUrl\":\"" + url + "\",\"Entries\":[" + entries + "]}", &body);
            }
            ++req;
            if (st == 200) msgs += static_cast<long>(hs.size());
          }
        }
        if (st != 200) {
          ++errs;
          if (st == 0) c.Connect();
        }
      }
      requests += req;
      messages += msgs;
      errors += errs;
      close(c.fd);
    });
  }
  for (auto& t : ts) t.join();
  std::printf("{\"case\": \"%s\", \"requests\": %ld, \"messages\": %ld, \"errors\": %ld, \"seconds\": %g}\n",
              kase.c_str(), requests.load(), messages.load(), errors.load(), seconds);
  return 0;
}
