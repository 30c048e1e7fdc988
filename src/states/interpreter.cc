#include "states/interpreter.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "base/strings.h"
#include "states/language.h"

namespace sluice::states {
namespace {

constexpr int kMaxDepth = 16;
constexpr int kMaxParallelism = 40;

std::string Iso(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone()); }

// Whether an error matches one ErrorEquals name: States.ALL matches everything but
// States.Runtime errors; States.TaskFailed matches task errors but not States.Timeout.
bool Matches(const std::string& pattern, const std::string& error) {
  if (pattern == error) return true;
  if (pattern == "States.ALL") return error != "States.Runtime" && error != "States.DataLimitExceeded";
  // The AWS SDKs' base exception of a service ("Glue.AWSGlueException") covers all its errors.
  if (pattern.ends_with("Exception") && pattern.find(".AWS") != std::string::npos) {
    std::string service = pattern.substr(0, pattern.find('.') + 1);
    return error.starts_with(service);
  }
  if (pattern == "States.TaskFailed") {
    return error != "States.Timeout" && error != "States.Runtime" && error != "States.HeartbeatTimeout" &&
           !error.starts_with("States.Branch") && error != "States.NoChoiceMatched";
  }
  return false;
}

bool MatchesAny(const Json& error_equals, const std::string& error) {
  for (const auto& e : error_equals) {
    if (e.is_string() && Matches(e.get<std::string>(), error)) return true;
  }
  return false;
}

std::string TypePrefix(const std::string& type) { return type; }

// Nesting depth of `doc`, counted without recursion; stops counting past `limit`.
int Depth(const Json& doc, int limit) {
  int deepest = 0;
  std::vector<std::pair<const Json*, int>> todo = {{&doc, 1}};
  while (!todo.empty()) {
    auto [j, d] = todo.back();
    todo.pop_back();
    if (!j->is_structured()) continue;
    deepest = std::max(deepest, d);
    if (deepest > limit) return deepest;
    for (const auto& child : *j) todo.emplace_back(&child, d + 1);
  }
  return deepest;
}

// Runs `f` on a branch / iteration thread: an exception (a bug) fails the branch with
// States.Runtime instead of ending the process.
absl::StatusOr<Json> Guarded(const std::function<absl::StatusOr<Json>()>& f) {
  try {
    return f();
  } catch (const std::exception& ex) {
    return StatesError("States.Runtime", StrCat("Internal error: ", ex.what()));
  } catch (...) {
    return StatesError("States.Runtime", "Internal error");
  }
}

}  // namespace

