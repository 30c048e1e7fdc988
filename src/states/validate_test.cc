#include "states/validate.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace sluice::states {
namespace {

std::set<std::string> ErrorCodes(const std::vector<Diagnostic>& diagnostics) {
  std::set<std::string> codes;
  for (const Diagnostic& d : diagnostics) {
    if (d.severity == kSeverityError) codes.insert(d.code);
  }
  return codes;
}

std::string Describe(const std::vector<Diagnostic>& diagnostics) {
  std::string out;
  for (const Diagnostic& d : diagnostics) {
    out += d.severity + " " + d.code + ": " + d.message + " @ '" + d.location + "'\n";
  }
  return out;
}

// Expects `definition` to be accepted without any diagnostic, warnings included.
void ExpectClean(const std::string& definition) {
  const std::vector<Diagnostic> diagnostics = ValidateDefinition(definition);
  EXPECT_TRUE(diagnostics.empty()) << Describe(diagnostics);
}

// The state machine of the seed document's section "6) Step Functions".
constexpr char kSeedDefinition[] = R"json({
  "Comment": "ETL Orchestration",
  "StartAt": "RunGlue",
  "States": {
    "RunGlue": {
      "Type": "Task",
      "Resource": "arn:aws:states:::glue:startJobRun",
      "Parameters": {"JobName": "etl-events"},
      "Retry": [{"ErrorEquals": ["Glue.AWSGlueException"], "MaxAttempts": 3}],
      "Next": "LoadToRedshift"
    },
    "LoadToRedshift": {
      "Type": "Task",
      "Resource": "arn:aws:states:::aws-sdk:redshift-data:executeStatement",
      "Parameters": {"Sql": "CALL sp_load_events();"},
      "End": true
    }
  }
})json";

TEST(ValidateDefinitionTest, SeedEtlOrchestrationIsValid) { ExpectClean(kSeedDefinition); }

// Examples in the style of the Step Functions developer guide.
TEST(ValidateDefinitionTest, HelloWorldIsValid) {
  ExpectClean(R"json({
    "Comment": "A Hello World example of the Amazon States Language using a Pass state",
    "StartAt": "HelloWorld",
    "States": {"HelloWorld": {"Type": "Pass", "Result": "Hello World!", "End": true}}
  })json");
}

TEST(ValidateDefinitionTest, ChoiceStateExampleIsValid) {
  ExpectClean(R"json({
    "StartAt": "ChoiceStateX",
    "States": {
      "ChoiceStateX": {
        "Type": "Choice",
        "Choices": [
          {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
          {"Variable": "$.value", "NumericEquals": 0, "Next": "ValueIsZero"},
          {"And": [
             {"Variable": "$.value", "NumericGreaterThanEquals": 20},
             {"Variable": "$.value", "NumericLessThan": 30}],
           "Next": "ValueInTwenties"},
          {"Or": [
             {"Variable": "$.when", "TimestampLessThan": "2016-03-14T01:59:00Z"},
             {"Variable": "$.when", "TimestampGreaterThanEqualsPath": "$.deadline"},
             {"Variable": "$.name", "StringMatches": "log-*.txt"},
             {"Variable": "$.flag", "IsPresent": false},
             {"Variable": "$$.Execution.Input.ok", "BooleanEquals": true}],
           "Next": "Public"}
        ],
        "Default": "DefaultState"
      },
      "Public": {"Type": "Pass", "Next": "ValueIsZero"},
      "ValueIsZero": {"Type": "Pass", "Next": "ValueInTwenties"},
      "ValueInTwenties": {"Type": "Pass", "Next": "DefaultState"},
      "DefaultState": {"Type": "Fail", "Error": "DefaultStateError", "Cause": "No Matches!"}
    }
  })json");
}

