#include "http/server.h"

#include <sys/sendfile.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstring>
#include <limits>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "base/strings.h"
#include "base/time.h"
#include "http/aws_chunked.h"
#include "http/sigv2.h"
#include "io/checksum.h"
#include "spdlog/spdlog.h"

namespace sluice {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

constexpr auto kIdleTimeout = std::chrono::seconds(120);
constexpr auto kBodyTimeout = std::chrono::seconds(120);
constexpr size_t kBodyBuffer = 1 << 20;
constexpr size_t kDeferredAuthBodyLimit = 16 << 20;

// Runs `f` on `pool` and resumes the awaiting coroutine on its own executor with the result.
template <class F>
asio::awaitable<std::invoke_result_t<F>> Offload(asio::thread_pool& pool, F f) {
  using R = std::invoke_result_t<F>;
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(R)>(
      [&pool, f = std::move(f)](auto handler) mutable {
        asio::post(pool, [handler = std::move(handler), f = std::move(f)]() mutable {
          R result = f();
          auto ex = asio::get_associated_executor(handler);
          asio::post(ex, [handler = std::move(handler), result = std::move(result)]() mutable {
            std::move(handler)(std::move(result));
          });
        });
      },
      asio::use_awaitable);
}

std::string NewRequestId() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t boot = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  char buf[40];
  snprintf(buf, sizeof buf, "%08llX%08llX", static_cast<unsigned long long>(boot & 0xffffffff),
           static_cast<unsigned long long>(counter.fetch_add(1) + 1));
  return buf;
}

HttpRequest ToRequest(const bhttp::request<bhttp::buffer_body>& m) {
  HttpRequest r;
  r.method = std::string(m.method_string());
  r.target = std::string(m.target());
  auto q = r.target.find('?');
  r.path = r.target.substr(0, q);
  if (q != std::string::npos) r.raw_query = r.target.substr(q + 1);
  r.query = ParseQuery(r.raw_query);
  for (const auto& f : m) {
    r.headers.emplace_back(AsciiLower(std::string_view(f.name_string().data(), f.name_string().size())),
                           std::string(f.value()));
  }
  r.request_id = NewRequestId();
  r.received = absl::Now();
  return r;
}

// Carries one request through authentication, body decoding and its Operation.
// Lives on the session's coroutine frame; used from one worker at a time.
class Exchange {
 public:
  Exchange(HttpRequest req, const Router& router, const AccessKeys& keys, const std::string& region)
      : req_(std::move(req)), router_(router), keys_(keys), region_(region) {}

  // Routes and authenticates; a response when the request is answered without its body.
  // Prepare, Feed and Finish are the last-resort guard around the services: an exception
  // that escapes a service fails this one request with a 500 in the caller's protocol.
  std::optional<HttpResponse> Prepare() {
    try {
      return DoPrepare();
    } catch (...) {
      return Internal("Prepare", std::current_exception());
    }
  }

  bool Feed(std::string_view raw) {
    try {
      return DoFeed(raw);
    } catch (...) {
      internal_ = Internal("OnBody", std::current_exception());
      return false;
    }
  }

  HttpResponse Finish() {
    if (internal_) return std::move(*internal_);
    try {
      return DoFinish();
    } catch (...) {
      return Internal("Finish", std::current_exception());
    }
  }

  const HttpRequest& request() const { return req_; }
  bool stopped() const { return stopped_ || error_.has_value(); }

 private:
  AwsProtocol protocol() const { return CallerProtocol(req_, service_); }

