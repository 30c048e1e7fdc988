#include "http/sigv4.h"

#include "base/time.h"
#include "io/checksum.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

// Signed by botocore's S3SigV4Auth at 2025-08-01T12:00:00Z with the key test/test.
HttpRequest BotocoreSignedPut() {
  HttpRequest r;
  r.method = "PUT";
  r.path = "/bucket/my%20key/a.txt";
  r.raw_query = "tagging=&x-id=PutObject";
  r.query = ParseQuery(r.raw_query);
  r.headers = {
      {"host", "127.0.0.1:4566"},
      {"content-type", "text/plain"},
      {"x-amz-date", "20250801T120000Z"},
      {"x-amz-content-sha256", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"},
      {"authorization",
       "AWS4-HMAC-SHA256 Credential=test/20250801/us-east-1/s3/aws4_request, "
       "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, "
       "Signature=39e19f77545286128542a2c895c025a492e139827601e1cd84fb95ed099a64ab"},
  };
  return r;
}

const absl::Time kSignedAt = *ParseAmzDate("20250801T120000Z");
const AccessKeys kKeys = {{"test", "test"}};

TEST(SigV4Test, AcceptsBotocoreSignature) {
  SigV4Auth auth;
  auto err = VerifySigV4(BotocoreSignedPut(), kKeys, kSignedAt + absl::Minutes(1), true, nullptr, &auth);
  ASSERT_FALSE(err) << err->code << ": " << err->message;
  EXPECT_EQ(auth.access_key, "test");
  EXPECT_EQ(auth.region, "us-east-1");
  EXPECT_EQ(auth.service, "s3");
  EXPECT_EQ(auth.payload_mode, PayloadMode::kSha256);
}

TEST(SigV4Test, RejectsTamperedRequest) {
  HttpRequest r = BotocoreSignedPut();
  r.path = "/bucket/other";
  SigV4Auth auth;
  auto err = VerifySigV4(r, kKeys, kSignedAt, true, nullptr, &auth);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, "SignatureDoesNotMatch");
  EXPECT_EQ(err->status, 403);
}

TEST(SigV4Test, RejectsWrongSecretAndUnknownKey) {
  SigV4Auth auth;
  auto err = VerifySigV4(BotocoreSignedPut(), {{"test", "other"}}, kSignedAt, true, nullptr, &auth);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, "SignatureDoesNotMatch");
  err = VerifySigV4(BotocoreSignedPut(), {{"AKIDOTHER", "x"}}, kSignedAt, true, nullptr, &auth);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, "InvalidAccessKeyId");
}

TEST(SigV4Test, RejectsSkewedClock) {
  SigV4Auth auth;
  auto err = VerifySigV4(BotocoreSignedPut(), kKeys, kSignedAt + absl::Minutes(16), true, nullptr, &auth);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, "RequestTimeTooSkewed");
}

TEST(SigV4Test, RejectsMalformedHeaderAndAnonymous) {
  HttpRequest r = BotocoreSignedPut();
  r.SetHeader("authorization", "AWS4-HMAC-SHA256 garbage");
  SigV4Auth auth;
  auto err = VerifySigV4(r, kKeys, kSignedAt, true, nullptr, &auth);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, "AuthorizationHeaderMalformed");
  r.headers.pop_back();
  err = VerifySigV4(r, kKeys, kSignedAt, true, nullptr, &auth);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, "AccessDenied");
}

TEST(SigV4Test, SignedRequestsVerify) {
  HttpRequest r;
  r.method = "POST";
  r.path = "/";
  r.headers = {{"host", "127.0.0.1:4566"}, {"content-type", "application/x-amz-json-1.1"},
               {"x-amz-target", "AmazonAthena.ListWorkGroups"}};
  SignSigV4(r, "test", "test", "us-east-1", "athena", kSignedAt, "{}");
  std::string sha = HexEncode(Sha256("{}"));
  SigV4Auth auth;
  auto err = VerifySigV4(r, kKeys, kSignedAt, false, &sha, &auth);
  EXPECT_FALSE(err) << err->message;
  EXPECT_EQ(auth.service, "athena");
  r.headers[2].second = "AmazonAthena.Other";
  EXPECT_TRUE(VerifySigV4(r, kKeys, kSignedAt, false, &sha, &auth));
}

