#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

// Stored procedures: a PL/pgSQL subset parsed into a statement tree and interpreted over a
// session (procedure.cc). Variables are substituted into SQL as typed literals, so a value
// can never change a statement's meaning.
namespace sluice::redshift {

struct ProcArg {
  std::string name, type, mode = "IN";  // IN, OUT, INOUT
};

struct ProcedureDef {
  std::string schema, name;
  std::vector<ProcArg> args;
  bool nonatomic = false;
  std::string body;  // the text between the dollar quotes
};

// Parses CREATE [OR REPLACE] PROCEDURE; `replace` tells whether OR REPLACE was given.
absl::StatusOr<ProcedureDef> ParseCreateProcedure(const std::string& sql, bool* replace);

// The argument list as stored (name type mode; ...) and back.
std::string EncodeArgs(const std::vector<ProcArg>& args);
std::vector<ProcArg> DecodeArgs(const std::string& text);

}  // namespace sluice::redshift