TEST(ValidateDefinitionTest, ParallelExampleIsValid) {
  ExpectClean(R"json({
    "Comment": "Parallel Example.",
    "StartAt": "LookupCustomerInfo",
    "States": {
      "LookupCustomerInfo": {
        "Type": "Parallel",
        "End": true,
        "Branches": [
          {"StartAt": "LookupAddress",
           "States": {"LookupAddress": {"Type": "Task",
             "Resource": "arn:aws:lambda:us-east-1:123456789012:function:AddressFinder",
             "End": true}}},
          {"StartAt": "LookupPhone",
           "States": {"LookupPhone": {"Type": "Task",
             "Resource": "arn:aws:lambda:us-east-1:123456789012:function:PhoneFinder",
             "End": true}}}
        ],
        "ResultSelector": {"address.$": "$[0]", "phone.$": "$[1]"},
        "ResultPath": "$.customer"
      }
    }
  })json");
}

TEST(ValidateDefinitionTest, RetryAndCatchExampleIsValid) {
  ExpectClean(R"json({
    "Comment": "A Hello World example with retriers and catchers",
    "StartAt": "HelloWorld",
    "States": {
      "HelloWorld": {
        "Type": "Task",
        "Resource": "arn:aws:lambda:us-east-1:123456789012:function:HelloFunction",
        "TimeoutSeconds": 300,
        "HeartbeatSeconds": 60,
        "Retry": [
          {"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 3, "MaxAttempts": 2,
           "BackoffRate": 1.5, "MaxDelaySeconds": 10, "JitterStrategy": "FULL"},
          {"ErrorEquals": ["States.ALL"], "Comment": "everything else"}
        ],
        "Catch": [
          {"ErrorEquals": ["java.lang.Exception"], "ResultPath": "$.error-info",
           "Next": "RecoveryState"},
          {"ErrorEquals": ["States.ALL"], "Next": "EndState"}
        ],
        "Next": "EndState"
      },
      "RecoveryState": {"Type": "Pass", "Next": "EndState"},
      "EndState": {"Type": "Succeed"}
    }
  })json");
}

TEST(ValidateDefinitionTest, WaitAndFailExamplesAreValid) {
  ExpectClean(R"json({
    "StartAt": "wait_ten_seconds",
    "States": {
      "wait_ten_seconds": {"Type": "Wait", "Seconds": 10, "Next": "wait_until"},
      "wait_until": {"Type": "Wait", "Timestamp": "2016-03-14T01:59:00.123+02:00",
                     "Next": "wait_path"},
      "wait_path": {"Type": "Wait", "TimestampPath": "$.expirydate", "Next": "wait_seconds"},
      "wait_seconds": {"Type": "Wait", "SecondsPath": "$$.Execution.Input.delay",
                       "Next": "FailState"},
      "FailState": {"Type": "Fail", "ErrorPath": "$.Error",
                    "CausePath": "States.Format('this is the cause: {}', $.Cause)"}
    }
  })json");
}

TEST(ValidateDefinitionTest, PassWithResultAndIntrinsicsIsValid) {
  ExpectClean(R"json({
    "StartAt": "No-op",
    "States": {
      "No-op": {
        "Type": "Pass",
        "Result": {"x-datum": 0.381018, "y-datum": 622.2269926397355},
        "ResultPath": "$.coords",
        "Next": "Build"
      },
      "Build": {
        "Type": "Pass",
        "InputPath": "$.coords",
        "Parameters": {
          "greeting.$": "States.Format('Hello, {} \\'{}\\'', $.name, $$.Execution.Name)",
          "id.$": "States.UUID()",
          "items.$": "States.Array('a', $.b, States.MathAdd(1, -2), null)",
          "parts.$": "States.StringSplit($.csv, ',')",
          "first.$": "$.list[0]",
          "cheap.$": "$.books[?(@.price < 10)].title",
          "static": {"nested": ["a", 1, true]}
        },
        "OutputPath": "$",
        "End": true
      }
    }
  })json");
}

TEST(ValidateDefinitionTest, InlineMapExampleIsValid) {
  ExpectClean(R"json({
    "StartAt": "ExampleMapState",
    "States": {
      "ExampleMapState": {
        "Type": "Map",
        "ItemsPath": "$.shipped",
        "MaxConcurrency": 0,
        "ItemSelector": {"ContextIndex.$": "$$.Map.Item.Index", "Item.$": "$$.Map.Item.Value"},
        "ItemProcessor": {
          "ProcessorConfig": {"Mode": "INLINE"},
          "StartAt": "CallLambda",
          "States": {
            "CallLambda": {
              "Type": "Task",
              "Resource": "arn:aws:states:::lambda:invoke",
              "OutputPath": "$.Payload",
              "Parameters": {
                "Payload.$": "$",
                "FunctionName": "arn:aws:lambda:us-east-2:123456789012:function:my-function:$LATEST"
              },
              "End": true
            }
          }
        },
        "ResultPath": "$.detail.shipped",
        "End": true
      }
    }
  })json");
}