TEST(SigV4Test, CredentialScopeRoutesByService) {
  auto scope = FindCredentialScope(BotocoreSignedPut());
  ASSERT_TRUE(scope);
  EXPECT_EQ(scope->service, "s3");
  EXPECT_EQ(scope->date, "20250801");
}

HttpRequest SignedJsonRequest(std::string_view body, const std::string& region = "us-east-1",
                              const std::string& service = "glue") {
  HttpRequest r;
  r.method = "POST";
  r.path = "/";
  r.headers = {{"host", "127.0.0.1:4566"}, {"content-type", "application/x-amz-json-1.1"},
               {"x-amz-target", "AWSGlue.GetDatabases"}};
  SignSigV4(r, "test", "test", region, service, kSignedAt, body);
  return r;
}

TEST(SigV4Test, UnsignedAmzHeadersAreRefused) {
  HttpRequest r = BotocoreSignedPut();
  r.headers.emplace_back("x-amz-meta-owner", "mallory");
  r.headers.emplace_back("x-amz-storage-class", "GLACIER");
  SigV4Auth auth;
  auto err = VerifySigV4(r, kKeys, kSignedAt, true, nullptr, &auth);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status, 403);
  EXPECT_EQ(err->code, "AccessDenied");
  EXPECT_EQ(err->message, "There were headers present in the request which were not signed");
  ASSERT_EQ(err->fields.size(), 1u);
  EXPECT_EQ(err->fields[0], std::make_pair(std::string("HeadersNotSigned"),
                                           std::string("x-amz-meta-owner, x-amz-storage-class")));
}

TEST(SigV4Test, OnlyS3MayLeaveThePayloadUnsigned) {
  std::string body = "{}";
  std::string sha = HexEncode(Sha256(body));
  SigV4Auth auth;
  HttpRequest r = SignedJsonRequest(body);
  EXPECT_FALSE(VerifySigV4(r, kKeys, kSignedAt, false, &sha, &auth));
  // The body's hash is what non-S3 services sign, whatever x-amz-content-sha256 claims.
  r.SetHeader("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
  auto err = VerifySigV4(r, kKeys, kSignedAt, false, &sha, &auth);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, "SignatureDoesNotMatch");
  // Without the body's hash a non-S3 request cannot be verified.
  r = SignedJsonRequest(body);
  err = VerifySigV4(r, kKeys, kSignedAt, false, nullptr, &auth);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, "SignatureDoesNotMatch");
}

TEST(SigV4Test, CredentialScopeMustNameRegionAndService) {
  HttpRequest r = SignedJsonRequest("{}", "eu-west-1");
  auto err = CheckCredentialScope(r, "us-east-1", "glue", false);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status, 403);
  EXPECT_NE(err->message.find("Credential should be scoped to a valid region"), std::string::npos);
  r = SignedJsonRequest("{}", "us-east-1", "athena");
  err = CheckCredentialScope(r, "us-east-1", "glue", false);
  ASSERT_TRUE(err);
  EXPECT_NE(err->message.find("Credential should be scoped to correct service: 'glue'"), std::string::npos);
  EXPECT_FALSE(CheckCredentialScope(SignedJsonRequest("{}"), "us-east-1", "glue", false));
  // S3 names the region it expects.
  err = CheckCredentialScope(BotocoreSignedPut(), "eu-central-1", "s3", true);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status, 400);
  EXPECT_EQ(err->code, "AuthorizationHeaderMalformed");
  EXPECT_EQ(err->message,
            "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-central-1'");
  EXPECT_FALSE(CheckCredentialScope(BotocoreSignedPut(), "us-east-1", "s3", true));
}

}  // namespace
}  // namespace sluice
