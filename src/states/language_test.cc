#include "states/language.h"

#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace sluice::states {
namespace {

Json J(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "bad JSON in test: " << text;
  return j;
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// ---------------------------------------------------------------------------------------
// Errors

TEST(StatesErrorTest, CarriesTheErrorNameAndTheCause) {
  absl::Status s = StatesError("States.TaskFailed", "it broke");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(ErrorName(s), "States.TaskFailed");
  EXPECT_EQ(Message(s), "it broke");
}

TEST(StatesErrorTest, PlainStatusIsStatesRuntimeAndOkHasNoName) {
  EXPECT_EQ(ErrorName(absl::InternalError("boom")), "States.Runtime");
  EXPECT_EQ(ErrorName(absl::OkStatus()), "");
}

// ---------------------------------------------------------------------------------------
// Paths

class SelectPathTest : public ::testing::Test {
 protected:
  Json Select(const std::string& path) {
    absl::StatusOr<Json> r = SelectPath(doc_, path, context_, "InputPath");
    EXPECT_TRUE(r.ok()) << path << ": " << r.status();
    return r.ok() ? *r : Json();
  }
  absl::Status Error(const std::string& path, const std::string& field = "InputPath") {
    absl::StatusOr<Json> r = SelectPath(doc_, path, context_, field);
    EXPECT_FALSE(r.ok()) << path << " gave " << (r.ok() ? r->dump() : "");
    return r.ok() ? absl::OkStatus() : r.status();
  }

  Json doc_ = J(R"({
    "store": {
      "book": [
        {"category": "reference", "author": "Nigel Rees", "title": "Sayings of the Century", "price": 8.95},
        {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword of Honour", "price": 12.99},
        {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick", "isbn": "0-553-21311-3",
         "price": 8.99},
        {"category": "fiction", "author": "J. R. R. Tolkien", "title": "The Lord of the Rings",
         "isbn": "0-395-19395-8", "price": 22.99}
      ],
      "bicycle": {"color": "red", "price": 19.95}
    },
    "a b": 1,
    "n": [0, 1, 2, 3, 4, 5],
    "max": 10
  })");
  Json context_ = J(R"({"Execution": {"Id": "arn:aws:states:us-east-1:123456789012:execution:m:e1", "Name": "e1"},
                        "Map": {"Item": {"Index": 2, "Value": "v"}}})");
};

TEST_F(SelectPathTest, DollarIsTheWholeInput) { EXPECT_EQ(Select("$"), doc_); }

TEST_F(SelectPathTest, DotNames) {
  EXPECT_EQ(Select("$.store.bicycle.color"), "red");
  EXPECT_EQ(Select("$.store.bicycle"), J(R"({"color": "red", "price": 19.95})"));
}

TEST_F(SelectPathTest, BracketNames) {
  EXPECT_EQ(Select("$['a b']"), 1);
  EXPECT_EQ(Select(R"($["a b"])"), 1);
  EXPECT_EQ(Select("$['store']['bicycle']['price']"), 19.95);
  EXPECT_EQ(Select("$.store['bicycle'].color"), "red");
}

TEST_F(SelectPathTest, IndexesIncludingNegative) {
  EXPECT_EQ(Select("$.n[0]"), 0);
  EXPECT_EQ(Select("$.n[-1]"), 5);
  EXPECT_EQ(Select("$.n[-6]"), 0);
  EXPECT_EQ(Select("$.store.book[2].title"), "Moby Dick");
  EXPECT_EQ(Select("$.n[0,2,-1]"), J("[0, 2, 5]"));
  EXPECT_EQ(Select("$.n[1, 99]"), J("[1]"));
}

TEST_F(SelectPathTest, SeveralNamesGiveAnArrayInTheOrderAsked) {
  EXPECT_EQ(Select("$.store.bicycle['price','color']"), J(R"([19.95, "red"])"));
  EXPECT_EQ(Select("$.store.bicycle['price','nope']"), J("[19.95]"));
}

TEST_F(SelectPathTest, Wildcards) {
  EXPECT_EQ(Select("$.store.book[*].author"),
            J(R"(["Nigel Rees", "Evelyn Waugh", "Herman Melville", "J. R. R. Tolkien"])"));
  EXPECT_EQ(Select("$.store.book.*.price"), J("[8.95, 12.99, 8.99, 22.99]"));
  EXPECT_EQ(Select("$.store.bicycle.*"), J(R"(["red", 19.95])"));
  EXPECT_EQ(Select("$.n[*]"), J("[0, 1, 2, 3, 4, 5]"));
  EXPECT_EQ(Select("$.max.*"), J("[]"));
}

TEST_F(SelectPathTest, Slices) {
  EXPECT_EQ(Select("$.n[1:3]"), J("[1, 2]"));
  EXPECT_EQ(Select("$.n[:2]"), J("[0, 1]"));
  EXPECT_EQ(Select("$.n[-2:]"), J("[4, 5]"));
  EXPECT_EQ(Select("$.n[4:]"), J("[4, 5]"));
  EXPECT_EQ(Select("$.n[:]"), J("[0, 1, 2, 3, 4, 5]"));
  EXPECT_EQ(Select("$.n[::2]"), J("[0, 2, 4]"));
  EXPECT_EQ(Select("$.n[1:5:3]"), J("[1, 4]"));
  EXPECT_EQ(Select("$.n[::-1]"), J("[5, 4, 3, 2, 1, 0]"));
  EXPECT_EQ(Select("$.n[4:1:-1]"), J("[4, 3, 2]"));
  EXPECT_EQ(Select("$.n[10:]"), J("[]"));
  EXPECT_EQ(Select("$.n[-100:1]"), J("[0]"));
  EXPECT_EQ(Select("$.store.book[-1:].title"), J(R"(["The Lord of the Rings"])"));
}

TEST_F(SelectPathTest, DeepScan) {
  EXPECT_EQ(Select("$..author"), J(R"(["Nigel Rees", "Evelyn Waugh", "Herman Melville", "J. R. R. Tolkien"])"));
  // Objects are visited in key order: "bicycle" comes before "book".
  EXPECT_EQ(Select("$..price"), J("[19.95, 8.95, 12.99, 8.99, 22.99]"));
  EXPECT_EQ(Select("$..book[0].title"), J(R"(["Sayings of the Century"])"));
  EXPECT_EQ(Select("$.store..color"), J(R"(["red"])"));
  EXPECT_EQ(Select("$..[0]").size(), 2u);  // book[0] and n[0]
  EXPECT_EQ(Select("$..nothing"), J("[]"));
  EXPECT_EQ(Select("$.store.bicycle..*"), J(R"(["red", 19.95])"));
}

TEST_F(SelectPathTest, Filters) {
  EXPECT_EQ(Select("$.store.book[?(@.price < 10)].title"), J(R"(["Sayings of the Century", "Moby Dick"])"));
  EXPECT_EQ(Select("$.store.book[?(@.price >= 22.99)].title"), J(R"(["The Lord of the Rings"])"));
  EXPECT_EQ(Select("$.store.book[?(@.price<=8.95)].title"), J(R"(["Sayings of the Century"])"));
  EXPECT_EQ(Select("$.store.book[?(@.price > 12.99)].author"), J(R"(["J. R. R. Tolkien"])"));
  EXPECT_EQ(Select("$..book[?(@.isbn)].title"), J(R"(["Moby Dick", "The Lord of the Rings"])"));
  EXPECT_EQ(Select("$.store.book[?(@.category == 'fiction' && @.price > 20)].author"), J(R"(["J. R. R. Tolkien"])"));
  EXPECT_EQ(Select(R"($.store.book[?(@.category == "reference" || @.price > 20)].price)"), J("[8.95, 22.99]"));
  EXPECT_EQ(Select("$.store.book[?(@.category != 'fiction')].author"), J(R"(["Nigel Rees"])"));
  EXPECT_EQ(Select("$.store.book[?(!(@.price < 10))].price"), J("[12.99, 22.99]"));
  EXPECT_EQ(Select("$.store.book[?(!@.isbn)].price"), J("[8.95, 12.99]"));
  EXPECT_EQ(Select("$.store.book[?(@.author =~ /.*REES/i)].author"), J(R"(["Nigel Rees"])"));
  EXPECT_EQ(Select("$.store.book[?(@.author =~ /Rees/)].author"), J("[]"));  // the whole string must match
  EXPECT_EQ(Select("$.store.book[?(@.price in [8.95, 8.99])].title"), J(R"(["Sayings of the Century", "Moby Dick"])"));
  EXPECT_EQ(Select("$.store.book[?(@.category nin ['fiction'])].title"), J(R"(["Sayings of the Century"])"));
  EXPECT_EQ(Select("$.store.book[?(@.price < $.max)].price"), J("[8.95, 8.99]"));
  EXPECT_EQ(Select("$.n[?(@ > 3)]"), J("[4, 5]"));
  EXPECT_EQ(Select("$.store.book[?(@.price > 100)]"), J("[]"));
  EXPECT_EQ(Select("$..[?(@.price > 20)].title"), J(R"(["The Lord of the Rings"])"));
  // On an object, a filter tests the object itself.
  EXPECT_EQ(Select("$.store.bicycle[?(@.color == 'red')].price"), J("[19.95]"));
}

TEST_F(SelectPathTest, ContextPaths) {
  EXPECT_EQ(Select("$$.Execution.Id"), "arn:aws:states:us-east-1:123456789012:execution:m:e1");
  EXPECT_EQ(Select("$$.Map.Item.Index"), 2);
  EXPECT_EQ(Select("$$"), context_);
}

TEST_F(SelectPathTest, ScalarInputs) {
  EXPECT_EQ(*SelectPath(Json("just text"), "$", Json::object(), "InputPath"), "just text");
  EXPECT_EQ(*SelectPath(J("[1, 2]"), "$[1]", Json::object(), "InputPath"), 2);
}

TEST_F(SelectPathTest, MissingDefinitePathIsStatesRuntimeWithAwsWording) {
  absl::StatusOr<Json> r = SelectPath(J(R"({"a": 1})"), "$.missing", Json::object(), "InputPath");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ErrorName(r.status()), "States.Runtime");
  EXPECT_EQ(
      Message(r.status()),
      R"(The JSONPath '$.missing' specified for the field 'InputPath' could not be found in the input '{"a":1}')");