TEST(ValidateDefinitionTest, LegacyIteratorMapIsValid) {
  ExpectClean(R"json({
    "StartAt": "Validate-All",
    "States": {
      "Validate-All": {
        "Type": "Map",
        "InputPath": "$.detail",
        "ItemsPath": "$.shipped",
        "MaxConcurrency": 2,
        "Parameters": {"parcel.$": "$$.Map.Item.Value"},
        "Iterator": {
          "StartAt": "Validate",
          "States": {"Validate": {"Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:ship-val", "End": true}}
        },
        "ResultPath": "$.detail.shipped",
        "End": true
      }
    }
  })json");
}

TEST(ValidateDefinitionTest, DistributedMapExampleIsValid) {
  ExpectClean(R"json({
    "Comment": "Process a CSV file of ratings with a Distributed Map",
    "StartAt": "Map",
    "States": {
      "Map": {
        "Type": "Map",
        "ItemReader": {
          "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW", "MaxItems": 100},
          "Resource": "arn:aws:states:::s3:getObject",
          "Parameters": {"Bucket": "amzn-s3-demo-bucket", "Key": "csvDataset/ratings.csv"}
        },
        "ItemBatcher": {"MaxItemsPerBatch": 10, "BatchInput": {"factor.$": "$.factor"}},
        "ItemProcessor": {
          "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
          "StartAt": "ProcessBatch",
          "States": {"ProcessBatch": {"Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "process", "Payload.$": "$"},
            "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"],
                       "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2}],
            "End": true}}
        },
        "MaxConcurrency": 1000,
        "Label": "Ratings",
        "ToleratedFailurePercentage": 5.5,
        "ResultWriter": {
          "Resource": "arn:aws:states:::s3:putObject",
          "Parameters": {"Bucket": "amzn-s3-demo-destination-bucket", "Prefix": "csvProcessJobs"}
        },
        "End": true
      }
    }
  })json");
}

TEST(ValidateDefinitionTest, ServiceIntegrationsActivitiesAndCredentialsAreValid) {
  ExpectClean(R"json({
    "StartAt": "Activity",
    "TimeoutSeconds": 3600,
    "Version": "1.0",
    "States": {
      "Activity": {"Type": "Task",
        "Resource": "arn:aws:states:us-east-1:123456789012:activity:HelloWorld",
        "TimeoutSecondsPath": "$.timeout", "HeartbeatSecondsPath": "$.heartbeat",
        "Next": "Callback"},
      "Callback": {"Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
                       "MessageBody": {"token.$": "$$.Task.Token"}},
        "Credentials": {"RoleArn": "arn:aws:iam::111122223333:role/Target"},
        "ResultSelector": {"ok.$": "$.ok"},
        "ResultPath": null,
        "Next": "Sync"},
      "Sync": {"Type": "Task", "Resource": "arn:aws:states:::glue:startJobRun.sync",
        "Parameters": {"JobName": "etl"},
        "Credentials": {"RoleArn.$": "$.roleArn"},
        "OutputPath": null,
        "End": true}
    }
  })json");
}

TEST(ValidateDefinitionTest, VariablesWithJsonPathAreValid) {
  ExpectClean(R"json({
    "StartAt": "Remember",
    "States": {
      "Remember": {"Type": "Pass", "Assign": {"count": 0, "user.$": "$.user", "_x1": [1]},
                   "Next": "Use"},
      "Use": {"Type": "Choice",
        "Choices": [{"Variable": "$count", "NumericEqualsPath": "$limit",
                     "Assign": {"seen": true}, "Next": "Done"}],
        "Default": "Done"},
      "Done": {"Type": "Pass", "Parameters": {"who.$": "$user.name"}, "End": true}
    }
  })json");
}

