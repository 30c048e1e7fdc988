#pragma once

#include "glue/data_quality.h"
#include "glue/jobs.h"
#include "http/json_api.h"

// Private to glue/: the pieces the Glue API handler files share.
namespace sluice {

// Glue's error for a Status: NotFound -> EntityNotFoundException, AlreadyExists ->
// AlreadyExistsException, InvalidArgument -> InvalidInputException, else
// InternalServiceException.
JsonReply FromStatus(const absl::Status& st);
JsonReply Ok(Json body = Json::object());
JsonReply Missing(const char* field);
// Index-based pages of `items` under `name`: NextToken is the offset of the next item.
Json Page(std::vector<Json> items, const Json& in, const char* name);

// Jobs, job runs and bookmarks (job_handlers.cc).
JsonReply JobAction(Jobs& jobs, const std::string& action, const Json& in);
// Data Quality rulesets, evaluation runs and results (dq_handlers.cc).
JsonReply DataQualityAction(DataQuality& dq, const std::string& action, const Json& in);

}  // namespace sluice
