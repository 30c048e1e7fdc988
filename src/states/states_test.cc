#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "states/interpreter.h"
#include "states/language.h"
#include "states/states.h"

namespace sluice {
namespace {

using states::Json;

std::string CasesDir() {
  std::string here = __FILE__;
  return here.substr(0, here.rfind('/')) + "/../../tests/states/cases";
}

// Task resources of the case files: echo, flaky (fails with Custom.Flaky until the
// given attempt), fail, and the seed's Glue and Redshift Data calls.
absl::StatusOr<Json> FakeTask(const std::string& resource, const Json& params, int* calls) {
  ++*calls;
  if (resource.ends_with(":function:echo")) return params;
  if (resource.ends_with(":function:flaky")) {
    if (*calls <= params.value("times", 0)) return states::StatesError("Custom.Flaky", "not yet");
    return Json{{"attempt", *calls}};
  }
  if (resource.ends_with(":function:fail")) return states::StatesError("Custom.Error", "it failed");
  if (resource == "arn:aws:states:::glue:startJobRun") return Json{{"JobRunId", "jr_1"}};
  if (resource == "arn:aws:states:::aws-sdk:redshift-data:executeStatement") return Json{{"Id", "stmt-1"}};
  return states::StatesError("States.TaskFailed", "unknown test resource " + resource);
}

TEST(StatesCases, EachCaseGivesItsOutputOrErrorAndHistory) {
  DIR* d = opendir(CasesDir().c_str());
  ASSERT_NE(d, nullptr) << CasesDir();
  int count = 0;
  while (dirent* entry = readdir(d)) {
    std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    std::ifstream f(CasesDir() + "/" + name + "/case.json");
    std::stringstream text;
    text << f.rdbuf();
    Json c = Json::parse(text.str(), nullptr, false);
    ASSERT_TRUE(c.is_object()) << name;
    ++count;
    std::vector<std::string> types = {"ExecutionStarted"};
    int calls = 0;
    std::mutex mu;
    states::Hooks hooks;
    hooks.event = [&](const std::string& type, Json) {
      std::lock_guard lock(mu);
      types.push_back(type);
    };
    hooks.task = [&](const std::string& r, const Json& p, const Json&, absl::Time, double) { return FakeTask(r, p, &calls); };
    hooks.sleep = [](absl::Time) { return true; };  // waits and retry intervals pass at once
    hooks.stopped = [] { return false; };
    Json context = {{"Execution", {{"Id", "arn:x"}, {"Name", "exec-1"}}}};
    states::Interpreter interpreter(c["definition"], hooks);
    auto out = interpreter.Run(c["input"], context);
    if (c.contains("error")) {
      ASSERT_FALSE(out.ok()) << name << ": " << out->dump();
      EXPECT_EQ(states::ErrorName(out.status()), c["error"].get<std::string>()) << name;
      if (c.contains("cause")) {
        EXPECT_EQ(std::string(out.status().message()), c["cause"].get<std::string>()) << name;
      }
      types.push_back("ExecutionFailed");
    } else {
      ASSERT_TRUE(out.ok()) << name << ": " << out.status();
      EXPECT_EQ(*out, c["output"]) << name << ": " << out->dump();
      types.push_back("ExecutionSucceeded");
    }
    if (c.contains("events")) {
      EXPECT_EQ(Json(types), c["events"]) << name;
    }
  }
  closedir(d);
  EXPECT_GE(count, 10);
}

}  // namespace
}  // namespace sluice