  r = SelectPath(J(R"({"a": 1})"), "$$.Task.Token", J(R"({"Execution": {}})"), "Parameters");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(
      Message(r.status()),
      R"(The JSONPath '$$.Task.Token' specified for the field 'Parameters' could not be found in the input '{"Execution":{}}')");
}

TEST_F(SelectPathTest, MissingIndexesAndStepsThroughScalarsAreNotFound) {
  EXPECT_EQ(ErrorName(Error("$.n[6]")), "States.Runtime");
  EXPECT_EQ(ErrorName(Error("$.n[-7]")), "States.Runtime");
  EXPECT_EQ(ErrorName(Error("$.max.value")), "States.Runtime");
  EXPECT_EQ(ErrorName(Error("$.store.bicycle[0]")), "States.Runtime");
  EXPECT_EQ(ErrorName(Error("$$.Execution.StartTime")), "States.Runtime");
}

TEST_F(SelectPathTest, MalformedPathsAreRejected) {
  for (const char* path : {"", "store", "$.", "$..", "$[", "$[]", "$['a'", "$.a[?(@.x ==)]", "$.a[1:2:0]",
                           "$.a[?(@.x > 1]", "$.a[x]", "$a", "$.a[?(@.x =~ /[/)]", "@.a", "$.a[1,]"}) {
    absl::Status s = Error(path, "ItemsPath");
    EXPECT_EQ(ErrorName(s), "States.Runtime") << path;
    EXPECT_EQ(Message(s), "The value for the field 'ItemsPath' must be a valid JSONPath") << path;
  }
}

TEST_F(SelectPathTest, DeeplyNestedFilterLiteralsAreRejectedWithoutCrashing) {
  // A list literal in a filter, nested 200,000 times (it used to overflow the stack).
  std::string path = "$.store.book[?(@.price in " + std::string(200000, '[') + "1" + std::string(200000, ']') + ")]";
  EXPECT_EQ(ErrorName(Error(path)), "States.Runtime");
  EXPECT_EQ(Select("$.store.book[?(@.price in [[8.95], 8.95])].price"), J("[8.95]"));
}

// ---------------------------------------------------------------------------------------
// ResultPath

class ResultPathTest : public ::testing::Test {
 protected:
  Json Apply(const Json& input, const Json& path) {
    absl::StatusOr<Json> r = ApplyResultPath(input, result_, path);
    EXPECT_TRUE(r.ok()) << path << ": " << r.status();
    return r.ok() ? *r : Json();
  }
  Json result_ = J(R"({"r": 1})");
};

TEST_F(ResultPathTest, DollarReplacesTheInput) { EXPECT_EQ(Apply(J(R"({"a": 1})"), "$"), result_); }

TEST_F(ResultPathTest, NullOrAbsentKeepsTheInput) {
  EXPECT_EQ(Apply(J(R"({"a": 1})"), nullptr), J(R"({"a": 1})"));
  EXPECT_EQ(Apply(J(R"({"a": 1})"), Json(Json::value_t::discarded)), J(R"({"a": 1})"));
}

TEST_F(ResultPathTest, AddsAField) {
  EXPECT_EQ(Apply(J(R"({"a": 1})"), "$.result"), J(R"({"a": 1, "result": {"r": 1}})"));
  EXPECT_EQ(Apply(J(R"({"a": 1})"), "$['my result']"), J(R"({"a": 1, "my result": {"r": 1}})"));
}

TEST_F(ResultPathTest, CreatesNestedObjectsAsNeeded) {
  EXPECT_EQ(Apply(J(R"({"x": 1})"), "$.a.b.c"), J(R"({"x": 1, "a": {"b": {"c": {"r": 1}}}})"));
  EXPECT_EQ(Apply(J(R"({"a": {"k": 1}})"), "$.a.b"), J(R"({"a": {"k": 1, "b": {"r": 1}}})"));
  EXPECT_EQ(Apply(Json::object(), "$.a"), J(R"({"a": {"r": 1}})"));
}

TEST_F(ResultPathTest, ReplacesExistingValues) {
  EXPECT_EQ(Apply(J(R"({"a": 1, "b": 2})"), "$.a"), J(R"({"a": {"r": 1}, "b": 2})"));
  EXPECT_EQ(Apply(J(R"({"a": {"b": [1]}})"), "$.a.b"), J(R"({"a": {"b": {"r": 1}}})"));
}

TEST_F(ResultPathTest, IndexesReplaceInsideExistingArrays) {
  EXPECT_EQ(Apply(J(R"({"l": [1, 2, 3]})"), "$.l[1]"), J(R"({"l": [1, {"r": 1}, 3]})"));
  EXPECT_EQ(Apply(J(R"({"l": [1, {"x": 0}]})"), "$.l[-1].y"), J(R"({"l": [1, {"x": 0, "y": {"r": 1}}]})"));
}

TEST_F(ResultPathTest, SteppingIntoANonObjectIsStatesRuntime) {
  absl::StatusOr<Json> r = ApplyResultPath(J(R"({"a": 1})"), result_, "$.a.b");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ErrorName(r.status()), "States.Runtime");
  EXPECT_EQ(Message(r.status()), R"(Unable to apply ReferencePath $.a.b to input {"a":1})");

  r = ApplyResultPath(Json("hello"), result_, "$.x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Message(r.status()), R"(Unable to apply ReferencePath $.x to input "hello")");

  r = ApplyResultPath(J(R"({"l": [1]})"), result_, "$.l[3]");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Message(r.status()), R"(Unable to apply ReferencePath $.l[3] to input {"l":[1]})");
}

TEST_F(ResultPathTest, OnlyReferencePathsAreAccepted) {
  for (const Json& path : {Json("$.a[*]"), Json("$..a"), Json("$$.Execution"), Json("$.a[0:1]"), Json("a"), Json(42),
                           Json("$.l[?(@.x)]")}) {
    absl::StatusOr<Json> r = ApplyResultPath(J(R"({"a": [1]})"), result_, path);
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(ErrorName(r.status()), "States.Runtime") << path;
    EXPECT_EQ(Message(r.status()), "The value for the field 'ResultPath' must be a valid ReferencePath");
  }
}

// ---------------------------------------------------------------------------------------
// Payload templates

class PayloadTemplateTest : public ::testing::Test {
 protected:
  Json Evaluate(const std::string& tmpl) {
    absl::StatusOr<Json> r = EvaluatePayloadTemplate(J(tmpl), input_, context_);
    EXPECT_TRUE(r.ok()) << tmpl << ": " << r.status();
    return r.ok() ? *r : Json();
  }
  absl::Status Error(const std::string& tmpl) {
    absl::StatusOr<Json> r = EvaluatePayloadTemplate(J(tmpl), input_, context_);
    EXPECT_FALSE(r.ok()) << tmpl;
    return r.ok() ? absl::OkStatus() : r.status();
  }

  Json input_ = J(R"({"flagged": 7, "vals": [0, 10, 20, 30, 40, 50], "name": "Ann", "x": {"y": null}})");
  Json context_ = J(R"({"Execution": {"Id": "arn:aws:states:us-east-1:123456789012:execution:m:e1",
                                       "Input": {"flagged": 7}},
                        "State": {"Name": "Prepare", "EnteredTime": "2024-01-01T00:00:00Z"},
                        "Map": {"Item": {"Index": 0, "Value": {"id": 9}}}})");
};

TEST_F(PayloadTemplateTest, SpecExample) {
  EXPECT_EQ(Evaluate(R"({"flagged": true, "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[3:]"}})"),
            J(R"({"flagged": true, "parts": {"first": 0, "last3": [30, 40, 50]}})"));
}

