#pragma once

#include <string>
#include <string_view>
#include <vector>

// Static validation of Amazon States Language definitions: what CreateStateMachine,
// UpdateStateMachine and ValidateStateMachineDefinition check before a definition is
// accepted. Pure functions over the definition text; safe to call from any thread.
namespace sluice::states {

inline constexpr char kSeverityError[] = "ERROR";
inline constexpr char kSeverityWarning[] = "WARNING";

// One finding, shaped like ValidateStateMachineDefinition's diagnostic element.
struct Diagnostic {
  // "ERROR" (the definition cannot be created) or "WARNING" (it can).
  std::string severity;
  // AWS's diagnostic code: INVALID_JSON_DESCRIPTION, MISSING_DESCRIPTION,
  // SCHEMA_VALIDATION_FAILED, INVALID_RESOURCE, MISSING_END_STATE, DUPLICATE_STATE_NAME,
  // INVALID_STATE_NAME, MISSING_TRANSITION_TARGET (also used, as AWS does, for a state
  // that is not reachable), TOO_DEEPLY_NESTED; warnings NO_DOLLAR, NO_PATH,
  // PASS_RESULT_IS_STATIC.
  std::string code;
  // Human-readable text, e.g. "Missing 'Next' target: Foo".
  std::string message;
  // Where, as a slash path with array indexes in brackets, e.g. "/States/A/Next",
  // "/States/C/Choices[0]/Next", "/States/P/Branches[1]/States/X". Empty when the
  // finding is about the definition as a whole.
  std::string location;

  bool operator==(const Diagnostic&) const = default;
};

// Every problem found in `definition_json`, errors and warnings, in a stable order: states
// in the order they are written (their fields alphabetically), and each state machine's
// graph findings (missing targets, no terminal state, unreachable states) after its states.
// The definition is acceptable when no diagnostic has severity "ERROR" (see HasErrors);
// an empty result means it is also free of warnings. Never throws.
//
// States whose effective QueryLanguage is JSONata are checked structurally only (fields,
// types, transitions); their expressions are not parsed.
std::vector<Diagnostic> ValidateDefinition(std::string_view definition_json);

// True when some diagnostic has severity "ERROR".
bool HasErrors(const std::vector<Diagnostic>& diagnostics);

// CreateStateMachine's InvalidDefinition message for the errors among `diagnostics`
// (warnings are left out), in AWS's format:
//   Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target:
//   B at /States/A/Next, SCHEMA_VALIDATION_FAILED: The field "Next" is required but was
//   missing at /States/C'
// i.e. "CODE: message at location" per error, joined by ", " inside one pair of quotes;
// " at location" is omitted when the location is empty.
// REQUIRES: HasErrors(diagnostics).
std::string InvalidDefinitionMessage(const std::vector<Diagnostic>& diagnostics);

}  // namespace sluice::states