absl::Status CheckStateData(const Json& data, const std::string& what) {
  // Deeper documents could not come back in through any API (and recursive walks of them
  // could exhaust a thread's stack), so a machine that builds one fails, as one that outgrows
  // the 256 KiB payload quota does.
  if (Depth(data, kMaxStateDataDepth) > kMaxStateDataDepth) {
    return StatesError("States.DataLimitExceeded",
                       StrCat(what, " nests deeper than the maximum of ", kMaxStateDataDepth, " levels"));
  }
  size_t bytes = data.dump(-1, ' ', false, Json::error_handler_t::replace).size();
  if (bytes > kMaxStateDataBytes) {
    return StatesError("States.DataLimitExceeded",
                       StrCat(what, " is ", bytes, " bytes, larger than the maximum of ", kMaxStateDataBytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> Interpreter::Run(const Json& input, Json& context, const std::string& start_at, int depth) {
  if (depth > kMaxDepth) return StatesError("States.Runtime", "State machines nest too deeply");
  static const Json kNoStates = Json::object();
  const Json& states = machine_.contains("States") ? machine_["States"] : kNoStates;
  std::string name = start_at.empty() ? machine_.value("StartAt", "") : start_at;
  Json data = input;
  for (;;) {
    if (hooks_.stopped && hooks_.stopped()) return absl::CancelledError("The execution was stopped");
    if (!states.contains(name)) return StatesError("States.Runtime", StrCat("State ", name, " does not exist"));
    if (depth == 0 && hooks_.checkpoint) hooks_.checkpoint(name, data);
    std::string next;
    ASSIGN_OR_RETURN(data, Step(name, states[name], data, context, &next, depth));
    RETURN_IF_ERROR(CheckStateData(data, StrCat("The output of state '", name, "'")));
    if (next.empty()) return data;
    name = next;
  }
}

absl::StatusOr<Json> Interpreter::Step(const std::string& name, const Json& state, const Json& input, Json& context,
                                       std::string* next, int depth) {
  std::string type = state.value("Type", "");
  // $$.State costs a timestamp per state: kept only for machines that can read it (and for
  // the task hook, which names the state).
  if (reads_context_ || type == "Task") {
    context["State"] = {{"Name", name}, {"EnteredTime", Iso(absl::Now())}, {"RetryCount", 0}};
  }
  if (hooks_.event) hooks_.event(StrCat(TypePrefix(type), "StateEntered"), {{"name", name}, {"input", input.dump(-1, ' ', false, Json::error_handler_t::replace)}});
  *next = state.value("Next", "");

  // Failures of the state's own work may be retried and caught; the rest fail the state.
  auto finish = [&](const Json& output) -> absl::StatusOr<Json> {
    if (type != "Fail" && hooks_.event) hooks_.event(StrCat(TypePrefix(type), "StateExited"), {{"name", name}, {"output", output.dump(-1, ' ', false, Json::error_handler_t::replace)}});
    return output;
  };

  if (type == "Fail") {
    std::string error = state.value("Error", ""), cause = state.value("Cause", "");
    if (state.contains("ErrorPath")) {
      ASSIGN_OR_RETURN(Json e, SelectPath(input, state["ErrorPath"].get<std::string>(), context, "ErrorPath"));
      error = e.is_string() ? e.get<std::string>() : e.dump(-1, ' ', false, Json::error_handler_t::replace);
    }
    if (state.contains("CausePath")) {
      ASSIGN_OR_RETURN(Json c, SelectPath(input, state["CausePath"].get<std::string>(), context, "CausePath"));
      cause = c.is_string() ? c.get<std::string>() : c.dump(-1, ' ', false, Json::error_handler_t::replace);
    }
    *next = "";
    return StatesError(error, cause);
  }

  // InputPath (null: {}).
  Json effective = input;
  if (state.contains("InputPath")) {
    if (state["InputPath"].is_null()) {
      effective = Json::object();
    } else {
      ASSIGN_OR_RETURN(effective, SelectPath(input, state["InputPath"].get<std::string>(), context, "InputPath"));
    }
  }
  auto output_path = [&](const Json& doc) -> absl::StatusOr<Json> {
    if (!state.contains("OutputPath")) return doc;
    if (state["OutputPath"].is_null()) return Json::object();
    return SelectPath(doc, state["OutputPath"].get<std::string>(), context, "OutputPath");
  };

  if (type == "Choice") {
    *next = "";
    for (const auto& rule : state.value("Choices", Json::array())) {
      ASSIGN_OR_RETURN(bool hit, EvaluateChoiceRule(rule, effective, context));
      if (hit) {
        *next = rule.value("Next", "");
        break;
      }
    }
    if (next->empty()) {
      if (!state.contains("Default")) {
        return StatesError("States.NoChoiceMatched", StrCat("No Choice Rule matched and no Default state in ", name));
      }
      *next = state["Default"].get<std::string>();
    }
    ASSIGN_OR_RETURN(Json out, output_path(effective));
    return finish(out);
  }
  if (type == "Wait") {
    absl::Time until = absl::Now();
    if (state.contains("Seconds")) {
      until += absl::Seconds(state["Seconds"].get<double>());
    } else if (state.contains("SecondsPath")) {
      ASSIGN_OR_RETURN(Json s, SelectPath(effective, state["SecondsPath"].get<std::string>(), context, "SecondsPath"));
      if (!s.is_number() || s.get<double>() < 0) {
        return StatesError("States.Runtime", "The SecondsPath parameter does not reference a valid non-negative number");
      }
      until += absl::Seconds(s.get<double>());
    } else {
      Json ts = state.value("Timestamp", Json());
      if (state.contains("TimestampPath")) {
        ASSIGN_OR_RETURN(ts, SelectPath(effective, state["TimestampPath"].get<std::string>(), context, "TimestampPath"));
      }
      absl::Time t;
      std::string err;
      if (!ts.is_string() || !absl::ParseTime(absl::RFC3339_full, ts.get<std::string>(), &t, &err)) {
        return StatesError("States.Runtime", "The TimestampPath parameter does not reference a valid ISO-8601 timestamp");
      }
      until = t;
    }
    if (!hooks_.sleep(until)) return absl::CancelledError("The execution was stopped");
    ASSIGN_OR_RETURN(Json out, output_path(effective));
    if (state.value("End", false)) *next = "";
    return finish(out);
  }
  if (type == "Succeed") {
    *next = "";
    ASSIGN_OR_RETURN(Json out, output_path(effective));
    return finish(out);
  }

  // Pass, Task, Parallel, Map: Parameters, the work (with Retry), ResultSelector,
  // ResultPath, OutputPath; Catch turns a failure into a transition.
  // A callback task's token exists before its Parameters are evaluated ($$.Task.Token).
  std::string resource = state.value("Resource", "");
  if (type == "Task" && (resource.ends_with(".waitForTaskToken") || resource.find(":activity:") != std::string::npos)) {
    context["Task"] = {{"Token", hooks_.new_token ? hooks_.new_token() : std::string("token")}};
  } else {
    context.erase("Task");
  }
  if (state.contains("Parameters") && type != "Map") {
    ASSIGN_OR_RETURN(effective, EvaluatePayloadTemplate(state["Parameters"], effective, context));
  }
  absl::StatusOr<Json> result;
  const Json& retriers = state.value("Retry", Json::array());
  std::vector<int> attempts(retriers.size(), 0);
  for (;;) {
    result = Execute(name, state, effective, input, context, depth);
    if (result.ok() || absl::IsCancelled(result.status())) break;
    std::string error = ErrorName(result.status());
    bool retried = false;
    for (size_t i = 0; i < retriers.size(); ++i) {
      const Json& r = retriers[i];
      if (!MatchesAny(r.value("ErrorEquals", Json::array()), error)) continue;
      int max_attempts = r.value("MaxAttempts", 3);
      if (attempts[i] >= max_attempts) break;  // the first matching retrier decides
      double interval = r.value("IntervalSeconds", 1.0) * std::pow(r.value("BackoffRate", 2.0), attempts[i]);
      if (r.contains("MaxDelaySeconds")) interval = std::min(interval, r["MaxDelaySeconds"].get<double>());
      if (r.value("JitterStrategy", "NONE") == "FULL") {
        static thread_local std::mt19937_64 rng(std::random_device{}());
        interval = std::uniform_real_distribution<double>(0, interval)(rng);
      }
      ++attempts[i];
      if (context.contains("State")) context["State"]["RetryCount"] = context["State"].value("RetryCount", 0) + 1;
      if (!hooks_.sleep(absl::Now() + absl::Seconds(interval))) return absl::CancelledError("The execution was stopped");
      retried = true;
      break;
    }
    if (!retried) break;
  }
  if (!result.ok()) {
    if (absl::IsCancelled(result.status())) return result.status();
    std::string error = ErrorName(result.status()), cause(result.status().message());
    for (const auto& c : state.value("Catch", Json::array())) {
      if (!MatchesAny(c.value("ErrorEquals", Json::array()), error)) continue;
      Json error_output = {{"Error", error}, {"Cause", cause}};
      Json result_path = c.contains("ResultPath") ? c["ResultPath"] : Json("$");
      ASSIGN_OR_RETURN(Json out, ApplyResultPath(input, error_output, result_path));
      *next = c.value("Next", "");
      if (hooks_.event) hooks_.event(StrCat(TypePrefix(type), "StateExited"), {{"name", name}, {"output", out.dump(-1, ' ', false, Json::error_handler_t::replace)}});
      return out;
    }
    return result.status();
  }
  Json value = std::move(*result);
  if (state.contains("ResultSelector")) {
    ASSIGN_OR_RETURN(value, EvaluatePayloadTemplate(state["ResultSelector"], value, context));
  }
  Json result_path = state.contains("ResultPath") ? state["ResultPath"] : Json("$");
  ASSIGN_OR_RETURN(Json merged, ApplyResultPath(input, value, result_path));
  ASSIGN_OR_RETURN(Json out, output_path(merged));
  if (state.value("End", false)) *next = "";
  return finish(out);
}

absl::StatusOr<Json> Interpreter::Execute(const std::string& name, const Json& state, const Json& effective,
                                          const Json& raw, Json& context, int depth) {
  std::string type = state.value("Type", "");
  if (type == "Pass") return state.contains("Result") ? state["Result"] : effective;
  if (type == "Parallel") return RunParallel(state, effective, context, depth);
  if (type == "Map") return RunMap(name, state, effective, raw, context, depth);
  if (type != "Task") return StatesError("States.Runtime", StrCat("Unknown state type ", type));
  std::string resource = state.value("Resource", "");
  double timeout = state.value("TimeoutSeconds", 99999999.0);
  if (state.contains("TimeoutSecondsPath")) {
    ASSIGN_OR_RETURN(Json t, SelectPath(raw, state["TimeoutSecondsPath"].get<std::string>(), context, "TimeoutSecondsPath"));
    if (t.is_number()) timeout = t.get<double>();
  }
  std::string resource_type = "lambda";
  if (resource.starts_with("arn:aws:states:::")) {
    std::string rest = resource.substr(strlen("arn:aws:states:::"));
    resource_type = rest.substr(0, rest.find(':'));
  }
  if (hooks_.event) hooks_.event("TaskScheduled", {{"resourceType", resource_type}, {"resource", resource},
                                 {"region", "us-east-1"}, {"parameters", effective.dump(-1, ' ', false, Json::error_handler_t::replace)}});
  if (hooks_.event) hooks_.event("TaskStarted", {{"resourceType", resource_type}, {"resource", resource}});
  double heartbeat = state.value("HeartbeatSeconds", 0.0);
  if (state.contains("HeartbeatSecondsPath")) {
    auto h = SelectPath(raw, state["HeartbeatSecondsPath"].get<std::string>(), context, "HeartbeatSecondsPath");
    if (h.ok() && h->is_number()) heartbeat = h->get<double>();
  }
  auto out = hooks_.task(resource, effective, context, absl::Now() + absl::Seconds(timeout), heartbeat);
  if (!out.ok()) {
    if (absl::IsCancelled(out.status())) return out.status();
    std::string error = ErrorName(out.status());
    if (hooks_.event) hooks_.event(error == "States.Timeout" || error == "States.HeartbeatTimeout" ? "TaskTimedOut" : "TaskFailed",
                 {{"resourceType", resource_type}, {"resource", resource}, {"error", error},
                  {"cause", std::string(out.status().message())}});
    return out.status();
  }
  if (absl::Status st = CheckStateData(*out, StrCat("The result of task state '", name, "'")); !st.ok()) {
    if (hooks_.event) hooks_.event("TaskFailed", {{"resourceType", resource_type}, {"resource", resource},
                                   {"error", ErrorName(st)}, {"cause", std::string(st.message())}});
    return st;
  }
  if (hooks_.event) hooks_.event("TaskSucceeded", {{"resourceType", resource_type}, {"resource", resource}, {"output", out->dump()}});
  return out;
}

absl::StatusOr<Json> Interpreter::RunParallel(const Json& state, const Json& input, const Json& context, int depth) {
  const Json& branches = state.value("Branches", Json::array());
  if (hooks_.event) hooks_.event("ParallelStateStarted", Json::object());
  std::vector<absl::StatusOr<Json>> results(branches.size(), Json());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < branches.size(); ++i) {
    threads.emplace_back([&, i] {
      results[i] = Guarded([&]() -> absl::StatusOr<Json> {
        Interpreter branch(branches[i], hooks_);
        Json branch_context = context;
        return branch.Run(input, branch_context, "", depth + 1);
      });
    });
  }
  for (auto& t : threads) t.join();
  Json out = Json::array();
  for (auto& r : results) {
    if (!r.ok()) {
      if (hooks_.event) hooks_.event("ParallelStateFailed", {{"error", ErrorName(r.status())}, {"cause", std::string(r.status().message())}});
      return r.status();
    }
    out.push_back(std::move(*r));
  }
  if (hooks_.event) hooks_.event("ParallelStateSucceeded", Json::object());
  return out;
}

absl::StatusOr<Json> Interpreter::RunMap(const std::string& name, const Json& state, const Json& input, const Json& raw,
                                         const Json& context, int depth) {
  // Items come from ItemReader (S3) or ItemsPath on the effective input.
  Json items;
  if (state.contains("ItemReader")) {
    if (!hooks_.read_items) return StatesError("States.Runtime", "ItemReader is not available here");
    ASSIGN_OR_RETURN(items, hooks_.read_items(state["ItemReader"], input));
  } else {
    ASSIGN_OR_RETURN(items, SelectPath(input, state.value("ItemsPath", "$"), context, "ItemsPath"));
  }
  if (!items.is_array()) {
    return StatesError("States.Runtime", StrCat("Map state ", name, ": ItemsPath must select an array, not ", items.dump(-1, ' ', false, Json::error_handler_t::replace)));
  }
  const Json& processor = state.contains("ItemProcessor") ? state["ItemProcessor"] : state.value("Iterator", Json::object());
  const Json* selector = state.contains("ItemSelector") ? &state["ItemSelector"]
                         : state.contains("Parameters") ? &state["Parameters"]
                                                        : nullptr;
  int concurrency = state.value("MaxConcurrency", 0);
  if (state.contains("MaxConcurrencyPath")) {
    auto c = SelectPath(raw, state["MaxConcurrencyPath"].get<std::string>(), context, "MaxConcurrencyPath");
    if (c.ok() && c->is_number_integer()) concurrency = c->get<int>();
  }
  if (concurrency <= 0 || concurrency > kMaxParallelism) concurrency = kMaxParallelism;
  double tolerated_pct = state.value("ToleratedFailurePercentage", 0.0);
  int64_t tolerated_count = state.value("ToleratedFailureCount", int64_t{0});
  if (hooks_.event) hooks_.event("MapStateStarted", {{"length", items.size()}});

  std::vector<absl::StatusOr<Json>> results(items.size(), Json());
  std::atomic<size_t> next{0};
  std::atomic<int64_t> failures{0};
  // One context object per worker thread (copying it, with the execution's input inside,
  // per item would make a Map quadratic); each item sets its Map.Item.
  auto worker = [&] {
    Json item_context = context;
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= items.size()) return;
      item_context["Map"] = {{"Item", {{"Index", i}, {"Value", items[i]}}}};
      absl::StatusOr<Json> item_input = items[i];
      if (selector) item_input = EvaluatePayloadTemplate(*selector, input, item_context);
      // Not under a lock: iterations' events commit together (the hook is thread-safe).
      if (hooks_.event) hooks_.event("MapIterationStarted", {{"name", name}, {"index", i}});
      if (item_input.ok()) {
        results[i] = Guarded([&]() -> absl::StatusOr<Json> {
          Interpreter iteration(processor, hooks_);
          return iteration.Run(*item_input, item_context, "", depth + 1);
        });
      } else {
        results[i] = item_input.status();
      }
      if (hooks_.event) hooks_.event(results[i].ok() ? "MapIterationSucceeded" : "MapIterationFailed", {{"name", name}, {"index", i}});
      if (!results[i].ok()) failures.fetch_add(1);
    }
  };
  std::vector<std::thread> threads;
  int n = std::min<int>(concurrency, static_cast<int>(items.size()));
  for (int t = 0; t < n; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  Json out = Json::array(), succeeded_items = Json::array(), failed_items = Json::array();
  int64_t failed = failures.load();
  bool tolerated = failed == 0 || (items.size() > 0 && (failed <= tolerated_count ||
                                                         100.0 * failed / items.size() <= tolerated_pct));
  for (size_t i = 0; i < results.size(); ++i) {
    auto& r = results[i];
    Json record = {{"Input", items[i].dump(-1, ' ', false, Json::error_handler_t::replace)}};
    if (r.ok()) {
      record["Output"] = r->dump();
      record["Status"] = "SUCCEEDED";
      succeeded_items.push_back(record);
      out.push_back(std::move(*r));
    } else if (!tolerated) {
      if (hooks_.event) hooks_.event("MapStateFailed", Json::object());
      if (state.contains("ToleratedFailurePercentage") || state.contains("ToleratedFailureCount")) {
        return StatesError("States.ExceedToleratedFailureThreshold",
                           StrCat(failed, " of ", items.size(), " items failed, more than the Map state tolerates"));
      }
      return r.status();
    } else {
      record["Error"] = ErrorName(r.status());
      record["Cause"] = std::string(r.status().message());
      record["Status"] = "FAILED";
      failed_items.push_back(record);
      out.push_back(Json{{"Error", ErrorName(r.status())}, {"Cause", std::string(r.status().message())}});
    }
  }
  if (state.contains("ResultWriter")) {
    // The results go to S3; the state's result says where, as AWS's does.
    if (!hooks_.write_results) return StatesError("States.Runtime", "ResultWriter is not available here");
    ASSIGN_OR_RETURN(out, hooks_.write_results(state["ResultWriter"], input, succeeded_items, failed_items));
  }
  if (hooks_.event) hooks_.event("MapStateSucceeded", Json::object());
  return out;
}

}  // namespace sluice::states