  HttpResponse Internal(const char* where, std::exception_ptr e) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what = ex.what();
    } catch (...) {
    }
    spdlog::error("request id={} method={} path={} internal error in {}: {}", req_.request_id, req_.method,
                  req_.path.substr(0, 512), where, what);
    op_.reset();  // never called again
    stopped_ = true;
    return RenderError(protocol(), InternalAwsError(protocol()), req_.request_id);
  }

  std::optional<HttpResponse> DoPrepare() {
    if (const InternalHandler* h = router_.FindInternal(req_)) return (*h)(req_);
    std::string name;
    service_ = router_.FindService(req_, &name);
    if (!service_) return NotImplementedService(req_, name, router_.ServiceNames());
    if (const std::string* len = req_.Header("content-length")) {
      (void)ParseNumber(*len, &req_.content_length);
    }
    bool has_signature = req_.Header("authorization") || req_.HasQuery("X-Amz-Signature");
    // S3 names its payload in x-amz-content-sha256 (or presigns UNSIGNED-PAYLOAD); every
    // other service signs the body's own hash, so it is read before authentication.
    bool defer = has_signature && !HasSigV2(req_) &&
                 (!service_->raw_uri || (req_.Header("authorization") && !req_.Header("x-amz-content-sha256")));
    if (defer) {
      if (req_.content_length > BodyLimit()) return TooLarge();
      deferred_auth_ = true;  // the body's hash is part of the signature: read it first
      return std::nullopt;
    }
    return Authenticate(nullptr);
  }

  bool DoFeed(std::string_view raw) {
    if (error_ || (!deferred_auth_ && !op_)) return false;
    if (deferred_auth_) {
      if (deferred_body_.size() + raw.size() > BodyLimit()) {
        deferred_auth_ = false;
        internal_ = TooLarge();
        return false;
      }
      deferred_body_.append(raw);
      return true;
    }
    return FeedDecoded(raw);
  }

  HttpResponse DoFinish() {
    if (deferred_auth_ && !error_) {
      std::string sha = HexEncode(Sha256(deferred_body_));
      if (auto r = Authenticate(&sha)) return std::move(*r);
      deferred_auth_ = false;
      FeedDecoded(deferred_body_);
    }
    if (!error_ && decoder_ && !stopped_) {
      error_ = decoder_->Finish();
      if (!error_) {
        for (const auto& [k, v] : decoder_->trailers()) req_.SetHeader(k, v);
        uint64_t declared = 0;
        const std::string* d = req_.Header("x-amz-decoded-content-length");
        if (d && ParseNumber(*d, &declared) && declared != decoder_->decoded_size()) {
          error_ = AwsError{400, "IncompleteBody",
                            "The request body's length does not match x-amz-decoded-content-length.", {}};
        }
      }
    }
    if (!error_ && payload_hash_ && !stopped_) {
      if (HexEncode(payload_hash_->Finish()) != auth_.payload_sha256) {
        error_ = AwsError{400, "XAmzContentSHA256Mismatch",
                          "The provided 'x-amz-content-sha256' header does not match what was computed.", {}};
      }
    }
    if (error_) return RenderError(protocol(), *error_, req_.request_id);
    return op_->Finish();
  }

  // The most a request body to this service may hold before it is authenticated.
  uint64_t BodyLimit() const {
    return service_->body_limit ? std::min<uint64_t>(service_->body_limit, kDeferredAuthBodyLimit)
                                : kDeferredAuthBodyLimit;
  }

  HttpResponse TooLarge() {
    HttpResponse r = RenderError(protocol(),
                                 AwsError{413, "RequestEntityTooLarge",
                                          StrCat("The request body is larger than ", BodyLimit(), " bytes, ",
                                                 "the most this service accepts."), {}},
                                 req_.request_id);
    r.close = true;  // the rest of the body is not read
    return r;
  }

  std::optional<HttpResponse> Authenticate(const std::string* body_sha) {
    // S3 still accepts SigV2 (older SDKs presign S3 URLs with it); other services don't.
    std::optional<AwsError> err;
    if (service_->raw_uri && HasSigV2(req_)) {
      err = VerifySigV2(req_, keys_, absl::Now(), &auth_);
    } else {
      err = CheckCredentialScope(req_, region_, service_->signing_name, service_->raw_uri);
      if (!err) err = VerifySigV4(req_, keys_, absl::Now(), service_->raw_uri, body_sha, &auth_);
    }
    if (err) {
      // JSON services name a bad signature InvalidSignatureException.
      if (protocol() == AwsProtocol::kJson && err->code == "SignatureDoesNotMatch") {
        err->code = "InvalidSignatureException";
      }
      return RenderError(protocol(), *err, req_.request_id);
    }
    if (IsAwsChunked(auth_.payload_mode)) {
      decoder_ = std::make_unique<AwsChunkedDecoder>(auth_);
    } else if (auth_.payload_mode == PayloadMode::kSha256 && !body_sha) {
      payload_hash_ = NewHasher(ChecksumAlgorithm::kSha256);
    }
    op_ = service_->handler(req_, auth_);
    return std::nullopt;
  }

  bool FeedDecoded(std::string_view raw) {
    auto sink = [this](std::string_view data) {
      if (payload_hash_) payload_hash_->Update(data);
      if (!op_->OnBody(data)) stopped_ = true;
      return !stopped_;
    };
    if (!decoder_) return sink(raw);
    error_ = decoder_->Feed(raw, sink);
    return !error_ && !stopped_;
  }

  HttpRequest req_;
  const Router& router_;
  const AccessKeys& keys_;
  const std::string& region_;
  const ServiceRoute* service_ = nullptr;
  SigV4Auth auth_;
  std::unique_ptr<Operation> op_;
  std::unique_ptr<AwsChunkedDecoder> decoder_;
  std::unique_ptr<Hasher> payload_hash_;
  bool deferred_auth_ = false;
  std::string deferred_body_;
  std::optional<AwsError> error_;
  std::optional<HttpResponse> internal_;  // a service threw while fed the body
  bool stopped_ = false;
};

