#pragma once

#include "glue/catalog.h"
#include "glue/crawler.h"
#include "glue/data_quality.h"
#include "glue/jobs.h"
#include "http/router.h"

// The Glue service (awsJson1_1, X-Amz-Target AWSGlue.<Action>): the Data Catalog and its
// Crawlers, ETL Jobs (runs, bookmarks) and Data Quality, which must outlive the route.
namespace sluice {

ServiceRoute MakeGlueService(Catalog& catalog, Crawlers& crawlers, Jobs& jobs, DataQuality& dq);

}  // namespace sluice
