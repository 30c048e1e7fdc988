#pragma once

#include "http/router.h"
#include "s3/notifications.h"
#include "s3/store.h"

// The S3 service: the REST-XML API over an ObjectStore and its bucket notifications
// (optional), which must outlive the route.
namespace sluice {

ServiceRoute MakeS3Service(ObjectStore& store, Notifications* notifications = nullptr);

}  // namespace sluice
