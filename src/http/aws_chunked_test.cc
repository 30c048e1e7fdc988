#include "http/aws_chunked.h"

#include "gtest/gtest.h"
#include "io/checksum.h"

namespace sluice {
namespace {

SigV4Auth UnsignedTrailerAuth() {
  SigV4Auth a;
  a.payload_mode = PayloadMode::kStreamingUnsignedTrailer;
  return a;
}

std::string DecodeAll(AwsChunkedDecoder& d, std::string_view body, size_t step,
                       std::optional<AwsError>* err) {
  std::string out;
  for (size_t i = 0; i < body.size() && !*err; i += step) {
    *err = d.Feed(body.substr(i, step), [&](std::string_view s) {
      out.append(s);
      return true;
    });
  }
  if (!*err) *err = d.Finish();
  return out;
}

TEST(AwsChunkedTest, DecodesUnsignedTrailerInAnySplit) {
  const std::string body =
      "5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
  for (size_t step : {1, 2, 3, 7, 100}) {
    SigV4Auth auth = UnsignedTrailerAuth();
    AwsChunkedDecoder d(auth);
    std::optional<AwsError> err;
    EXPECT_EQ(DecodeAll(d, body, step, &err), "hello world") << step;
    ASSERT_FALSE(err) << err->message;
    ASSERT_EQ(d.trailers().size(), 1u);
    EXPECT_EQ(d.trailers()[0].first, "x-amz-checksum-crc32");
    EXPECT_EQ(d.trailers()[0].second, "DUoRhQ==");
    EXPECT_EQ(d.decoded_size(), 11u);
  }
}

TEST(AwsChunkedTest, RejectsTruncatedAndOversizedChunks) {
  SigV4Auth auth = UnsignedTrailerAuth();
  {
    AwsChunkedDecoder d(auth);
    std::optional<AwsError> err;
    DecodeAll(d, "5\r\nhel", 100, &err);
    ASSERT_TRUE(err);
    EXPECT_EQ(err->code, "IncompleteBody");
  }
  {
    AwsChunkedDecoder d(auth);
    std::optional<AwsError> err;
    DecodeAll(d, "2\r\nhello\r\n0\r\n\r\n", 100, &err);
    ASSERT_TRUE(err);
  }
  {
    AwsChunkedDecoder d(auth);
    std::optional<AwsError> err;
    DecodeAll(d, "zz\r\n", 100, &err);
    ASSERT_TRUE(err);
  }
}

// Chunk signatures computed as the AWS documentation's example defines them.
TEST(AwsChunkedTest, VerifiesChunkSignatures) {
  SigV4Auth auth;
  auth.payload_mode = PayloadMode::kStreamingSigned;
  auth.amz_date = "20250801T120000Z";
  auth.scope = "20250801/us-east-1/s3/aws4_request";
  auth.signing_key = DeriveSigningKey("test", "20250801", "us-east-1", "s3");
  auth.signature = std::string(64, 'a');
  auto sign = [&](const std::string& prev, std::string_view data) {
    std::string sts = "AWS4-HMAC-SHA256-PAYLOAD\n" + auth.amz_date + "\n" + auth.scope + "\n" + prev +
                      "\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" +
                      HexEncode(Sha256(data));
    return HexEncode(HmacSha256(auth.signing_key, sts));
  };
  std::string s1 = sign(auth.signature, "hello");
  std::string s2 = sign(s1, "");
  std::string body = "5;chunk-signature=" + s1 + "\r\nhello\r\n0;chunk-signature=" + s2 + "\r\n\r\n";
  {
    AwsChunkedDecoder d(auth);
    std::optional<AwsError> err;
    EXPECT_EQ(DecodeAll(d, body, 4, &err), "hello");
    EXPECT_FALSE(err) << err->message;
  }
  {
    std::string tampered = body;
    tampered[tampered.find("hello")] = 'j';
    AwsChunkedDecoder d(auth);
    std::optional<AwsError> err;
    DecodeAll(d, tampered, 4, &err);
    ASSERT_TRUE(err);
    EXPECT_EQ(err->code, "SignatureDoesNotMatch");
  }
}

}  // namespace
}  // namespace sluice