TEST_F(PayloadTemplateTest, NestedObjectsArraysContextAndIntrinsics) {
  EXPECT_EQ(Evaluate(R"js({
      "exec.$": "$$.Execution.Id",
      "state.$": "$$.State.Name",
      "item.$": "$$.Map.Item.Value.id",
      "list": [{"v.$": "$.flagged"}, 1, "x.$", [{"deep.$": "$.name"}]],
      "greeting.$": "States.Format('Hi {}', $.name)",
      "static": {"k": [1, {"n": null}], "s": "$.name"},
      "null.$": "$.x.y",
      "all.$": "$"
    })js"),
            J(R"({
      "exec": "arn:aws:states:us-east-1:123456789012:execution:m:e1",
      "state": "Prepare",
      "item": 9,
      "list": [{"v": 7}, 1, "x.$", [{"deep": "Ann"}]],
      "greeting": "Hi Ann",
      "static": {"k": [1, {"n": null}], "s": "$.name"},
      "null": null,
      "all": {"flagged": 7, "vals": [0, 10, 20, 30, 40, 50], "name": "Ann", "x": {"y": null}}
    })"));
}

TEST_F(PayloadTemplateTest, WholeContextAndScalarTemplates) {
  EXPECT_EQ(Evaluate(R"({"ctx.$": "$$"})"), Json({{"ctx", context_}}));
  EXPECT_EQ(Evaluate("5"), 5);
  EXPECT_EQ(Evaluate(R"("$.name")"), "$.name");
  EXPECT_EQ(Evaluate(R"([{"a.$": "$.name"}])"), J(R"([{"a": "Ann"}])"));
  EXPECT_EQ(Evaluate(R"({".$": 1})"), J(R"({".$": 1})"));
}

TEST_F(PayloadTemplateTest, MissingPathNamesTheField) {
  absl::Status s = Error(R"({"outer": {"a.$": "$.nope"}})");
  EXPECT_EQ(ErrorName(s), "States.Runtime");
  EXPECT_EQ(Message(s),
            std::string("The JSONPath '$.nope' specified for the field 'a.$' could not be found in the input '") +
                input_.dump() + "'");
}

TEST_F(PayloadTemplateTest, DollarKeysNeedAPathOrAnIntrinsic) {
  for (const char* tmpl : {R"({"a.$": 1})", R"({"a.$": "name"})", R"({"a.$": null})", R"({"a.$": ["$.x"]})"}) {
    absl::Status s = Error(tmpl);
    EXPECT_EQ(ErrorName(s), "States.Runtime") << tmpl;
    EXPECT_EQ(Message(s), "The value for the field 'a.$' must be a valid JSONPath or a valid intrinsic function call");
  }
}

TEST_F(PayloadTemplateTest, IntrinsicErrorsPropagate) {
  EXPECT_EQ(ErrorName(Error(R"js({"a.$": "States.ArrayLength($.name)"})js")), "States.IntrinsicFailure");
  absl::Status s = Error(R"js({"a.$": "States.Format('{}', $.missing)"})js");
  EXPECT_EQ(ErrorName(s), "States.Runtime");
  EXPECT_NE(Message(s).find("for the field 'a.$'"), std::string::npos) << Message(s);
}

// ---------------------------------------------------------------------------------------
// Intrinsic functions

class IntrinsicTest : public ::testing::Test {
 protected:
  Json Eval(const std::string& expression, const Json& input = Json::object()) {
    absl::StatusOr<Json> r = EvaluateIntrinsic(expression, input, context_);
    EXPECT_TRUE(r.ok()) << expression << ": " << r.status();
    return r.ok() ? *r : Json();
  }
  absl::Status Error(const std::string& expression, const Json& input = Json::object()) {
    absl::StatusOr<Json> r = EvaluateIntrinsic(expression, input, context_);
    EXPECT_FALSE(r.ok()) << expression << " gave " << (r.ok() ? r->dump() : "");
    return r.ok() ? absl::OkStatus() : r.status();
  }
  void ExpectFailure(const std::string& expression, const Json& input = Json::object()) {
    EXPECT_EQ(ErrorName(Error(expression, input)), "States.IntrinsicFailure") << expression;
  }

  Json context_ = J(R"({"Execution": {"Name": "e1", "Id": "arn:e1"}})");
};

TEST_F(IntrinsicTest, FormatDocExamples) {
  Json input = J(R"({"name": "Arnav", "template": "Hello, my name is {}."})");
  EXPECT_EQ(Eval("States.Format('Hello, my name is {}.', $.name)", input), "Hello, my name is Arnav.");
  EXPECT_EQ(Eval("States.Format($.template, $.name)", input), "Hello, my name is Arnav.");
  EXPECT_EQ(Eval("States.Format('Your name is {}, we are in the year {}', $.name, 2020)", input),
            "Your name is Arnav, we are in the year 2020");
}

TEST_F(IntrinsicTest, FormatRendersEveryKindOfValue) {
  Json input = J(R"({"obj": {"a": 1, "b": [1, "x"]}, "f": 1.5, "s": "str"})");
  EXPECT_EQ(Eval("States.Format('{}|{}|{}|{}|{}|{}|{}', 2020, -3, true, null, $.f, $.s, $.obj)", input),
            "2020|-3|true|null|1.5|str|{a=1, b=[1, x]}");
  EXPECT_EQ(Eval("States.Format('no placeholders')"), "no placeholders");
  EXPECT_EQ(Eval("States.Format('{}{}', 'a', 'b')"), "ab");
  EXPECT_EQ(Eval("States.Format('{}', $$.Execution.Name)"), "e1");
}

