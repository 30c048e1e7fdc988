#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

// The data-processing core of the Amazon States Language (JSONPath flavour): paths
// (InputPath, OutputPath, ItemsPath, *Path fields, Choice variables), ResultPath,
// payload templates (Parameters, ResultSelector, ItemSelector), intrinsic functions
// (States.Format, States.Hash, ...) and Choice rules.
//
// Every function here is pure and thread-safe: it reads only its arguments (States.UUID and
// an unseeded States.MathRandom draw from a per-thread generator). Nothing throws; failures
// are Status values that name an ASL error (see StatesError()), so a Task's Retry/Catch can
// match them by name.
namespace sluice::states {

using Json = nlohmann::json;

// An ASL error: a Status whose payload names the error ("States.Runtime",
// "States.IntrinsicFailure", ...) and whose message is the Cause.
absl::Status StatesError(const std::string& error, const std::string& cause);
// The ASL error a Status names; "States.Runtime" for a failed Status without one, "" for OK.
std::string ErrorName(const absl::Status& status);

// Applies a JSONPath to `input` ("$..." paths) or to `context` ("$$..." paths). Supported:
// "$", ".name", "['name']" / ["name"], "[0]", "[-1]", "[0,2]", "['a','b']", "*", "[*]",
// slices "[1:3]" / "[::2]", deep scan "..name" / "..*", and filters "[?(@.x > 1)]" with
// == != < <= > >= =~ /regex/i, in, nin, &&, ||, !, parentheses and existence tests
// ("[?(@.isbn)]"). A definite path (names and single indexes only) yields the value it
// names; any other path yields an array of its matches (possibly empty), as Jayway
// JsonPath does for Step Functions.
// Errors: States.Runtime when the path is malformed ("The value for the field '<field>'
// must be a valid JSONPath") or a definite path matches nothing ("The JSONPath '$.x'
// specified for the field '<field>' could not be found in the input '<input>'").
absl::StatusOr<Json> SelectPath(const Json& input, const std::string& path, const Json& context,
                                const std::string& field);

// ResultPath: puts `result` into `input` at a reference path. "$" replaces the input; "$.a.b"
// creates the objects it needs; "[i]" steps replace inside existing arrays; a null (or
// discarded, i.e. absent) `result_path` keeps the input and drops the result.
// Errors: States.Runtime "Unable to apply ReferencePath <path> to input <input>" when a step
// meets something that is not an object (or an index outside its array), and for paths that
// are not reference paths.
absl::StatusOr<Json> ApplyResultPath(const Json& input, const Json& result, const Json& result_path);

// A payload template (Parameters, ResultSelector, ItemSelector, ...): recursively through
// objects and arrays, a key "name.$" becomes "name" with the value of its string: a path on
// `input` ("$..."), a path on `context` ("$$..."), or an intrinsic function call; other values
// are copied as they are.
// Errors: those of SelectPath (field "name.$") and EvaluateIntrinsic; States.Runtime when a
// ".$" value is not a string, path or intrinsic call.
absl::StatusOr<Json> EvaluatePayloadTemplate(const Json& tmpl, const Json& input, const Json& context);

// Evaluates one intrinsic function call, e.g. "States.Format('{} is {}', $.name, 42)".
// Arguments: 'strings' (escapes \' \{ \} \\), numbers, true/false/null, paths ($, $.x, $$.x)
// and nested calls. Functions: States.Format, StringToJson, JsonToString, Array,
// ArrayPartition, ArrayContains, ArrayRange, ArrayGetItem, ArrayLength, ArrayUnique,
// Base64Encode, Base64Decode, Hash (MD5, SHA-1, SHA-256, SHA-384, SHA-512), JsonMerge,
// MathRandom, MathAdd, StringSplit, UUID.
// Errors: States.IntrinsicFailure for malformed calls, unknown functions and bad arguments
// (count, type, range); States.Runtime when a path argument matches nothing.
absl::StatusOr<Json> EvaluateIntrinsic(const std::string& expression, const Json& input, const Json& context);

// Evaluates a Choice rule (an element of Choices, or a rule nested in And / Or / Not)
// against the state's effective input: Variable with String*, Numeric*, Boolean*,
// Timestamp* comparisons (and their *Path variants), StringMatches ('*' wildcard, "\\*"
// and "\\\\" escapes), IsNull, IsPresent, IsNumeric, IsString, IsBoolean, IsTimestamp;
// And, Or (short-circuiting) and Not. A comparison between values of the wrong types is
// false. Timestamps are RFC 3339 with an uppercase T and Z or a numeric offset, compared as
// instants.
// Errors: States.Runtime "Invalid path '<path>': The choice state's condition path
// references an invalid value." when the Variable (or a *Path operand) matches nothing,
// except for IsPresent, which is then false; States.Runtime for malformed rules and
// StringMatches patterns with an open escape.
absl::StatusOr<bool> EvaluateChoiceRule(const Json& rule, const Json& input, const Json& context);

// True when `s` is an RFC 3339 timestamp as Step Functions accepts it (Choice IsTimestamp,
// Wait Timestamp): "2016-03-14T01:59:00Z", "2016-03-14T01:59:00.123+01:00".
bool IsTimestamp(const std::string& s);

}  // namespace sluice::states