// Small file bodies are read into memory on the worker, which saves the sendfile trip.
void InlineSmallFile(HttpResponse& r) {
  constexpr uint64_t kInlineLimit = 256 << 10;
  if (!r.file.valid() || r.omit_body || r.file_length > kInlineLimit) return;
  std::string data(r.file_length, '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::pread(r.file.get(), data.data() + got, data.size() - got, static_cast<off_t>(r.file_offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // leave it to sendfile, which reports the failure
    got += static_cast<size_t>(n);
  }
  r.body = std::move(data);
  r.file = UniqueFd();
}

// Reads `length` bytes of `fd` at `offset` into `out`. False when the file ended early or
// could not be read.
bool ReadFileChunk(int fd, uint64_t offset, size_t length, std::string* out) {
  out->resize(length);
  size_t got = 0;
  while (got < length) {
    ssize_t n = ::pread(fd, out->data() + got, length - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

class ServerImpl final : public HttpServer {
 public:
  ServerImpl(const HttpServerOptions& o, const Router& router, const AccessKeys& keys)
      : options_(o), router_(router), keys_(keys), ioc_(o.io_threads), acceptor_(ioc_),
        pool_(o.worker_threads) {}

  ~ServerImpl() override { Stop(); }

  absl::Status Listen() {
    beast::error_code ec;
    auto address = asio::ip::make_address(options_.host, ec);
    if (ec) return absl::InvalidArgumentError(StrCat("invalid --host '", options_.host, "'"));
    tcp::endpoint ep(address, options_.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(StrCat("cannot listen on ", options_.host, ":", options_.port,
                                                 ": ", ec.message(),
                                                 " (is another server running? choose --port)"));
    }
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(ioc_, Accept(), asio::detached);
    for (int i = 0; i < options_.io_threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
    return absl::OkStatus();
  }

  uint16_t port() const override { return port_; }

  void Stop() override {
    if (stopping_.exchange(true)) {
      JoinAll();
      return;
    }
    asio::post(ioc_, [this] {
      beast::error_code ec;
      acceptor_.close(ec);
      std::lock_guard lock(mu_);
      for (auto* s : idle_) s->cancel();
    });
    {
      std::unique_lock lock(mu_);
      drained_.wait_for(lock, std::chrono::seconds(30), [this] { return sessions_ == 0; });
    }
    JoinAll();
  }

 private:
  void JoinAll() {
    std::lock_guard lock(join_mu_);
    ioc_.stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    pool_.join();
  }

  asio::awaitable<void> Accept() {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (stopping_) co_return;
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      {
        std::lock_guard lock(mu_);
        ++sessions_;
      }
      asio::co_spawn(acceptor_.get_executor(), Session(beast::tcp_stream(std::move(socket))),
                     [this](std::exception_ptr) {
                       std::lock_guard lock(mu_);
                       if (--sessions_ == 0) drained_.notify_all();
                     });
    }
  }

  void SetIdle(tcp::socket* s, bool idle) {
    std::lock_guard lock(mu_);
    if (idle) idle_.insert(s);
    else idle_.erase(s);
  }

  asio::awaitable<void> Session(beast::tcp_stream stream) {
    beast::flat_buffer buffer;
    std::string body(kBodyBuffer, '\0');
    for (;;) {
      bhttp::request_parser<bhttp::buffer_body> parser;
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());
      parser.header_limit(64 * 1024);
      beast::error_code ec;
      stream.expires_after(kIdleTimeout);
      SetIdle(&stream.socket(), true);
      if (stopping_) {
        SetIdle(&stream.socket(), false);
        break;
      }
      co_await bhttp::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      SetIdle(&stream.socket(), false);
      if (ec) {
        if (ec != bhttp::error::end_of_stream && ec != asio::error::operation_aborted &&
            ec != beast::error::timeout && ec != asio::error::connection_reset && !stopping_) {
          HttpResponse bad = RenderError(AwsProtocol::kRestXml,
                                         AwsError{400, "BadRequest", "Malformed HTTP request: " + ec.message(), {}},
                                         NewRequestId());
          bad.close = true;
          co_await Write(stream, bad, false, 0);
        }
        break;
      }
      auto started = std::chrono::steady_clock::now();
      Exchange ex(ToRequest(parser.get()), router_, keys_, options_.region);
      bool keep_alive = parser.get().keep_alive() && !stopping_;
      // A request without a body is answered in one trip to the worker pool. A client that
      // asked for 100-continue still gets it first: botocore waits for the interim answer
      // before it sends even an empty body, and otherwise misreads the final one.
      bool no_body = parser.is_done();
      if (no_body && parser.get()[bhttp::field::expect] == "100-continue") {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await asio::async_write(stream.socket(), asio::buffer(kContinue.data(), kContinue.size()),
                                   asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
      }
      std::optional<HttpResponse> early = co_await Offload(pool_, [&]() -> std::optional<HttpResponse> {
        std::optional<HttpResponse> r = ex.Prepare();
        if (!r && no_body) r = ex.Finish();
        if (r) InlineSmallFile(*r);
        return r;
      });
      HttpResponse response;
      if (early) {
        response = std::move(*early);
        if (!parser.is_done()) keep_alive = false;  // the body was not read
      } else {
        if (parser.get()[bhttp::field::expect] == "100-continue") {
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          co_await asio::async_write(stream.socket(), asio::buffer(kContinue.data(), kContinue.size()),
                                     asio::redirect_error(asio::use_awaitable, ec));
          if (ec) break;
        }
        bool reading = true;
        bool body_done = parser.is_done();
        std::optional<HttpResponse> finished;
        if (!body_done && !parser.chunked() && parser.content_length()) {
          // Content-Length bodies bypass the parser: whatever followed the header in the
          // read buffer, then socket reads straight into the 1 MiB body buffer, handed to
          // the worker pool one full buffer at a time.
          uint64_t left = *parser.content_length();
          while (reading && left > 0) {
            size_t filled = 0;
            size_t want = static_cast<size_t>(std::min<uint64_t>(left, body.size()));
            size_t buffered = std::min(want, buffer.size());
            if (buffered > 0) {
              std::memcpy(body.data(), buffer.data().data(), buffered);
              buffer.consume(buffered);
              filled = buffered;
            }
            while (filled < want) {
              stream.expires_after(kBodyTimeout);
              size_t n = co_await stream.async_read_some(asio::buffer(body.data() + filled, want - filled),
                                                         asio::redirect_error(asio::use_awaitable, ec));
              if (ec) break;
              filled += n;
            }
            if (ec) break;
            left -= filled;
            if (left == 0) {
              // The last piece and the answer in one trip.
              finished = co_await Offload(pool_, [&]() -> std::optional<HttpResponse> {
                ex.Feed(std::string_view(body.data(), filled));
                HttpResponse r = ex.Finish();
                InlineSmallFile(r);
                return r;
              });
              break;
            }
            reading = co_await Offload(pool_, [&] { return ex.Feed(std::string_view(body.data(), filled)); });
          }
          body_done = left == 0;
        } else {
          while (reading && !parser.is_done()) {
            parser.get().body().data = body.data();
            parser.get().body().size = body.size();
            stream.expires_after(kBodyTimeout);
            co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
            if (ec == bhttp::error::need_buffer) ec = {};
            if (ec) break;
            size_t n = body.size() - parser.get().body().size;
            if (n == 0) continue;
            reading = co_await Offload(pool_, [&] { return ex.Feed(std::string_view(body.data(), n)); });
          }
          body_done = parser.is_done();
        }
        if (ec) {
          spdlog::info("request id={} method={} path={} status=aborted reason=\"{}\"", ex.request().request_id,
                       ex.request().method, ex.request().path, ec.message());
          break;  // the client went away mid-body: nothing was acknowledged
        }
        if (!body_done) keep_alive = false;
        if (finished) {
          response = std::move(*finished);
        } else {
          response = co_await Offload(pool_, [&] {
            HttpResponse r = ex.Finish();
            InlineSmallFile(r);
            return r;
          });
        }
      }
      if (response.close) keep_alive = false;
      uint64_t bytes = response.omit_body ? 0 : response.BodyLength();
      int status = response.status;
      bool ok = co_await Write(stream, response, keep_alive, ex.request().request_id.empty());
      auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
      spdlog::info("request id={} method={} path={} status={} bytes={} ms={:.1f}{}", ex.request().request_id,
                   ex.request().method, ex.request().target.substr(0, 512), status, bytes, ms,
                   ok ? "" : " write=failed");
      if (!ok || !keep_alive) break;
    }
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  }

  // Writes the response on the I/O thread, never blocking on the network: a client that
  // stops reading loses its connection after options_.write_timeout without progress and
  // never holds a worker. File bodies go out with sendfile while the socket takes them; when
  // it is full, a 64 KiB piece is written through the stream, whose deadline bounds the wait.
  asio::awaitable<bool> Write(beast::tcp_stream& stream, HttpResponse& r, bool keep_alive, bool) {
    constexpr uint64_t kWaitChunk = 64 << 10;
    beast::error_code ec;
    stream.expires_after(options_.write_timeout);
    bhttp::response<bhttp::empty_body> head{static_cast<bhttp::status>(r.status), 11};
    head.set(bhttp::field::server, "Sluice");
    head.set(bhttp::field::date, FormatHttpDate(absl::Now()));
    for (const auto& [k, v] : r.headers) head.set(k, v);
    bool no_body_status = r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200);
    if (!no_body_status) head.set(bhttp::field::content_length, std::to_string(r.BodyLength()));
    head.keep_alive(keep_alive);
    bhttp::response_serializer<bhttp::empty_body> sr{head};
    co_await bhttp::async_write_header(stream, sr, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
    if (r.omit_body || no_body_status) co_return true;
    if (r.file.valid()) {
      // sendfile(2) on the non-blocking socket takes what the socket accepts now; when it is
      // full, the next piece goes through the stream, which waits for the reader with the
      // deadline. Neither ever blocks on the network.
      beast::error_code ignored;
      stream.socket().native_non_blocking(true, ignored);
      int sock = stream.socket().native_handle();
      int fd = r.file.get();
      off_t offset = static_cast<off_t>(r.file_offset);
      uint64_t left = r.file_length;
      std::string chunk;
      while (left > 0) {
        ssize_t n = ::sendfile(sock, fd, &offset, std::min<uint64_t>(left, 1ull << 30));
        if (n > 0) {
          left -= static_cast<uint64_t>(n);
          continue;
        }
        if (n == 0) co_return false;  // the file shrank: the connection must close
        if (errno == EINTR) continue;
        if (errno != EAGAIN) co_return false;
        size_t piece = static_cast<size_t>(std::min<uint64_t>(left, kWaitChunk));
        if (!ReadFileChunk(fd, static_cast<uint64_t>(offset), piece, &chunk)) co_return false;
        stream.expires_after(options_.write_timeout);
        co_await asio::async_write(stream, asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return false;
        offset += static_cast<off_t>(piece);
        left -= piece;
      }
      co_return true;
    }
    if (!r.body.empty()) {
      stream.expires_after(options_.write_timeout);
      co_await asio::async_write(stream, asio::buffer(r.body), asio::redirect_error(asio::use_awaitable, ec));
    }
    co_return !ec;
  }

  HttpServerOptions options_;
  const Router& router_;
  const AccessKeys& keys_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  asio::thread_pool pool_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable drained_;
  int sessions_ = 0;
  std::set<tcp::socket*> idle_;
  std::mutex join_mu_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                              const Router& router,
                                                              const AccessKeys& keys) {
  auto server = std::make_unique<ServerImpl>(options, router, keys);
  RETURN_IF_ERROR(server->Listen());
  return server;
}

}  // namespace sluice