TEST_F(IntrinsicTest, FormatEscapes) {
  Json input = J(R"({"name": "Ann"})");
  // As written in a definition's JSON: "States.Format('\\{\\} is {} \\'quoted\\' back\\\\slash', $.name)".
  EXPECT_EQ(Eval(R"(States.Format('\{\} is {} \'quoted\' back\\slash', $.name))", input),
            R"({} is Ann 'quoted' back\slash)");
  EXPECT_EQ(Eval(R"(States.Format('\{{}\}', $.name))", input), "{Ann}");
  EXPECT_EQ(Eval(R"(States.Format('a, b) {}', 'c, d)'))"), "a, b) c, d)");
  // Escapes outside Format just stand for the character.
  EXPECT_EQ(Eval(R"(States.Array('it\'s', '\{\}', '\\'))"), J(R"(["it's", "{}", "\\"])"));
}

TEST_F(IntrinsicTest, FormatErrors) {
  absl::Status s = Error("States.Format('{} and {}', 1)");
  EXPECT_EQ(ErrorName(s), "States.IntrinsicFailure");
  EXPECT_EQ(Message(s), "The format string of States.Format has 2 placeholders, but 1 value was given");
  ExpectFailure("States.Format('{}', 1, 2)");
  ExpectFailure("States.Format()");
  ExpectFailure("States.Format(42)");
  ExpectFailure("States.Format($.n)", J(R"({"n": 1})"));
  ExpectFailure(R"(States.Format('open \n escape'))");
  ExpectFailure(R"(States.Format('trailing \'))");
}

TEST_F(IntrinsicTest, StringToJson) {
  EXPECT_EQ(Eval("States.StringToJson($.s)", J(R"({"s": "{\"foo\": \"bar\"}"})")), J(R"({"foo": "bar"})"));
  EXPECT_EQ(Eval("States.StringToJson($.s)", J(R"({"s": "{\"number\": 20}"})")), J(R"({"number": 20})"));
  EXPECT_EQ(Eval("States.StringToJson('[1, true]')"), J("[1, true]"));
  EXPECT_EQ(Eval("States.StringToJson('12')"), 12);
  ExpectFailure("States.StringToJson('{not json')");
  ExpectFailure("States.StringToJson('')");
  ExpectFailure("States.StringToJson(12)");
  ExpectFailure("States.StringToJson('1', '2')");
}

TEST_F(IntrinsicTest, JsonToString) {
  EXPECT_EQ(Eval("States.JsonToString($.someJson)", J(R"({"someJson": {"name": "Foo", "year": 2020}})")),
            R"({"name":"Foo","year":2020})");
  EXPECT_EQ(Eval("States.JsonToString($.v)", J(R"({"v": [1, "a", null]})")), R"([1,"a",null])");
  EXPECT_EQ(Eval("States.JsonToString($.v)", J(R"({"v": "s"})")), R"("s")");
  ExpectFailure("States.JsonToString()");
}

TEST_F(IntrinsicTest, Array) {
  Json input = J(R"({"someJson": {"random": "abcdefg"}, "Id": 123456})");
  EXPECT_EQ(Eval("States.Array('Foo', 2020, $.someJson, null)", input),
            J(R"(["Foo", 2020, {"random": "abcdefg"}, null])"));
  EXPECT_EQ(Eval("States.Array($.Id)", input), J("[123456]"));
  EXPECT_EQ(Eval("States.Array()"), J("[]"));
  EXPECT_EQ(Eval("States.Array(1.5, -2, 1e3, true, false)"), J("[1.5, -2, 1000.0, true, false]"));
}

TEST_F(IntrinsicTest, ArrayPartition) {
  Json input = J(R"({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "n": 2, "s": "abc"})");
  EXPECT_EQ(Eval("States.ArrayPartition($.inputArray, 4)", input), J("[[1, 2, 3, 4], [5, 6, 7, 8], [9]]"));
  EXPECT_EQ(Eval("States.ArrayPartition($.inputArray, $.n)", input), J("[[1, 2], [3, 4], [5, 6], [7, 8], [9]]"));
  EXPECT_EQ(Eval("States.ArrayPartition($.inputArray, 20)", input), J("[[1, 2, 3, 4, 5, 6, 7, 8, 9]]"));
  EXPECT_EQ(Eval("States.ArrayPartition(States.Array(), 3)"), J("[]"));
  EXPECT_EQ(Eval("States.ArrayPartition($.inputArray, 4.6)", input), J("[[1, 2, 3, 4, 5], [6, 7, 8, 9]]"));
  ExpectFailure("States.ArrayPartition($.inputArray, 0)", input);
  ExpectFailure("States.ArrayPartition($.inputArray, -1)", input);
  ExpectFailure("States.ArrayPartition($.inputArray, '2')", input);
  ExpectFailure("States.ArrayPartition($.s, 2)", input);
  ExpectFailure("States.ArrayPartition($.inputArray)", input);
}

TEST_F(IntrinsicTest, ArrayContains) {
  Json input = J(R"({"inputArray": [1, 2, 3, {"a": [1]}], "lookingFor": 3, "obj": {"a": [1]}})");
  EXPECT_EQ(Eval("States.ArrayContains($.inputArray, $.lookingFor)", input), true);
  EXPECT_EQ(Eval("States.ArrayContains($.inputArray, 5)", input), false);
  EXPECT_EQ(Eval("States.ArrayContains($.inputArray, $.obj)", input), true);
  EXPECT_EQ(Eval("States.ArrayContains($.inputArray, 3.0)", input), true);
  EXPECT_EQ(Eval("States.ArrayContains($.inputArray, '3')", input), false);
  ExpectFailure("States.ArrayContains($.lookingFor, 3)", input);
  ExpectFailure("States.ArrayContains($.inputArray)", input);
}

TEST_F(IntrinsicTest, ArrayRange) {
  EXPECT_EQ(Eval("States.ArrayRange(1, 9, 2)"), J("[1, 3, 5, 7, 9]"));
  EXPECT_EQ(Eval("States.ArrayRange(1, 8, 2)"), J("[1, 3, 5, 7]"));
  EXPECT_EQ(Eval("States.ArrayRange(9, 1, -2)"), J("[9, 7, 5, 3, 1]"));
  EXPECT_EQ(Eval("States.ArrayRange(5, 5, 1)"), J("[5]"));
  EXPECT_EQ(Eval("States.ArrayRange(1, 0, 2)"), J("[]"));
  EXPECT_EQ(Eval("States.ArrayRange(1, 9, -2)"), J("[]"));
  EXPECT_EQ(Eval("States.ArrayRange(-2, 2, 1)"), J("[-2, -1, 0, 1, 2]"));
  EXPECT_EQ(Eval("States.ArrayRange($.a, $.b, $.c)", J(R"({"a": 0.6, "b": 4.4, "c": 1.5})")), J("[1, 3]"));
  EXPECT_EQ(Eval("States.ArrayRange(1, 1000, 1)").size(), 1000u);
  absl::Status s = Error("States.ArrayRange(1, 1001, 1)");
  EXPECT_EQ(ErrorName(s), "States.IntrinsicFailure");
  EXPECT_EQ(Message(s),
            "The function States.ArrayRange would create an array of 1001 items; arrays can hold at most 1000");
  ExpectFailure("States.ArrayRange(0, 9223372036854775807, 1)");
  ExpectFailure("States.ArrayRange(1, 9, 0)");
  ExpectFailure("States.ArrayRange('1', 9, 2)");
  ExpectFailure("States.ArrayRange(1, 9)");
}

TEST_F(IntrinsicTest, ArrayGetItem) {
  Json input = J(R"({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "index": 5})");
  EXPECT_EQ(Eval("States.ArrayGetItem($.inputArray, $.index)", input), 6);
  EXPECT_EQ(Eval("States.ArrayGetItem($.inputArray, 0)", input), 1);
  EXPECT_EQ(Eval("States.ArrayGetItem($.inputArray, 8.0)", input), 9);
  absl::Status s = Error("States.ArrayGetItem($.inputArray, 9)", input);
  EXPECT_EQ(ErrorName(s), "States.IntrinsicFailure");
  EXPECT_EQ(Message(s), "The index 9 given to States.ArrayGetItem is out of bounds for an array of 9 items");
  ExpectFailure("States.ArrayGetItem($.inputArray, -1)", input);
  ExpectFailure("States.ArrayGetItem($.inputArray, 1.5)", input);
  ExpectFailure("States.ArrayGetItem($.inputArray, '1')", input);
  ExpectFailure("States.ArrayGetItem($.index, 0)", input);
}

TEST_F(IntrinsicTest, ArrayLength) {
  EXPECT_EQ(Eval("States.ArrayLength($.inputArray)", J(R"({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]})")), 9);
  EXPECT_EQ(Eval("States.ArrayLength(States.Array())"), 0);
  absl::Status s = Error("States.ArrayLength('abc')");
  EXPECT_EQ(ErrorName(s), "States.IntrinsicFailure");
  EXPECT_EQ(Message(s), R"(The function States.ArrayLength expects an array as argument 1, but got "abc")");
}

TEST_F(IntrinsicTest, ArrayUnique) {
  EXPECT_EQ(Eval("States.ArrayUnique($.a)", J(R"({"a": [1, 2, 3, 3, 3, 3, 3, 3, 4]})")), J("[1, 2, 3, 4]"));
  EXPECT_EQ(Eval("States.ArrayUnique($.a)", J(R"({"a": ["b", "a", "b", "c", "a"]})")), J(R"(["b", "a", "c"])"));
  EXPECT_EQ(Eval("States.ArrayUnique($.a)", J(R"({"a": [{"x": [1, 2]}, {"x": [1, 2]}, {"x": [2, 1]}, null, null]})")),
            J(R"([{"x": [1, 2]}, {"x": [2, 1]}, null])"));
  EXPECT_EQ(Eval("States.ArrayUnique($.a)", J(R"({"a": [1, "1", true, "true", null, "null"]})")).size(), 6u);
  EXPECT_EQ(Eval("States.ArrayUnique(States.Array(1, 1.0, $.n))", J(R"({"n": 1})")), J("[1]"));
  ExpectFailure("States.ArrayUnique($.a)", J(R"({"a": {"k": 1}})"));
}

TEST_F(IntrinsicTest, Base64) {
  EXPECT_EQ(Eval("States.Base64Encode($.input)", J(R"({"input": "Data to encode"})")), "RGF0YSB0byBlbmNvZGU=");
  EXPECT_EQ(Eval("States.Base64Decode($.base64)", J(R"({"base64": "RGF0YSB0byBlbmNvZGU="})")), "Data to encode");
  EXPECT_EQ(Eval("States.Base64Encode('')"), "");
  EXPECT_EQ(Eval("States.Base64Encode('a')"), "YQ==");
  EXPECT_EQ(Eval("States.Base64Encode('ab')"), "YWI=");
  EXPECT_EQ(Eval("States.Base64Decode('YQ')"), "a");
  EXPECT_EQ(Eval("States.Base64Decode('YW\nI=')"), "ab");
  Json unicode = J(R"({"s": "héllo wörld €😀"})");
  EXPECT_EQ(Eval("States.Base64Encode($.s)", unicode), "aMOpbGxvIHfDtnJsZCDigqzwn5iA");
  EXPECT_EQ(Eval("States.Base64Decode(States.Base64Encode($.s))", unicode), unicode["s"]);
  // Bytes that are not UTF-8 decode to U+FFFD, as Java's String does.
  EXPECT_EQ(Eval("States.Base64Decode('/w==')"), "\xEF\xBF\xBD");
  ExpectFailure("States.Base64Decode('!!!!')");
  ExpectFailure("States.Base64Decode('Y')");
  ExpectFailure("States.Base64Decode('YQ=')");
  ExpectFailure("States.Base64Decode('YQ==YQ==')");
  ExpectFailure("States.Base64Encode(12)");
  Json big = {{"s", std::string(10001, 'x')}};
  ExpectFailure("States.Base64Encode($.s)", big);
  ExpectFailure("States.Base64Decode($.s)", big);
  EXPECT_EQ(Eval("States.Base64Encode($.s)", {{"s", std::string(10000, 'x')}}).get<std::string>().size(), 13336u);
}

struct HashCase {
  const char* algorithm;
  const char* data;  // "a55": 55 'a's
  const char* digest;
};

std::string HashInput(const std::string& key) {
  if (key == "utf8") return "héllo wörld €😀";
  if (!key.empty() && key[0] == 'a' && key.size() > 1 && key != "abc")
    return std::string(std::stoul(key.substr(1)), 'a');
  return key;
}

TEST_F(IntrinsicTest, HashMatchesKnownDigests) {
  static const HashCase kCases[] = {
      {"MD5", "", "d41d8cd98f00b204e9800998ecf8427e"},
      {"SHA-1", "", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
      {"SHA-256", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"SHA-384", "",
       "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"},
      {"SHA-512", "",
       "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a8"
       "1a538327af927da3e"},
      {"MD5", "abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"SHA-1", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
      {"SHA-256", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"SHA-384", "abc",
       "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"},
      {"SHA-512", "abc",
       "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80"
       "e2a9ac94fa54ca49f"},
      {"MD5", "a55", "ef1772b6dff9a122358552954ad0df65"},
      {"SHA-1", "a55", "c1c8bbdc22796e28c0e15163d20899b65621d65a"},
      {"SHA-256", "a55", "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
      {"SHA-384", "a55",
       "5d91ac7e74e62b5c728904b40f10784d66b7af9cb6302123e48c92f0432ceb8d2a92c02de77dcb29ed75c4b42bde46f4"},
      {"SHA-512", "a55",
       "b0220c772cbf6c1822e2cb38a437d0e1d58772417a4bbb21c961364f8b6143e05aa6316dca8d1d7b19e16448419076395f6086cb55101fb"
       "d6d5497b148e1745f"},
      {"MD5", "a56", "3b0c8ac703f828b04c6c197006d17218"},
      {"SHA-1", "a56", "c2db330f6083854c99d4b5bfb6e8f29f201be699"},
      {"SHA-256", "a56", "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
      {"SHA-384", "a56",
       "8a8d9649ea04e993a6ca7135af7e3392cc5fca84f8531cac7aa3feed4eb98f55dcbe0f3284b61c6f35f98b02cc644b4c"},
      {"SHA-512", "a56",
       "962b64aae357d2a4fee3ded8b539bdc9d325081822b0bfc55583133aab44f18bafe11d72a7ae16c79ce2ba620ae2242d5144809161945f1"
       "367f41b3972e26e04"},
      {"MD5", "a64", "014842d480b571495a4a0363793f7367"},
      {"SHA-1", "a64", "0098ba824b5c16427bd7a1122a5a442a25ec644d"},
      {"SHA-256", "a64", "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
      {"SHA-384", "a64",
       "2e404b9339da795776e510d96930b3be2904c500395b8cb7413334b82d4dec413b4b8113045a05bbbcff846f027423f6"},
      {"SHA-512", "a64",
       "01d35c10c6c38c2dcf48f7eebb3235fb5ad74a65ec4cd016e2354c637a8fb49b695ef3c1d6f7ae4cd74d78cc9c9bcac9d4f23a73019998a"
       "7f73038a5c9b2dbde"},
      {"MD5", "a111", "089f243d1e831c5879aa375ee364a06e"},
      {"SHA-1", "a111", "ac877859d427d9192054eea8feb3b8a403ef83a5"},
      {"SHA-256", "a111", "6374f73208854473827f6f6a3f43b1f53eaa3b82c21c1a6d69a2110b2a79baad"},
      {"SHA-384", "a111",
       "3c37955051cb5c3026f94d551d5b5e2ac38d572ae4e07172085fed81f8466b8f90dc23a8ffcdea0b8d8e58e8fdacc80a"},
      {"SHA-512", "a111",
       "fa9121c7b32b9e01733d034cfc78cbf67f926c7ed83e82200ef86818196921760b4beff48404df811b953828274461673c68d04e297b0eb"
       "7b2b4d60fc6b566a2"},
      {"MD5", "a112", "9146ef3527c7cfcc66dc615c3986e391"},
      {"SHA-1", "a112", "689993727ba37386bb032495e9dbdfb4dd1ba744"},
      {"SHA-256", "a112", "f54353008a2553262ecdc4a34749563ba0950e8b0fc8652780b0a614b99683c1"},
      {"SHA-384", "a112",
       "187d4e07cb306103c69967bf544d0dfbe9042577599c73c330abc0cb64c61236d5ed565ee19119d8c31779a38f791fcd"},
      {"SHA-512", "a112",
       "c01d080efd492776a1c43bd23dd99d0a2e626d481e16782e75d54c2503b5dc32bd05f0f1ba33e568b88fd2d970929b719ecbb152f58f130"
       "a407c8830604b70ca"},
      {"MD5", "a1000", "cabe45dcc9ae5b66ba86600cca6b8ba8"},
      {"SHA-1", "a1000", "291e9a6c66994949b57ba5e650361e98fc36b1ba"},
      {"SHA-256", "a1000", "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"},
      {"SHA-384", "a1000",
       "f54480689c6b0b11d0303285d9a81b21a93bca6ba5a1b4472765dca4da45ee328082d469c650cd3b61b16d3266ab8ced"},
      {"SHA-512", "a1000",
       "67ba5535a46e3f86dbfbed8cbbaf0125c76ed549ff8b0b9e03e0c88cf90fa634fa7b12b47d77b694de488ace8d9a65967dc96df599727d3"
       "292a8d9d447709c97"},
      {"MD5", "utf8", "93b221c9efd0ea994f9492f36796d1cf"},
      {"SHA-1", "utf8", "183698127dd564759d779d52dd357d8f73aba635"},
      {"SHA-256", "utf8", "0a911cd5723335bafcad3516f617f1a77a27389ea038ded5c3e62c4fde9c72d8"},
      {"SHA-384", "utf8",
       "d6b264fb7bca78e3c6988497e18aa6b1ad7cadb892922b8cfec07aa394b0ac1c6b5c975d8e7e30ff8ffae0a5d43dee1c"},
      {"SHA-512", "utf8",
       "e36e3136d0a9c1d8214667ad0ae1baf980d958aed03bbe5043b3f8af7aa8b4d99e317455021f717c78426c00315769b992d98eda6946b42"
       "83e3e00005faeba56"},
  };
  for (const HashCase& c : kCases) {
    Json input = {{"data", HashInput(c.data)}, {"algorithm", c.algorithm}};
    EXPECT_EQ(Eval("States.Hash($.data, $.algorithm)", input), c.digest) << c.algorithm << " " << c.data;
  }
}

TEST_F(IntrinsicTest, HashDocExampleAndErrors) {
  EXPECT_EQ(Eval("States.Hash($.Data, $.Algorithm)", J(R"({"Data": "input data", "Algorithm": "SHA-1"})")),
            "aaff4a450a104cd177d28d18d74485e8cae074b7");
  absl::Status s = Error("States.Hash('x', 'SHA-3')");
  EXPECT_EQ(ErrorName(s), "States.IntrinsicFailure");
  EXPECT_EQ(
      Message(s),
      R"(The function States.Hash expects one of MD5, SHA-1, SHA-256, SHA-384, SHA-512 as argument 2, but got "SHA-3")");
  ExpectFailure("States.Hash('x', 'sha-256')");
  ExpectFailure("States.Hash(1, 'MD5')");
  ExpectFailure("States.Hash('x')");
  ExpectFailure("States.Hash($.s, 'MD5')", {{"s", std::string(10001, 'x')}});
}

TEST_F(IntrinsicTest, JsonMerge) {
  Json input = J(R"({"json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}})");
  EXPECT_EQ(Eval("States.JsonMerge($.json1, $.json2, false)", input),
            J(R"({"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3})"));
  EXPECT_EQ(Eval("States.JsonMerge($.json1, States.StringToJson('{}'), false)", input), input["json1"]);
  absl::Status s = Error("States.JsonMerge($.json1, $.json2, true)", input);
  EXPECT_EQ(ErrorName(s), "States.IntrinsicFailure");
  ExpectFailure("States.JsonMerge($.json1, 'x', false)", input);
  ExpectFailure("States.JsonMerge(States.Array(), $.json2, false)", input);
  ExpectFailure("States.JsonMerge($.json1, $.json2, 'false')", input);
  ExpectFailure("States.JsonMerge($.json1, $.json2)", input);
}

TEST_F(IntrinsicTest, MathRandomStaysInTheHalfOpenRange) {
  std::set<int64_t> seen;
  for (int i = 0; i < 300; ++i) {
    Json v = Eval("States.MathRandom($.start, $.end)", J(R"({"start": 1, "end": 4})"));
    ASSERT_TRUE(v.is_number_integer());
    int64_t n = v.get<int64_t>();
    EXPECT_GE(n, 1);
    EXPECT_LT(n, 4);
    seen.insert(n);
  }
  EXPECT_EQ(seen, (std::set<int64_t>{1, 2, 3}));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Eval("States.MathRandom(3, 4)"), 3);
  Json wide = Eval("States.MathRandom(-1000000, 1000000)");
  EXPECT_GE(wide.get<int64_t>(), -1000000);
  EXPECT_LT(wide.get<int64_t>(), 1000000);
}

TEST_F(IntrinsicTest, MathRandomWithASeedIsRepeatable) {
  Json first = Eval("States.MathRandom(1, 1000000, 42)");
  EXPECT_EQ(Eval("States.MathRandom(1, 1000000, 42)"), first);
  EXPECT_EQ(Eval("States.MathRandom($.s, $.e, $.seed)", J(R"({"s": 1, "e": 1000000, "seed": 42})")), first);
  std::set<Json> values;
  for (int seed = 0; seed < 10; ++seed)
    values.insert(Eval("States.MathRandom(1, 1000000, " + std::to_string(seed) + ")"));
  EXPECT_GT(values.size(), 5u);
}

TEST_F(IntrinsicTest, MathRandomErrors) {
  ExpectFailure("States.MathRandom(7, 7)");
  ExpectFailure("States.MathRandom(10, 1)");
  ExpectFailure("States.MathRandom('1', 9)");
  ExpectFailure("States.MathRandom(1, 9, 'seed')");
  ExpectFailure("States.MathRandom(1)");
  ExpectFailure("States.MathRandom(1, 2, 3, 4)");
}

TEST_F(IntrinsicTest, MathAdd) {
  EXPECT_EQ(Eval("States.MathAdd($.value1, $.step)", J(R"({"value1": 111, "step": -1})")), 110);
  EXPECT_EQ(Eval("States.MathAdd(1.5, 1)"), 3);  // 1.5 rounds half up to 2
  EXPECT_EQ(Eval("States.MathAdd(-1.5, 0)"), -1);
  EXPECT_EQ(Eval("States.MathAdd(2.4, 0.4)"), 2);
  EXPECT_EQ(Eval("States.MathAdd(States.ArrayLength(States.Array(1, 2)), 40)"), 42);
  absl::Status s = Error("States.MathAdd(1)");
  EXPECT_EQ(ErrorName(s), "States.IntrinsicFailure");
  EXPECT_EQ(Message(s), "The function States.MathAdd takes 2 arguments, but 1 was given");
  ExpectFailure("States.MathAdd('1', 2)");
  ExpectFailure("States.MathAdd(1, null)");
  ExpectFailure("States.MathAdd(9223372036854775807, 1)");
}

TEST_F(IntrinsicTest, StringSplit) {
  EXPECT_EQ(
      Eval("States.StringSplit($.inputString, $.splitter)", J(R"({"inputString": "1,2,3,4,5", "splitter": ","})")),
      J(R"(["1", "2", "3", "4", "5"])"));
  EXPECT_EQ(Eval("States.StringSplit('This.is+a,test=string', '.+,=')"), J(R"(["This", "is", "a", "test", "string"])"));
  EXPECT_EQ(Eval("States.StringSplit(',a,,b,', ',')"), J(R"(["a", "b"])"));
  EXPECT_EQ(Eval("States.StringSplit('a€b', '€')"), J(R"(["a", "b"])"));
  EXPECT_EQ(Eval("States.StringSplit('abc', '')"), J(R"(["abc"])"));
  EXPECT_EQ(Eval("States.StringSplit('', ',')"), J("[]"));
  ExpectFailure("States.StringSplit(1, ',')");
  ExpectFailure("States.StringSplit('a', 1)");
}

TEST_F(IntrinsicTest, Uuid) {
  Json a = Eval("States.UUID()"), b = Eval("States.UUID()");
  ASSERT_TRUE(a.is_string());
  EXPECT_TRUE(std::regex_match(a.get<std::string>(),
                               std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << a;
  EXPECT_NE(a, b);
  ExpectFailure("States.UUID(1)");
}

TEST_F(IntrinsicTest, NestedCalls) {
  Json input =
      J(R"({"ImageRecipe": {"Arn": "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/my-recipe/1.0.2"}})");
  EXPECT_EQ(Eval("States.Format('{}.{}', "
                 "States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, "
                 "'/'), 2), '.'), 0), "
                 "States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, "
                 "'/'), 2), '.'), 1))",
                 input),
            "1.0");
  EXPECT_EQ(Eval("States.JsonToString(States.Array(States.MathAdd(1, 1), States.Hash('abc', 'MD5')))"),
            R"([2,"900150983cd24fb0d6963f7d28e17f72"])");
}

TEST_F(IntrinsicTest, PathArgumentsWithBracketsCommasAndParentheses) {
  Json input = J(R"({"a,b": 1, "n": [1, 2, 3, 4], "l": [{"x": 1}, {"x": 5}]})");
  EXPECT_EQ(Eval("States.Array($['a,b'], $.n[1:3], $.l[?(@.x > 2)].x, $)", input),
            Json::array({1, J("[2, 3]"), J("[5]"), input}));
  EXPECT_EQ(Eval("  States.Array(  1 ,'a'  ,  $.n[0]  )  ", input), J(R"([1, "a", 1])"));
  EXPECT_EQ(Eval("States.Array($$.Execution.Id)"), J(R"(["arn:e1"])"));
}

TEST_F(IntrinsicTest, MissingPathArgumentIsStatesRuntime) {
  absl::Status s = Error("States.Array($.missing)", J(R"({"a": 1})"));
  EXPECT_EQ(ErrorName(s), "States.Runtime");
  EXPECT_EQ(
      Message(s),
      R"(The JSONPath '$.missing' specified for the field 'States.Array($.missing)' could not be found in the input '{"a":1}')");
}

TEST_F(IntrinsicTest, MalformedCallsAndUnknownFunctions) {
  absl::Status s = Error("States.Nope(1)");
  EXPECT_EQ(ErrorName(s), "States.IntrinsicFailure");
  EXPECT_EQ(Message(s), "The function States.Nope is not a supported intrinsic function");
  for (const char* bad : {"States.Array(1", "States.Array(1,)", "States.Array(,1)", "Foo.Bar()", "States.Array(1) x",
                          "States.Array('unterminated)", "States.Array(x)", "States.Array($.)", "States.Array(1 2)", "",
                          "States.Array", "States.Array(-)", "States.Array($..)", "States.Array(\"dq\")"}) {
    absl::Status e = Error(bad);
    EXPECT_EQ(ErrorName(e), "States.IntrinsicFailure") << bad;
    EXPECT_EQ(Message(e).rfind("Invalid intrinsic function call", 0), 0u) << bad << ": " << Message(e);
  }
}

TEST_F(IntrinsicTest, DeepNestingIsRefusedWithoutCrashing) {
  std::string expr;
  for (int i = 0; i < 200; ++i) expr += "States.Array(";
  expr += "1";
  for (int i = 0; i < 200; ++i) expr += ")";
  ExpectFailure(expr);
}

// ---------------------------------------------------------------------------------------
// Choice rules

class ChoiceRuleTest : public ::testing::Test {
 protected:
  bool Eval(const std::string& rule) {
    absl::StatusOr<bool> r = EvaluateChoiceRule(J(rule), input_, context_);
    EXPECT_TRUE(r.ok()) << rule << ": " << r.status();
    return r.ok() && *r;
  }
  absl::Status Error(const std::string& rule) {
    absl::StatusOr<bool> r = EvaluateChoiceRule(J(rule), input_, context_);
    EXPECT_FALSE(r.ok()) << rule;
    return r.ok() ? absl::OkStatus() : r.status();
  }
  // {"Variable": variable, op: operand}
  bool Rule(const std::string& variable, const std::string& op, const Json& operand) {
    Json rule = {{"Variable", variable}, {op, operand}};
    absl::StatusOr<bool> r = EvaluateChoiceRule(rule, input_, context_);
    EXPECT_TRUE(r.ok()) << rule << ": " << r.status();
    return r.ok() && *r;
  }

  Json input_ = J(R"({
    "type": "Private", "value": 22, "float": 22.0, "neg": -5, "flag": true, "nothing": null,
    "name": "log-2024.txt", "star": "a*b", "slash": "a\\b", "emoji": "😀", "halfwidth": "｡",
    "ts": "2001-01-01T12:00:00Z", "ts_offset": "2001-01-01T13:00:00+01:00", "ts_frac": "2001-01-01T12:00:00.5Z",
    "other": {"value": 22, "name": "log-2024.txt", "flag": true, "ts": "2001-01-01T11:59:59Z"},
    "list": [1, 2]
  })");
  Json context_ = J(R"({"Execution": {"Name": "e1"}, "Map": {"Item": {"Index": 22}}})");
};

TEST_F(ChoiceRuleTest, StringComparisons) {
  EXPECT_TRUE(Rule("$.type", "StringEquals", "Private"));
  EXPECT_FALSE(Rule("$.type", "StringEquals", "private"));
  EXPECT_TRUE(Rule("$.type", "StringLessThan", "Public"));
  EXPECT_FALSE(Rule("$.type", "StringLessThan", "Private"));
  EXPECT_TRUE(Rule("$.type", "StringLessThanEquals", "Private"));
  EXPECT_TRUE(Rule("$.type", "StringGreaterThan", "Pri"));
  EXPECT_FALSE(Rule("$.type", "StringGreaterThan", "Private"));
  EXPECT_TRUE(Rule("$.type", "StringGreaterThanEquals", "Private"));
  EXPECT_FALSE(Rule("$.type", "StringGreaterThanEquals", "Q"));
  // Java's compareTo orders UTF-16 units: U+1F600 (surrogates D83D...) sorts before U+FF61.
  EXPECT_TRUE(Rule("$.emoji", "StringLessThan", "｡"));
  EXPECT_TRUE(Rule("$.halfwidth", "StringGreaterThan", "😀"));
  // Wrong types compare false rather than failing.
  EXPECT_FALSE(Rule("$.value", "StringEquals", "22"));
  EXPECT_FALSE(Rule("$.nothing", "StringLessThan", "z"));
  // A timestamp is a string too.
  EXPECT_TRUE(Rule("$.ts", "StringEquals", "2001-01-01T12:00:00Z"));
}

TEST_F(ChoiceRuleTest, StringMatches) {
  EXPECT_TRUE(Rule("$.name", "StringMatches", "log-*.txt"));
  EXPECT_TRUE(Rule("$.name", "StringMatches", "*"));
  EXPECT_TRUE(Rule("$.name", "StringMatches", "log-2024.txt"));
  EXPECT_TRUE(Rule("$.name", "StringMatches", "*2*4*"));
  EXPECT_TRUE(Rule("$.name", "StringMatches", "log*-*.*"));
  EXPECT_FALSE(Rule("$.name", "StringMatches", "log-*.csv"));
  EXPECT_FALSE(Rule("$.name", "StringMatches", "*.txt.*"));
  EXPECT_FALSE(Rule("$.name", "StringMatches", "log-2024"));
  EXPECT_TRUE(Rule("$.star", "StringMatches", "a\\*b"));  // JSON "a\\*b": a literal '*'
  EXPECT_FALSE(Rule("$.name", "StringMatches", "log\\*"));
  EXPECT_TRUE(Rule("$.slash", "StringMatches", "a\\\\b"));
  EXPECT_TRUE(Rule("$.slash", "StringMatches", "*\\\\*"));
  EXPECT_FALSE(Rule("$.value", "StringMatches", "*"));
  absl::Status s = Error(R"({"Variable": "$.name", "StringMatches": "log\\d"})");
  EXPECT_EQ(ErrorName(s), "States.Runtime");
  EXPECT_EQ(ErrorName(Error(R"({"Variable": "$.name", "StringMatches": "trailing\\"})")), "States.Runtime");
}

TEST_F(ChoiceRuleTest, NumericComparisons) {
  EXPECT_TRUE(Rule("$.value", "NumericEquals", 22));
  EXPECT_TRUE(Rule("$.value", "NumericEquals", 22.0));
  EXPECT_TRUE(Rule("$.float", "NumericEquals", 22));
  EXPECT_FALSE(Rule("$.value", "NumericEquals", 23));
  EXPECT_TRUE(Rule("$.value", "NumericLessThan", 22.5));
  EXPECT_FALSE(Rule("$.value", "NumericLessThan", 22));
  EXPECT_TRUE(Rule("$.value", "NumericLessThanEquals", 22));
  EXPECT_TRUE(Rule("$.value", "NumericGreaterThan", 21.99));
  EXPECT_TRUE(Rule("$.neg", "NumericGreaterThan", -6));
  EXPECT_FALSE(Rule("$.value", "NumericGreaterThan", 22));
  EXPECT_TRUE(Rule("$.value", "NumericGreaterThanEquals", 22));
  EXPECT_FALSE(Rule("$.value", "NumericGreaterThanEquals", 30));
  EXPECT_FALSE(Rule("$.type", "NumericEquals", 0));
  EXPECT_FALSE(Rule("$.flag", "NumericEquals", 1));
  EXPECT_FALSE(Rule("$.value", "NumericEquals", "22"));
}

TEST_F(ChoiceRuleTest, BooleanEquals) {
  EXPECT_TRUE(Rule("$.flag", "BooleanEquals", true));
  EXPECT_FALSE(Rule("$.flag", "BooleanEquals", false));
  EXPECT_FALSE(Rule("$.type", "BooleanEquals", true));
  EXPECT_FALSE(Rule("$.value", "BooleanEquals", true));
}

TEST_F(ChoiceRuleTest, TimestampComparisonsAreInstants) {
  EXPECT_TRUE(Rule("$.ts", "TimestampEquals", "2001-01-01T12:00:00Z"));
  EXPECT_TRUE(Rule("$.ts_offset", "TimestampEquals", "2001-01-01T12:00:00Z"));
  EXPECT_TRUE(Rule("$.ts", "TimestampEquals", "2001-01-01T07:00:00-05:00"));
  EXPECT_TRUE(Rule("$.ts", "TimestampEquals", "2001-01-01T12:00:00.000Z"));
  EXPECT_FALSE(Rule("$.ts_frac", "TimestampEquals", "2001-01-01T12:00:00Z"));
  EXPECT_TRUE(Rule("$.ts_frac", "TimestampGreaterThan", "2001-01-01T12:00:00.499999999Z"));
  EXPECT_TRUE(Rule("$.ts", "TimestampLessThan", "2001-01-01T12:30:00+00:15"));
  EXPECT_FALSE(Rule("$.ts", "TimestampLessThan", "2001-01-01T12:30:00+00:30"));
  EXPECT_TRUE(Rule("$.ts", "TimestampLessThanEquals", "2001-01-01T12:30:00+00:30"));
  EXPECT_TRUE(Rule("$.ts", "TimestampGreaterThan", "2000-12-31T23:59:59Z"));
  EXPECT_TRUE(Rule("$.ts", "TimestampGreaterThanEquals", "2001-01-01T14:00:00+02:00"));
  EXPECT_FALSE(Rule("$.ts", "TimestampGreaterThanEquals", "2001-01-02T00:00:00+11:00"));
  // Not timestamps: false, not an error.
  EXPECT_FALSE(Rule("$.type", "TimestampEquals", "2001-01-01T12:00:00Z"));
  EXPECT_FALSE(Rule("$.ts", "TimestampEquals", "2001-01-01t12:00:00z"));
  EXPECT_FALSE(Rule("$.value", "TimestampLessThan", "2001-01-01T12:00:00Z"));
}

TEST_F(ChoiceRuleTest, PathVariantsCompareTwoValuesOfTheInput) {
  EXPECT_TRUE(Rule("$.value", "NumericEqualsPath", "$.other.value"));
  EXPECT_TRUE(Rule("$.value", "NumericEqualsPath", "$$.Map.Item.Index"));
  EXPECT_FALSE(Rule("$.value", "NumericLessThanPath", "$.other.value"));
  EXPECT_TRUE(Rule("$.neg", "NumericLessThanPath", "$.value"));
  EXPECT_TRUE(Rule("$.value", "NumericLessThanEqualsPath", "$.float"));
  EXPECT_TRUE(Rule("$.value", "NumericGreaterThanPath", "$.neg"));
  EXPECT_TRUE(Rule("$.value", "NumericGreaterThanEqualsPath", "$.other.value"));
  EXPECT_TRUE(Rule("$.name", "StringEqualsPath", "$.other.name"));
  EXPECT_TRUE(Rule("$.type", "StringLessThanPath", "$.name"));  // 'P' < 'l'
  EXPECT_TRUE(Rule("$.name", "StringGreaterThanPath", "$.type"));
  EXPECT_TRUE(Rule("$.name", "StringLessThanEqualsPath", "$.other.name"));
  EXPECT_TRUE(Rule("$.name", "StringGreaterThanEqualsPath", "$.other.name"));
  EXPECT_TRUE(Rule("$.flag", "BooleanEqualsPath", "$.other.flag"));
  EXPECT_TRUE(Rule("$.ts", "TimestampEqualsPath", "$.ts_offset"));
  EXPECT_TRUE(Rule("$.ts", "TimestampGreaterThanPath", "$.other.ts"));
  EXPECT_TRUE(Rule("$.other.ts", "TimestampLessThanPath", "$.ts"));
  EXPECT_TRUE(Rule("$.ts_frac", "TimestampGreaterThanEqualsPath", "$.ts"));
  EXPECT_TRUE(Rule("$.ts", "TimestampLessThanEqualsPath", "$.ts_offset"));
  EXPECT_FALSE(Rule("$.value", "StringEqualsPath", "$.type"));
  absl::Status s = Error(R"({"Variable": "$.value", "NumericEqualsPath": "$.absent"})");
  EXPECT_EQ(ErrorName(s), "States.Runtime");
  EXPECT_EQ(Message(s), "Invalid path '$.absent': The choice state's condition path references an invalid value.");
}

TEST_F(ChoiceRuleTest, TypeTests) {
  EXPECT_TRUE(Rule("$.nothing", "IsNull", true));
  EXPECT_FALSE(Rule("$.value", "IsNull", true));
  EXPECT_TRUE(Rule("$.value", "IsNull", false));
  EXPECT_TRUE(Rule("$.value", "IsPresent", true));
  EXPECT_TRUE(Rule("$.nothing", "IsPresent", true));
  EXPECT_FALSE(Rule("$.absent", "IsPresent", true));
  EXPECT_TRUE(Rule("$.absent", "IsPresent", false));
  EXPECT_FALSE(Rule("$.other.absent.deeper", "IsPresent", true));
  EXPECT_TRUE(Rule("$.value", "IsNumeric", true));
  EXPECT_TRUE(Rule("$.float", "IsNumeric", true));
  EXPECT_FALSE(Rule("$.flag", "IsNumeric", true));
  EXPECT_TRUE(Rule("$.type", "IsNumeric", false));
  EXPECT_TRUE(Rule("$.type", "IsString", true));
  EXPECT_FALSE(Rule("$.nothing", "IsString", true));
  EXPECT_TRUE(Rule("$.flag", "IsBoolean", true));
  EXPECT_FALSE(Rule("$.type", "IsBoolean", true));
  EXPECT_TRUE(Rule("$.ts", "IsTimestamp", true));
  EXPECT_TRUE(Rule("$.ts_offset", "IsTimestamp", true));
  EXPECT_FALSE(Rule("$.type", "IsTimestamp", true));
  EXPECT_TRUE(Rule("$.value", "IsTimestamp", false));
  EXPECT_TRUE(Rule("$.list", "IsString", false));
  EXPECT_TRUE(Rule("$$.Execution.Name", "IsString", true));
}

TEST_F(ChoiceRuleTest, AbsentVariableFailsEveryTestButIsPresent) {
  for (const char* rule :
       {R"({"Variable": "$.absent", "StringEquals": "x"})", R"({"Variable": "$.absent", "NumericGreaterThan": 1})",
        R"({"Variable": "$.absent", "IsNull": true})", R"({"Variable": "$.absent", "BooleanEqualsPath": "$.flag"})"}) {
    absl::Status s = Error(rule);
    EXPECT_EQ(ErrorName(s), "States.Runtime") << rule;
    EXPECT_EQ(Message(s), "Invalid path '$.absent': The choice state's condition path references an invalid value.");
  }
}

TEST_F(ChoiceRuleTest, AndOrNot) {
  // The AWS documentation's example, with input {"type": "Private", "value": 22}.
  EXPECT_FALSE(Eval(R"({"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"})"));
  EXPECT_FALSE(Eval(R"({"Variable": "$.value", "NumericEquals": 0, "Next": "ValueIsZero"})"));
  EXPECT_TRUE(Eval(R"({"And": [{"Variable": "$.value", "NumericGreaterThanEquals": 20},
                               {"Variable": "$.value", "NumericLessThan": 30}], "Next": "ValueInTwenties"})"));
  EXPECT_TRUE(Eval(R"({"Or": [{"Variable": "$.value", "NumericEquals": 0},
                              {"Variable": "$.type", "StringEquals": "Private"}]})"));
  EXPECT_FALSE(Eval(R"({"Or": [{"Variable": "$.value", "NumericEquals": 0},
                               {"Not": {"Variable": "$.flag", "BooleanEquals": true}}]})"));
  EXPECT_TRUE(Eval(R"({"And": [
      {"Or": [{"Variable": "$.type", "StringEquals": "Public"},
              {"Not": {"Not": {"Variable": "$.type", "StringMatches": "Pri*"}}}]},
      {"Not": {"And": [{"Variable": "$.value", "IsNumeric": true},
                       {"Variable": "$.value", "NumericGreaterThan": 100}]}},
      {"Variable": "$.ts", "TimestampLessThanPath": "$.ts_frac"}]})"));
}

TEST_F(ChoiceRuleTest, AndAndOrShortCircuit) {
  // The docs' guard: the StringEquals is not evaluated once IsPresent is false.
  EXPECT_FALSE(Eval(R"({"And": [{"Variable": "$.absent", "IsPresent": true},
                                {"Variable": "$.absent", "StringEquals": "foo"}]})"));
  EXPECT_TRUE(Eval(R"({"Or": [{"Variable": "$.absent", "IsPresent": false},
                              {"Variable": "$.absent", "StringEquals": "foo"}]})"));
  EXPECT_EQ(ErrorName(Error(R"({"Or": [{"Variable": "$.absent", "IsPresent": true},
                                       {"Variable": "$.absent", "StringEquals": "foo"}]})")),
            "States.Runtime");
}

TEST_F(ChoiceRuleTest, MalformedRulesAreStatesRuntime) {
  for (const char* rule : {R"({"Variable": "$.value"})", R"({"Variable": "$.value", "NumericEquals": 1,
                                                             "NumericLessThan": 2})",
                           R"({"NumericEquals": 1})", R"({"And": []})", R"({"Or": {}})", R"([1])", R"("rule")",
                           R"({"Variable": "value", "NumericEquals": 1})", R"({"Variable": 5, "IsNull": true})",
                           R"({"Variable": "$.value", "IsNull": "yes"})", R"({"Variable": "$.value", "IsPresent": 1})",
                           R"({"Variable": "$.value", "NumericEqualsPath": 5})", R"({"Not": 1})"}) {
    EXPECT_EQ(ErrorName(Error(rule)), "States.Runtime") << rule;
  }
}