TEST(ValidateDefinitionTest, JsonataMachineIsValid) {
  ExpectClean(R"json({
    "Comment": "JSONata example",
    "QueryLanguage": "JSONata",
    "StartAt": "CheckPrice",
    "States": {
      "CheckPrice": {
        "Type": "Choice",
        "Choices": [{"Condition": "{% $states.input.price > 100 %}", "Next": "Expensive",
                     "Output": {"level": "high"}}],
        "Default": "Cheap"
      },
      "Expensive": {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Arguments": {"FunctionName": "notify", "Payload": "{% $states.input %}"},
        "TimeoutSeconds": "{% $states.input.timeout %}",
        "Output": "{% $states.result.Payload %}",
        "Assign": {"notified": true},
        "Catch": [{"ErrorEquals": ["States.ALL"], "Output": "{% $states.errorOutput %}",
                   "Next": "Done"}],
        "Next": "Done"
      },
      "Cheap": {"Type": "Wait", "Seconds": "{% $states.input.delay %}", "Next": "Each"},
      "Each": {"Type": "Map", "Items": "{% $states.input.items %}",
               "ItemProcessor": {"StartAt": "Echo",
                 "States": {"Echo": {"Type": "Pass", "Output": "{% $states.input %}",
                                     "End": true}}},
               "Next": "Done"},
      "Done": {"Type": "Fail", "Error": "Done", "Cause": "{% 'done' %}"}
    }
  })json");
}

TEST(ValidateDefinitionTest, JsonataStateInJsonPathMachineIsValid) {
  ExpectClean(R"json({
    "StartAt": "A",
    "States": {
      "A": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": {"x": "{% 1 + 1 %}"},
            "Next": "B"},
      "B": {"Type": "Pass", "InputPath": "$.x", "End": true}
    }
  })json");
}

// A definition whose only state uses `path` as its `field`.
std::vector<Diagnostic> WithPath(const std::string& field, const std::string& path) {
  nlohmann::json definition = {{"StartAt", "A"},
                               {"States", {{"A", {{"Type", "Pass"}, {"End", true}}}}}};
  definition["States"]["A"][field] = path;
  return ValidateDefinition(definition.dump());
}

TEST(ValidateDefinitionTest, PathSyntax) {
  for (const std::string path : {"$",
                                 "$.a",
                                 "$.a.b",
                                 "$['a b']",
                                 "$.a[\"b\"]",
                                 "$.a[0]",
                                 "$.a[-1]",
                                 "$.a[*]",
                                 "$.a.*",
                                 "$..a",
                                 "$..[0]",
                                 "$.a[0,2]",
                                 "$.a['x','y']",
                                 "$.a[1:]",
                                 "$.a[:2]",
                                 "$.a[0:4:2]",
                                 "$.a[?(@.price < 10)]",
                                 "$.a[?(@.name == 'x)')]",
                                 "$.a.length()",
                                 "$$.Execution.Id",
                                 "$$",
                                 "$myVar",
                                 "$myVar.field[0]",
                                 "$.a-b.c_d",
                                 "$.\u00e9t\u00e9"}) {
    EXPECT_TRUE(WithPath("InputPath", path).empty()) << path;
  }
  for (const std::string path :
       {"", "a", "$.", "$..", "$.a.", "$.a[", "$.a[]", "$.a[0", "$.a b", " $.a", "$.a ", "$a b",
        "$.a[x]", "$.a['b]", "$.a[?(@.b]", "$.a()b", "$[1,]", "$.[0]", "$.a[1:2:3:4]"}) {
    EXPECT_EQ(ErrorCodes(WithPath("InputPath", path)),
              std::set<std::string>{"SCHEMA_VALIDATION_FAILED"})
        << path;
  }
  // ResultPath is a Reference Path into the state's input: one node, no context object.
  for (const std::string path : {"$", "$.a", "$.a.b[0]", "$['a']", "$.error-info"}) {
    EXPECT_TRUE(WithPath("ResultPath", path).empty()) << path;
  }
  for (const std::string path : {"$$.a", "$var", "$..a", "$.a[*]", "$.a.*", "$.a[0,1]", "$.a[1:]",
                                 "$['a','b']", "$.a[?(@.b)]", "$.a.length()", "$.a[-1]"}) {
    EXPECT_EQ(ErrorCodes(WithPath("ResultPath", path)),
              std::set<std::string>{"SCHEMA_VALIDATION_FAILED"})
        << path;
  }
}

