// sluice logs job <name> <run-id>: prints a Glue job run's output (and error) log from a
// running server. sluice logs function <name>: a Lambda function's log streams.
#include <cstdlib>
#include <cstdio>
#include <iostream>

#include "CLI/CLI.hpp"
#include "cmd/api_client.h"
#include "cmd/commands.h"
#include "http/message.h"

namespace sluice {

int RunLogs(int argc, char** argv) {
  CLI::App app{"Print the logs of a Glue job run from a running Sluice server.", "sluice logs"};
  std::string kind, name, run_id, endpoint = "http://127.0.0.1:4566", stream = "all";
  app.add_option("kind", kind, "what ran: job or function")->required()->check(CLI::IsMember({"job", "function"}));
  app.add_option("name", name, "the job's or the Lambda function's name")->required();
  app.add_option("run-id", run_id, "the run (jr_...); default: the latest run");
  if (const char* env = std::getenv("AWS_ENDPOINT_URL"); env && *env) endpoint = env;
  app.add_option("--endpoint", endpoint, "the server (default: $AWS_ENDPOINT_URL, else http://127.0.0.1:4566)")
      ->capture_default_str();
  app.add_option("--stream", stream, "output, error or all")->check(CLI::IsMember({"output", "error", "all"}))->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (kind == "function") {
    // The function's log streams (log group /aws/lambda/<name>): START/END/REPORT and output.
    ApiClient lambda(endpoint, "lambda", "", "application/json");
    Json reply;
    std::string error;
    if (!lambda.CallRest("GET", "/sluice/2015-03-31/functions/" + UriEncode(name, false) + "/logs", &reply, &error)) {
      std::fprintf(stderr, "sluice logs: %s\n", error.c_str());
      return 1;
    }
    std::cout << reply.value("Log", "");
    return 0;
  }
  ApiClient glue(endpoint, "glue", "AWSGlue", "application/x-amz-json-1.1");
  Json reply;
  std::string error;
  if (run_id.empty()) {
    if (!glue.Call("GetJobRuns", {{"JobName", name}, {"MaxResults", 1}}, &reply, &error)) {
      std::fprintf(stderr, "sluice logs: %s\n", error.c_str());
      return 1;
    }
    if (reply["JobRuns"].empty()) {
      std::fprintf(stderr, "sluice logs: job %s has no runs yet; start one with aws glue start-job-run\n", name.c_str());
      return 1;
    }
    run_id = reply["JobRuns"][0].value("Id", "");
  }
  for (const char* s : {"output", "error"}) {
    if (stream != "all" && stream != s) continue;
    // GetJobRunLogs is Sluice's own action until the CloudWatch Logs API carries these.
    if (!glue.Call("GetJobRunLogs", {{"JobName", name}, {"RunId", run_id}, {"Stream", s}}, &reply, &error)) {
      std::fprintf(stderr, "sluice logs: %s\n", error.c_str());
      return 1;
    }
    std::string text = reply.value("Log", "");
    if (stream == "all" && !text.empty()) std::cout << "== " << s << " ==\n";
    std::cout << text;
    if (!text.empty() && text.back() != '\n') std::cout << "\n";
  }
  return 0;
}

}  // namespace sluice