TEST_F(ChoiceRuleTest, DeepNestingIsRefusedWithoutCrashing) {
  Json rule = {{"Variable", "$.value"}, {"IsPresent", true}};
  for (int i = 0; i < 1000; ++i) rule = {{"Not", rule}};
  absl::StatusOr<bool> r = EvaluateChoiceRule(rule, input_, context_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ErrorName(r.status()), "States.Runtime");
}

// ---------------------------------------------------------------------------------------
// Timestamps

TEST(TimestampTest, AcceptsRfc3339AsStepFunctionsDoes) {
  for (const char* ok : {"2016-03-14T01:59:00Z", "2016-03-14T01:59:00.123Z", "2016-03-14T01:59:00.123456789Z",
                         "2016-03-14T01:59:00+05:30", "2016-03-14T01:59:00.5-08:00", "2016-02-29T00:00:00Z",
                         "2000-02-29T23:59:59Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"}) {
    EXPECT_TRUE(IsTimestamp(ok)) << ok;
  }
  for (const char* bad :
       {"2016-03-14t01:59:00Z", "2016-03-14T01:59:00z", "2016-03-14T01:59:00", "2016-03-14 01:59:00Z",
        "2016-02-30T00:00:00Z", "2015-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2016-13-01T00:00:00Z",
        "2016-03-14T24:00:00Z", "2016-03-14T01:60:00Z", "2016-03-14T01:59:60Z", "2016-03-14T01:59:00.Z",
        "2016-03-14T01:59:00+0530", "2016-03-14T01:59:00+24:00", "2016-3-14T01:59:00Z", "2016-03-14T01:59:00Z ", "",
        "2016-03-14", "not a timestamp"}) {
    EXPECT_FALSE(IsTimestamp(bad)) << bad;
  }
}