TEST(ValidateDefinitionTest, InvalidJsonReportsOneDiagnosticWithPosition) {
  const std::vector<Diagnostic> diagnostics =
      ValidateDefinition("{\n  \"StartAt\": \"A\",\n  \"States\": {\"A\": }\n}");
  ASSERT_EQ(diagnostics.size(), 1u) << Describe(diagnostics);
  EXPECT_EQ(diagnostics[0].severity, "ERROR");
  EXPECT_EQ(diagnostics[0].code, "INVALID_JSON_DESCRIPTION");
  EXPECT_NE(diagnostics[0].message.find("line 3, column"), std::string::npos)
      << diagnostics[0].message;
}

TEST(ValidateDefinitionTest, LocationsNameTheOffendingField) {
  const std::vector<Diagnostic> diagnostics = ValidateDefinition(R"json({
    "StartAt": "A",
    "States": {
      "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "B",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Gone"}]},
      "B": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": true, "Next": "C"}],
            "Default": "Missing"},
      "C": {"Type": "Succeed"}
    }
  })json");
  const std::vector<Diagnostic> expected = {
      {"ERROR", "MISSING_TRANSITION_TARGET", "Missing 'Next' target: Gone",
       "/States/A/Catch[0]/Next"},
      {"ERROR", "MISSING_TRANSITION_TARGET", "Missing 'Next' target: Missing", "/States/B/Default"},
  };
  EXPECT_EQ(diagnostics, expected) << Describe(diagnostics);
}

TEST(ValidateDefinitionTest, InvalidDefinitionMessageUsesAwsFormat) {
  const std::vector<Diagnostic> diagnostics = {
      {"ERROR", "SCHEMA_VALIDATION_FAILED", "The field \"Next\" is required but was missing",
       "/States/A"},
      {"WARNING", "NO_DOLLAR", "ignored", "/States/A/Parameters/x"},
      {"ERROR", "MISSING_TRANSITION_TARGET", "Missing 'Next' target: B", "/States/A/Next"},
      {"ERROR", "MISSING_END_STATE", "Workflow has no terminal state", ""},
  };
  EXPECT_EQ(InvalidDefinitionMessage(diagnostics),
            "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: The field \"Next\" is "
            "required but was missing at /States/A, MISSING_TRANSITION_TARGET: Missing 'Next' "
            "target: B at /States/A/Next, MISSING_END_STATE: Workflow has no terminal state'");
}

TEST(ValidateDefinitionTest, WarningsDoNotMakeADefinitionInvalid) {
  const std::vector<Diagnostic> diagnostics = ValidateDefinition(R"json({
    "StartAt": "A",
    "States": {
      "A": {"Type": "Pass", "Parameters": {"name": "$.name", "fn": "States.UUID()"},
            "Next": "B"},
      "B": {"Type": "Pass", "Result": {"value.$": "$.x"}, "Next": "C"},
      "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEquals": "$.b",
                                           "Next": "D"}], "Default": "D"},
      "D": {"Type": "Fail", "Error": "$.error"}
    }
  })json");
  EXPECT_FALSE(HasErrors(diagnostics)) << Describe(diagnostics);
  std::vector<std::string> codes;
  for (const Diagnostic& d : diagnostics) {
    EXPECT_EQ(d.severity, "WARNING");
    codes.push_back(d.code + " " + d.location);
  }
  EXPECT_EQ(codes, (std::vector<std::string>{
                       "NO_DOLLAR /States/A/Parameters/fn", "NO_DOLLAR /States/A/Parameters/name",
                       "PASS_RESULT_IS_STATIC /States/B/Result",
                       "NO_PATH /States/C/Choices[0]/StringEquals", "NO_PATH /States/D/Error"}));
}

