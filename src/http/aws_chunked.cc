#include "http/aws_chunked.h"

#include "base/strings.h"

namespace sluice {
namespace {

constexpr size_t kMaxLine = 4096;
constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

AwsError Malformed(std::string message) {
  return AwsError{400, "IncompleteBody", std::move(message), {}};
}

AwsError BadSignature(std::string message) {
  return AwsError{403, "SignatureDoesNotMatch", std::move(message), {}};
}

}  // namespace

AwsChunkedDecoder::AwsChunkedDecoder(const SigV4Auth& auth)
    : auth_(auth),
      signed_(auth.payload_mode == PayloadMode::kStreamingSigned ||
              auth.payload_mode == PayloadMode::kStreamingSignedTrailer),
      previous_signature_(auth.signature) {}

std::optional<AwsError> AwsChunkedDecoder::Feed(std::string_view raw, const Sink& sink) {
  while (!raw.empty()) {
    switch (state_) {
      case State::kSizeLine:
      case State::kTrailer:
      case State::kDataEnd: {
        auto nl = raw.find('\n');
        std::string_view piece = raw.substr(0, nl == std::string_view::npos ? raw.size() : nl);
        if (line_.size() + piece.size() > kMaxLine) return Malformed("aws-chunked line too long");
        line_.append(piece);
        if (nl == std::string_view::npos) return std::nullopt;
        raw.remove_prefix(nl + 1);
        std::string_view line = line_;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        std::optional<AwsError> err;
        if (state_ == State::kDataEnd) {
          if (!line.empty()) err = Malformed("aws-chunked data is longer than its declared size");
          state_ = State::kSizeLine;
        } else if (state_ == State::kSizeLine) {
          err = OnSizeLine(line);
        } else {
          err = OnTrailerLine(line);
        }
        line_.clear();
        if (err) return err;
        break;
      }
      case State::kData: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, raw.size()));
        std::string_view data = raw.substr(0, n);
        if (chunk_hash_) chunk_hash_->Update(data);
        remaining_ -= n;
        decoded_size_ += n;
        raw.remove_prefix(n);
        if (!sink(data)) return std::nullopt;
        if (remaining_ == 0) {
          if (signed_) {
            if (auto err = CheckChunkSignature()) return err;
          }
          state_ = State::kDataEnd;
        }
        break;
      }
      case State::kDone:
        // Bytes after the final CRLF: tolerate only whitespace.
        for (char c : raw) {
          if (c != '\r' && c != '\n') return Malformed("unexpected data after the final aws-chunked chunk");
        }
        return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<AwsError> AwsChunkedDecoder::OnSizeLine(std::string_view line) {
  std::string_view size_text = line.substr(0, line.find(';'));
  chunk_signature_.clear();
  auto semi = line.find(';');
  if (semi != std::string_view::npos) {
    std::string_view ext = line.substr(semi + 1);
    if (ConsumePrefix(&ext, "chunk-signature=")) chunk_signature_ = std::string(ext);
  }
  uint64_t size = 0;
  if (size_text.empty() || size_text.size() > 16 || !ParseNumber(size_text, &size, 16)) {
    return Malformed(StrCat("invalid aws-chunked chunk size '", size_text, "'"));
  }
  if (signed_ && chunk_signature_.empty()) {
    return BadSignature("aws-chunked chunk without a chunk-signature in a signed streaming upload");
  }
  if (signed_) chunk_hash_ = NewHasher(ChecksumAlgorithm::kSha256);
  remaining_ = size;
  if (size == 0) {
    if (signed_) {
      if (auto err = CheckChunkSignature()) return err;
    }
    last_chunk_ = true;
    state_ = State::kTrailer;
  } else {
    state_ = State::kData;
  }
  return std::nullopt;
}

std::optional<AwsError> AwsChunkedDecoder::CheckChunkSignature() {
  std::string string_to_sign =
      StrCat("AWS4-HMAC-SHA256-PAYLOAD\n", auth_.amz_date, "\n", auth_.scope, "\n",
                   previous_signature_, "\n", kEmptySha256, "\n", HexEncode(chunk_hash_->Finish()));
  chunk_hash_.reset();
  std::string expected = HexEncode(HmacSha256(auth_.signing_key, string_to_sign));
  if (expected != AsciiLower(chunk_signature_)) {
    return BadSignature("The chunk signature we calculated does not match the signature you provided.");
  }
  previous_signature_ = expected;
  return std::nullopt;
}

std::optional<AwsError> AwsChunkedDecoder::OnTrailerLine(std::string_view line) {
  if (line.empty()) {
    if (auth_.payload_mode == PayloadMode::kStreamingSignedTrailer && !trailers_.empty()) {
      std::string string_to_sign =
          StrCat("AWS4-HMAC-SHA256-TRAILER\n", auth_.amz_date, "\n", auth_.scope, "\n",
                       previous_signature_, "\n", HexEncode(Sha256(canonical_trailers_)));
      std::string expected = HexEncode(HmacSha256(auth_.signing_key, string_to_sign));
      if (expected != AsciiLower(trailer_signature_)) {
        return BadSignature("The trailer signature we calculated does not match the signature you provided.");
      }
    }
    state_ = State::kDone;
    return std::nullopt;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return Malformed("malformed aws-chunked trailer line");
  std::string name = AsciiLower(StripWhitespace(line.substr(0, colon)));
  std::string value(StripWhitespace(line.substr(colon + 1)));
  if (name == "x-amz-trailer-signature") {
    trailer_signature_ = value;
  } else {
    StrAppend(&canonical_trailers_, name, ":", value, "\n");
    trailers_.emplace_back(std::move(name), std::move(value));
  }
  return std::nullopt;
}

std::optional<AwsError> AwsChunkedDecoder::Finish() {
  // Some clients end the body right after the trailers without the final empty line.
  if (state_ == State::kTrailer && line_.empty() && last_chunk_) {
    if (auto err = OnTrailerLine("")) return err;
  }
  if (state_ != State::kDone) return Malformed("The request body ended before the final aws-chunked chunk.");
  return std::nullopt;
}

}  // namespace sluice