// ---------------------------------------------------------------------------------------
// Robustness: arbitrary text never crashes the parsers (a smoke test; the libFuzzer target is
// the thorough version).

TEST(RobustnessTest, RandomTextNeverCrashesTheParsers) {
  static const std::vector<std::string> kTokens = {"$",
                                                   "$$",
                                                   "@",
                                                   ".",
                                                   "..",
                                                   "[",
                                                   "]",
                                                   "(",
                                                   ")",
                                                   "?(",
                                                   "'a'",
                                                   "\"b\"",
                                                   "*",
                                                   ":",
                                                   ",",
                                                   "-1",
                                                   "0",
                                                   "2",
                                                   "a",
                                                   "b",
                                                   "==",
                                                   "!=",
                                                   "<",
                                                   ">=",
                                                   "&&",
                                                   "||",
                                                   "!",
                                                   "=~",
                                                   "/a.*/i",
                                                   "/(/",
                                                   " in ",
                                                   " nin ",
                                                   "[1,'a']",
                                                   "true",
                                                   "null",
                                                   "States.Array(",
                                                   "States.Format(",
                                                   "States.Hash(",
                                                   "'{}'",
                                                   "'\\'",
                                                   "\\",
                                                   "{",
                                                   "}",
                                                   " ",
                                                   "1e3",
                                                   "'it\\'s'",
                                                   "States.ArrayRange(1, 9, 2)",
                                                   "$.a",
                                                   "$[0]",
                                                   "$..*"};
  std::mt19937 rng(20240601);
  Json input = J(R"({"a": [1, {"b": "c", "d": [2, 3]}], "s": "x", "n": null})");
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    size_t n = rng() % 12;
    for (size_t k = 0; k < n; ++k) text += kTokens[rng() % kTokens.size()];
    (void)SelectPath(input, text, input, "InputPath");
    (void)SelectPath(input, "$" + text, input, "InputPath");
    (void)ApplyResultPath(input, input, Json("$" + text));
    (void)EvaluateIntrinsic(text, input, input);
    (void)EvaluateIntrinsic("States.Array(" + text, input, input);
    (void)EvaluatePayloadTemplate(Json{{"x.$", text}}, input, input);
    (void)EvaluateChoiceRule(Json{{"Variable", "$" + text}, {"StringMatches", text}}, input, input);
  }
}

}  // namespace
}  // namespace sluice::states