TEST(ValidateDefinitionTest, HasErrorsIsFalseForNoDiagnostics) {
  EXPECT_FALSE(HasErrors({}));
  EXPECT_TRUE(HasErrors(ValidateDefinition("{}")));
}

std::string NestedParallel(int depth) {
  std::string inner = R"({"StartAt": "Leaf", "States": {"Leaf": {"Type": "Succeed"}}})";
  for (int i = 0; i < depth; ++i) {
    inner = "{\"StartAt\": \"P" + std::to_string(i) + "\", \"States\": {\"P" + std::to_string(i) +
            "\": {\"Type\": \"Parallel\", \"End\": true, \"Branches\": [" + inner + "]}}}";
  }
  return inner;
}

TEST(ValidateDefinitionTest, ModerateNestingIsValid) { ExpectClean(NestedParallel(10)); }

TEST(ValidateDefinitionTest, ExcessiveNestingIsReported) {
  EXPECT_EQ(ErrorCodes(ValidateDefinition(NestedParallel(60))),
            std::set<std::string>{"TOO_DEEPLY_NESTED"});
}

TEST(ValidateDefinitionTest, DeeplyNestedPayloadIsRefusedWithoutExhaustingTheStack) {
  const int depth = 100000;
  std::string payload(depth, '[');
  payload += std::string(depth, ']');
  const std::string definition = R"({"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": )" +
                                 payload + R"(, "Parameters": {"deep": )" + payload +
                                 R"(}, "End": true}}})";
  EXPECT_EQ(ErrorCodes(ValidateDefinition(definition)), std::set<std::string>{"TOO_DEEPLY_NESTED"});
}

TEST(ValidateDefinitionTest, ArbitraryInputNeverThrows) {
  const std::vector<std::string> inputs = {
      "",
      "null",
      "true",
      "\"text\"",
      "[]",
      "{}",
      "{\"States\": null}",
      "{\"StartAt\": []}",
      "{\"StartAt\": \"A\", \"States\": {\"A\": null}}",
      "{\"StartAt\": \"A\", \"States\": {\"A\": {\"Type\": \"Map\", \"ItemProcessor\": 5}}}",
      "{\"StartAt\": \"A\", \"States\": {\"A\": {\"Type\": \"Choice\", \"Choices\": [5, "
      "{\"And\": [5]}, {\"Not\": null, \"Next\": 3}]}}}",
      std::string("{\"\xff\": 1}"),
      std::string(1, '\0')};
  for (const std::string& input : inputs) {
    EXPECT_NO_THROW(ValidateDefinition(input)) << input;
    EXPECT_TRUE(HasErrors(ValidateDefinition(input))) << input;
  }
}

// Each tests/states/invalid/*.json is {"definition": <object, or the raw text as a string>,
// "codes": [the error codes expected, exactly], "message_contains": "<text expected in
// InvalidDefinitionMessage of the result>"}.
std::filesystem::path CaseDirectory() {
  return std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "tests" / "states" /
         "invalid";
}

TEST(ValidateDefinitionTest, InvalidCaseFiles) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(CaseDirectory())) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 40u);
  for (const std::filesystem::path& file : files) {
    SCOPED_TRACE(file.filename().string());
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    const nlohmann::json spec = nlohmann::json::parse(text.str(), nullptr, false);
    ASSERT_TRUE(spec.is_object() && spec.contains("definition") && spec.contains("codes") &&
                spec.contains("message_contains"));
    const nlohmann::json& definition = spec["definition"];
    const std::vector<Diagnostic> diagnostics = ValidateDefinition(
        definition.is_string() ? definition.get<std::string>() : definition.dump());
    std::set<std::string> expected_codes;
    for (const nlohmann::json& code : spec["codes"]) expected_codes.insert(code.get<std::string>());
    EXPECT_EQ(ErrorCodes(diagnostics), expected_codes) << Describe(diagnostics);
    const std::string message = InvalidDefinitionMessage(diagnostics);
    EXPECT_NE(message.find(spec["message_contains"].get<std::string>()), std::string::npos)
        << message;
  }
}

}  // namespace
}  // namespace sluice::states
