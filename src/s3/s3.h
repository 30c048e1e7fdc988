#pragma once

#include "http/router.h"
#include "s3/store.h"

// The S3 service: the REST-XML API over an ObjectStore. `store` must outlive the route.
namespace sluice {

ServiceRoute MakeS3Service(ObjectStore& store);

}  // namespace sluice
