#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/aws_error.h"
#include "http/sigv4.h"
#include "io/checksum.h"

// Decodes an aws-chunked request body (Content-Encoding: aws-chunked), incrementally:
//   <hex size>[;chunk-signature=<sig>]\r\n<data>\r\n ... 0[;chunk-signature=<sig>]\r\n
//   [<trailer name>:<value>\r\n ...][x-amz-trailer-signature:<sig>\r\n]\r\n
// verifying each chunk signature (and the trailer signature) for the signed modes.
// See docs/formats/aws-chunked.md. Not thread-safe; one per request.
namespace sluice {

class AwsChunkedDecoder {
 public:
  // `auth` supplies the seed signature and signing key; it must outlive the decoder.
  explicit AwsChunkedDecoder(const SigV4Auth& auth);

  // Consumes raw body bytes; decoded payload bytes go to `sink` (which returns false to stop).
  // Returns an error on malformed framing or a bad signature.
  using Sink = std::function<bool(std::string_view)>;
  std::optional<AwsError> Feed(std::string_view raw, const Sink& sink);
  // The whole body was fed: checks that the framing ended properly.
  std::optional<AwsError> Finish();

  const HeaderList& trailers() const { return trailers_; }
  uint64_t decoded_size() const { return decoded_size_; }

 private:
  enum class State { kSizeLine, kData, kDataEnd, kTrailer, kDone };
  std::optional<AwsError> OnSizeLine(std::string_view line);
  std::optional<AwsError> OnTrailerLine(std::string_view line);
  std::optional<AwsError> CheckChunkSignature();

  const SigV4Auth& auth_;
  bool signed_;
  State state_ = State::kSizeLine;
  std::string line_;                 // partial line being assembled
  uint64_t remaining_ = 0;           // data bytes left in the current chunk
  bool last_chunk_ = false;
  std::string chunk_signature_;      // claimed signature of the current chunk
  std::string previous_signature_;
  std::unique_ptr<Hasher> chunk_hash_;
  HeaderList trailers_;
  std::string trailer_signature_;
  std::string canonical_trailers_;
  uint64_t decoded_size_ = 0;
};

}  // namespace sluice
