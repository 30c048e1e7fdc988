#pragma once

#include <optional>

#include "absl/time/time.h"
#include "http/aws_error.h"
#include "http/message.h"
#include "http/sigv4.h"

// S3's legacy Signature Version 2: `Authorization: AWS <key>:<signature>` headers and
// presigned URLs with AWSAccessKeyId/Signature/Expires (older boto3 and the AWS CLI v1 still
// presign S3 URLs this way). HMAC-SHA1 over method, Content-MD5, Content-Type, date or
// Expires, x-amz-* headers and the resource with its sub-resources.
namespace sluice {

// True when `req` carries a SigV2 signature rather than a SigV4 one.
bool HasSigV2(const HttpRequest& req);

// Verifies like VerifySigV4; on success `out` has the access key and kUnsigned payload.
std::optional<AwsError> VerifySigV2(const HttpRequest& req, const AccessKeys& keys, absl::Time now, SigV4Auth* out);

}  // namespace sluice
