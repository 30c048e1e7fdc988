// Sluice's side of the in-process Step Functions benchmark (see bench/README.md,
// "Step Functions"): sluice::states::Interpreter with no-op hooks, driven by one thread.
//
//   engine_bench --workloads DIR --case NAME [--seconds S] [--warmup W] [--max-executions N]
//                [--history none|noop]
//
// Reads DIR/NAME.asl.json, .input.json and .expected.json (written by sfn_bench.py
// workloads, the same files the aws-local-stepfunctions baseline runs), checks that one run
// gives the expected output, runs untimed for W seconds, then runs executions one after
// another for S seconds or N executions. Each execution is what an EXPRESS execution costs
// the engine: a Run over the parsed definition with a fresh copy of the context object
// (which holds $$.Execution.Input, as the service's does), without history (see --history
// below).
// A Map state runs its iterations on its own threads (up to MaxConcurrency, 40 when
// unset), as it does in the server; cpu_seconds tells how much CPU that took.
// Prints one JSON object: executions, seconds, cpu_seconds.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "states/interpreter.h"

namespace {

using sluice::states::Json;

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Json ReadJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::exit(2);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  Json j = Json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) {
    std::fprintf(stderr, "%s is not JSON\n", path.c_str());
    std::exit(2);
  }
  return j;
}

// One execution: Run over a fresh copy of the context object (StepFunctions::Run makes one
// per execution), handed over by move when Run takes it by value, by reference otherwise.
template <typename I>
absl::StatusOr<Json> RunOnce(I& interpreter, const Json& input, const Json& context) {
  Json ctx = context;
  if constexpr (requires { interpreter.Run(input, std::move(ctx)); }) {
    return interpreter.Run(input, std::move(ctx));
  } else {
    return interpreter.Run(input, ctx);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, name, history = "none";
  double seconds = 3, warmup = 1;
  long long max_executions = 100000000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--workloads") dir = argv[i + 1];
    else if (k == "--case") name = argv[i + 1];
    else if (k == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (k == "--warmup") warmup = std::atof(argv[i + 1]);
    else if (k == "--max-executions") max_executions = std::atoll(argv[i + 1]);
    else if (k == "--history") history = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  if (dir.empty() || name.empty()) {
    std::fprintf(stderr, "usage: engine_bench --workloads DIR --case NAME [--seconds S] [--warmup W]\n");
    return 2;
  }
  const Json definition = ReadJson(dir + "/" + name + ".asl.json");
  const Json input = ReadJson(dir + "/" + name + ".input.json");
  const Json expected = ReadJson(dir + "/" + name + ".expected.json");

  // The hooks: none but what the engine needs, which also keeps this file independent of
  // their signatures. With --history none (the default) no event hook either, as the
  // service runs EXPRESS executions (no state-by-state history); --history noop installs
  // one that drops the events, so the engine still builds them (what a STANDARD execution
  // costs the engine before anything is written). A build whose interpreter calls the
  // event hook unconditionally gets the no-op one (reported as "event_hook").
  sluice::states::Hooks hooks;
  auto noop_event = [](const std::string&, Json) {};
  if (history == "noop") hooks.event = noop_event;
  // The context object an execution starts with, as StepFunctions::Run makes it.
  const Json context = {
      {"Execution",
       {{"Id", "arn:aws:states:us-east-1:000000000000:express:bench:run:0000"},
        {"Name", "run"},
        {"StartTime", "2026-01-01T00:00:00.000Z"},
        {"Input", input},
        {"RoleArn", ""}}},
      {"StateMachine", {{"Id", "arn:aws:states:us-east-1:000000000000:stateMachine:bench"}, {"Name", "bench"}}}};
  sluice::states::Interpreter interpreter(definition, hooks);
  auto run_once = [&]() -> bool {
    auto out = RunOnce(interpreter, input, context);
    if (!out.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), std::string(out.status().message()).c_str());
      return false;
    }
    if (*out != expected) {
      std::fprintf(stderr, "%s: unexpected output %.300s\n", name.c_str(), out->dump().c_str());
      return false;
    }
    return true;
  };
  bool ok = false;
  try {
    ok = run_once();
  } catch (const std::bad_function_call&) {
    history = "noop (required by this build)";
    hooks.event = noop_event;
    ok = run_once();
  }
  if (!ok) return 1;

  double until = Now() + warmup;
  while (Now() < until) RunOnce(interpreter, input, context).IgnoreError();

  double cpu0 = CpuSeconds();
  double t0 = Now();
  until = t0 + seconds;
  long long n = 0;
  while (n < max_executions && Now() < until) {
    auto out = RunOnce(interpreter, input, context);
    if (!out.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), std::string(out.status().message()).c_str());
      return 1;
    }
    ++n;
  }
  double elapsed = Now() - t0;
  double cpu = CpuSeconds() - cpu0;
  std::printf(
      "{\"system\":\"sluice-engine\",\"case\":\"%s\",\"executions\":%lld,\"seconds\":%.6f,\"cpu_seconds\":%.6f,"
      "\"event_hook\":\"%s\"}\n",
      name.c_str(), n, elapsed, cpu, history.c_str());
  return 0;
}
