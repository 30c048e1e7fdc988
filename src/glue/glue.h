#pragma once

#include "glue/catalog.h"
#include "glue/crawler.h"
#include "http/router.h"

// The Glue service (awsJson1_1, X-Amz-Target AWSGlue.<Action>) over a Catalog and its
// Crawlers, which must outlive the route.
namespace sluice {

ServiceRoute MakeGlueService(Catalog& catalog, Crawlers& crawlers);

}  // namespace sluice
