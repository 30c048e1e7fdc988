#include "redshift/procedure.h"

#include <functional>

#include "base/strings.h"
#include "redshift/lexer.h"
#include "redshift/session.h"
#include "redshift/lake_io.h"
#include "sql/sql.h"

namespace sluice::redshift {

namespace {

size_t End(const Token& t) { return t.offset + t.text.size(); }

absl::Status Syntax(std::string_view near) {
  return WarehouseError("42601", StrCat("syntax error at or near \"", std::string(near), "\""));
}

// ---- the statement tree ----

enum class Op {
  kSql, kAssign, kIf, kWhile, kLoop, kForRange, kForQuery, kExit, kContinue, kReturn, kRaise, kExecute,
  kSelectInto, kBlock, kCommit, kRollback, kNull, kGetDiagnostics,
};

struct Decl {
  std::string name, type, init;  // init: an expression or ""
};

struct Stmt {
  Op op = Op::kNull;
  std::string text;                // SQL, expression, condition, query
  std::string var;                 // assignment target, loop variable
  std::vector<std::string> into;   // SELECT INTO / EXECUTE INTO targets
  std::vector<std::pair<std::string, std::vector<Stmt>>> branches;  // IF/ELSIF conditions and bodies
  std::vector<Stmt> body, else_body;
  std::string lo, hi, step;  // FOR i IN lo..hi BY step
  bool reverse = false;
  std::string level;                // RAISE level
  std::vector<std::string> args;    // RAISE arguments
  std::string label;
  std::vector<Decl> decls;          // a block's DECLARE
  std::vector<Stmt> handler;        // EXCEPTION WHEN OTHERS THEN ...
  bool has_handler = false;
};

class Parser {
 public:
  explicit Parser(std::string body) : src_(std::move(body)), t_(Lex(src_)) {}

  absl::StatusOr<Stmt> ParseBody() {
    ASSIGN_OR_RETURN(Stmt b, ParseBlock());
    if (i_ < t_.size() && t_[i_].IsSymbol(";")) ++i_;
    if (i_ < t_.size()) return Syntax(t_[i_].text);
    return b;
  }

 private:
  bool At(std::string_view w, size_t ahead = 0) const { return i_ + ahead < t_.size() && t_[i_ + ahead].Is(w); }
  bool AtSymbol(std::string_view s) const { return i_ < t_.size() && t_[i_].IsSymbol(s); }
  absl::Status Expect(std::string_view w) {
    if (!At(w)) return Syntax(i_ < t_.size() ? t_[i_].text : "end of procedure");
    ++i_;
    return absl::OkStatus();
  }
  absl::Status ExpectSemicolon() {
    if (!AtSymbol(";")) return Syntax(i_ < t_.size() ? t_[i_].text : "end of procedure");
    ++i_;
    return absl::OkStatus();
  }
  // Source text from token `from` up to (not including) the first depth-0 token for which
  // `stop` holds; i_ is left on that token.
  std::string Until(const std::function<bool(size_t)>& stop) {
    size_t from = i_;
    int depth = 0;
    while (i_ < t_.size()) {
      if (depth == 0 && stop(i_)) break;
      if (t_[i_].IsSymbol("(")) ++depth;
      if (t_[i_].IsSymbol(")")) --depth;
      ++i_;
    }
    if (from >= t_.size() || i_ == from) return "";
    size_t end = i_ < t_.size() ? t_[i_].offset : src_.size();
    return std::string(StripWhitespace(std::string_view(src_).substr(t_[from].offset, end - t_[from].offset)));
  }
  std::string UntilSemicolon() {
    return Until([&](size_t k) { return t_[k].IsSymbol(";"); });
  }
  std::string UntilWord(std::string_view w) {
    return Until([&](size_t k) { return t_[k].Is(w); });
  }

  absl::StatusOr<Stmt> ParseBlock() {
    Stmt b;
    b.op = Op::kBlock;
    if (At("DECLARE")) {
      ++i_;
      while (i_ < t_.size() && !At("BEGIN")) {
        Decl d;
        d.name = IdentValue(t_[i_++]);
        if (At("CONSTANT")) ++i_;
        std::string rest = Until([&](size_t k) {
          return t_[k].IsSymbol(";") || t_[k].IsSymbol(":=") || t_[k].IsSymbol("=") || t_[k].Is("DEFAULT");
        });
        d.type = rest;
        if (AtSymbol(":=") || AtSymbol("=") || At("DEFAULT")) {
          ++i_;
          d.init = UntilSemicolon();
        }
        RETURN_IF_ERROR(ExpectSemicolon());
        // "NOT NULL" in the type is dropped.
        auto nn = AsciiUpper(d.type).find(" NOT NULL");
        if (nn != std::string::npos) d.type = d.type.substr(0, nn);
        b.decls.push_back(std::move(d));
      }
    }
    RETURN_IF_ERROR(Expect("BEGIN"));
    ASSIGN_OR_RETURN(b.body, ParseStmts());
    if (At("EXCEPTION")) {
      ++i_;
      // WHEN OTHERS THEN ... (any condition name handles every error).
      while (At("WHEN")) {
        UntilWord("THEN");
        RETURN_IF_ERROR(Expect("THEN"));
        ASSIGN_OR_RETURN(auto h, ParseStmts());
        for (auto& s : h) b.handler.push_back(std::move(s));
        b.has_handler = true;
      }
    }
    RETURN_IF_ERROR(Expect("END"));
    if (i_ < t_.size() && t_[i_].kind == TokenKind::kWord && !AtSymbol(";")) ++i_;  // END label
    return b;
  }

  bool AtStmtsEnd() const {
    return i_ >= t_.size() || At("END") || At("ELSIF") || At("ELSEIF") || At("ELSE") || At("EXCEPTION") ||
           (At("WHEN") && !At("THEN"));
  }

  absl::StatusOr<std::vector<Stmt>> ParseStmts() {
    std::vector<Stmt> out;
    while (!AtStmtsEnd()) {
      if (AtSymbol(";")) {
        ++i_;
        continue;
      }
      ASSIGN_OR_RETURN(Stmt s, ParseStmt());
      out.push_back(std::move(s));
    }
    return out;
  }

  absl::StatusOr<std::vector<Stmt>> ParseLoopBody() {
    RETURN_IF_ERROR(Expect("LOOP"));
    ASSIGN_OR_RETURN(auto body, ParseStmts());
    RETURN_IF_ERROR(Expect("END"));
    RETURN_IF_ERROR(Expect("LOOP"));
    if (i_ < t_.size() && t_[i_].kind == TokenKind::kWord) ++i_;
    RETURN_IF_ERROR(ExpectSemicolon());
    return body;
  }

  absl::StatusOr<Stmt> ParseStmt() {
    Stmt s;
    // <<label>>
    if (AtSymbol("<<") && i_ + 2 < t_.size()) {
      s.label = IdentValue(t_[i_ + 1]);
      i_ += 3;
    }
    if (At("DECLARE") || At("BEGIN")) {
      ASSIGN_OR_RETURN(Stmt b, ParseBlock());
      b.label = s.label;
      RETURN_IF_ERROR(ExpectSemicolon());
      return b;
    }
    if (At("IF")) {
      ++i_;
      s.op = Op::kIf;
      for (;;) {
        std::string cond = UntilWord("THEN");
        RETURN_IF_ERROR(Expect("THEN"));
        ASSIGN_OR_RETURN(auto body, ParseStmts());
        s.branches.emplace_back(cond, std::move(body));
        if (At("ELSIF") || At("ELSEIF")) {
          ++i_;
          continue;
        }
        break;
      }
      if (At("ELSE")) {
        ++i_;
        ASSIGN_OR_RETURN(s.else_body, ParseStmts());
      }
      RETURN_IF_ERROR(Expect("END"));
      RETURN_IF_ERROR(Expect("IF"));
      RETURN_IF_ERROR(ExpectSemicolon());
      return s;
    }
    if (At("WHILE")) {
      ++i_;
      s.op = Op::kWhile;
      s.text = UntilWord("LOOP");
      ASSIGN_OR_RETURN(s.body, ParseLoopBody());
      return s;
    }
    if (At("LOOP")) {
      s.op = Op::kLoop;
      ASSIGN_OR_RETURN(s.body, ParseLoopBody());
      return s;
    }
    if (At("FOR")) {
      ++i_;
      if (i_ >= t_.size()) return Syntax("FOR");
      s.var = IdentValue(t_[i_++]);
      RETURN_IF_ERROR(Expect("IN"));
      if (At("REVERSE")) {
        s.reverse = true;
        ++i_;
      }
      // A range (lo .. hi) when a depth-0 ".." comes before LOOP.
      size_t save = i_;
      std::string lo = Until([&](size_t k) { return t_[k].IsSymbol("..") || t_[k].Is("LOOP") || t_[k].IsSymbol("."); });
      if (AtSymbol("..") || (AtSymbol(".") && i_ + 1 < t_.size() && t_[i_ + 1].IsSymbol("."))) {
        i_ += AtSymbol("..") ? 1 : 2;
        s.op = Op::kForRange;
        s.lo = lo;
        s.hi = Until([&](size_t k) { return t_[k].Is("LOOP") || t_[k].Is("BY"); });
        if (At("BY")) {
          ++i_;
          s.step = UntilWord("LOOP");
        }
      } else {
        i_ = save;
        s.op = Op::kForQuery;
        if (At("EXECUTE")) {
          ++i_;
          s.level = "EXECUTE";
        }
        s.text = UntilWord("LOOP");
      }
      ASSIGN_OR_RETURN(s.body, ParseLoopBody());
      return s;
    }
    if (At("EXIT") || At("CONTINUE")) {
      s.op = At("EXIT") ? Op::kExit : Op::kContinue;
      ++i_;
      if (i_ < t_.size() && t_[i_].kind == TokenKind::kWord && !At("WHEN")) s.label = IdentValue(t_[i_++]);
      if (At("WHEN")) {
        ++i_;
        s.text = UntilSemicolon();
      }
      RETURN_IF_ERROR(ExpectSemicolon());
      return s;
    }
    if (At("RETURN")) {
      ++i_;
      s.op = Op::kReturn;
      UntilSemicolon();
      RETURN_IF_ERROR(ExpectSemicolon());
      return s;
    }
    if (At("NULL") && i_ + 1 < t_.size() && t_[i_ + 1].IsSymbol(";")) {
      i_ += 2;
      s.op = Op::kNull;
      return s;
    }
    if ((At("COMMIT") || At("ROLLBACK")) && i_ + 1 < t_.size() && t_[i_ + 1].IsSymbol(";")) {
      s.op = At("COMMIT") ? Op::kCommit : Op::kRollback;
      i_ += 2;
      return s;
    }
    if (At("RAISE")) {
      ++i_;
      s.op = Op::kRaise;
      s.level = "EXCEPTION";
      for (const char* l : {"DEBUG", "LOG", "INFO", "NOTICE", "WARNING", "EXCEPTION"}) {
        if (At(l)) {
          s.level = l;
          ++i_;
          break;
        }
      }
      if (i_ < t_.size() && t_[i_].kind == TokenKind::kString) s.text = StringValue(t_[i_++]);
      while (AtSymbol(",")) {
        ++i_;
        s.args.push_back(Until([&](size_t k) { return t_[k].IsSymbol(",") || t_[k].IsSymbol(";") || t_[k].Is("USING"); }));
      }
      if (At("USING")) UntilSemicolon();
      RETURN_IF_ERROR(ExpectSemicolon());
      return s;
    }
    if (At("GET") && At("DIAGNOSTICS", 1)) {
      i_ += 2;
      s.op = Op::kGetDiagnostics;
      if (i_ >= t_.size()) return Syntax("GET DIAGNOSTICS");
      s.var = IdentValue(t_[i_++]);
      if (AtSymbol(":=") || AtSymbol("=")) ++i_;
      s.text = UntilSemicolon();
      RETURN_IF_ERROR(ExpectSemicolon());
      return s;
    }
    if (At("EXECUTE")) {
      ++i_;
      s.op = Op::kExecute;
      s.text = Until([&](size_t k) { return t_[k].IsSymbol(";") || t_[k].Is("INTO") || t_[k].Is("USING"); });
      if (At("INTO")) {
        ++i_;
        s.into = SplitNames(UntilSemicolon());
      }
      if (At("USING")) UntilSemicolon();
      RETURN_IF_ERROR(ExpectSemicolon());
      return s;
    }
    // var := expr / var = expr (a word then := or =, or rec.field := ...)
    if (i_ + 1 < t_.size() && (t_[i_].kind == TokenKind::kWord || t_[i_].kind == TokenKind::kQuotedIdent) &&
        (t_[i_ + 1].IsSymbol(":=") || t_[i_ + 1].IsSymbol("="))) {
      s.op = Op::kAssign;
      s.var = IdentValue(t_[i_]);
      i_ += 2;
      s.text = UntilSemicolon();
      RETURN_IF_ERROR(ExpectSemicolon());
      return s;
    }
    if (At("PERFORM")) {
      size_t at = t_[i_].offset;
      ++i_;
      s.op = Op::kSql;
      s.text = "SELECT " + UntilSemicolon();
      (void)at;
      RETURN_IF_ERROR(ExpectSemicolon());
      return s;
    }
    // Any SQL statement; SELECT ... INTO var [, var] FROM ... assigns the first row.
    size_t from = i_;
    std::string sql = UntilSemicolon();
    RETURN_IF_ERROR(ExpectSemicolon());
    s.op = Op::kSql;
    s.text = sql;
    if (t_[from].Is("SELECT")) {
      std::vector<Token> st = Lex(sql);
      int depth = 0;
      for (size_t k = 0; k < st.size(); ++k) {
        if (st[k].IsSymbol("(")) ++depth;
        if (st[k].IsSymbol(")")) --depth;
        if (depth == 0 && st[k].Is("INTO")) {
          size_t j = k + 1;
          if (j < st.size() && st[j].Is("STRICT")) ++j;
          std::vector<std::string> names;
          while (j < st.size()) {
            names.push_back(IdentValue(st[j]));
            if (j + 1 < st.size() && st[j + 1].IsSymbol(",")) {
              j += 2;
            } else {
              ++j;
              break;
            }
          }
          size_t end = j < st.size() ? st[j].offset : sql.size();
          s.op = Op::kSelectInto;
          s.into = names;
          s.text = StrCat(sql.substr(0, st[k].offset), " ", sql.substr(end));
          break;
        }
      }
    }
    return s;
  }

  static std::vector<std::string> SplitNames(const std::string& text) {
    std::vector<std::string> out;
    for (auto p : Split(text, ',', true)) out.push_back(AsciiLower(std::string(StripWhitespace(p))));
    return out;
  }

  std::string src_;
  std::vector<Token> t_;
  size_t i_ = 0;
};

// ---- the interpreter ----

struct Var {
  std::string type;  // "" for a record
  std::optional<std::string> value;
  std::vector<std::string> field_names, field_types;
  std::vector<std::optional<std::string>> fields;
};

enum class Flow { kNormal, kExit, kContinue, kReturn };

}  // namespace

class ProcedureRunner {
 public:
  ProcedureRunner(Session& s, bool nonatomic, std::vector<std::string>* notices)
      : s_(s), nonatomic_(nonatomic), notices_(notices) {}

  absl::Status Run(const Stmt& block, const std::vector<ProcArg>& args,
                   const std::vector<std::optional<std::string>>& values) {
    scopes_.emplace_back();
    for (size_t i = 0; i < args.size(); ++i) {
      Var v;
      v.type = args[i].type;
      v.value = i < values.size() ? values[i] : std::nullopt;
      scopes_.back()[args[i].name] = v;
      // $1.. refer to the arguments too.
      scopes_.back()[StrCat("$", i + 1)] = v;
    }
    Flow f = Flow::kNormal;
    return Exec(block, &f);
  }

  std::optional<std::string> Value(const std::string& name) {
    Var* v = Find(name);
    return v ? v->value : std::nullopt;
  }

 private:
  Var* Find(const std::string& name) {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return &f->second;
    }
    return nullptr;
  }

  static std::string Literal(const std::optional<std::string>& v, const std::string& type) {
    std::string t = type.empty() ? "VARCHAR" : type;
    return v ? StrCat("CAST(", SqlQuote(*v), " AS ", t, ")") : StrCat("CAST(NULL AS ", t, ")");
  }

  // Variables in `sql` replaced by typed literals.
  std::string Substitute(const std::string& sql) {
    std::vector<Token> t = Lex(sql);
    std::string out;
    size_t at = 0;
    for (size_t i = 0; i < t.size(); ++i) {
      const Token& k = t[i];
      if (k.kind != TokenKind::kWord && k.kind != TokenKind::kParam) continue;
      if (i > 0 && t[i - 1].IsSymbol(".")) continue;
      if (i + 1 < t.size() && t[i + 1].IsSymbol("(")) continue;
      std::string name = k.kind == TokenKind::kParam ? std::string(k.text) : AsciiLower(k.text);
      Var* v = Find(name);
      if (!v) continue;
      if (v->type.empty() && i + 2 < t.size() && t[i + 1].IsSymbol(".")) {
        std::string field = IdentValue(t[i + 2]);
        for (size_t f = 0; f < v->field_names.size(); ++f) {
          if (v->field_names[f] == field) {
            out.append(sql, at, k.offset - at);
            out += Literal(v->fields[f], v->field_types[f]);
            at = End(t[i + 2]);
            i += 2;
            break;
          }
        }
        continue;
      }
      if (v->type.empty()) continue;
      out.append(sql, at, k.offset - at);
      out += Literal(v->value, v->type);
      at = End(k);
    }
    out.append(sql, at);
    return out;
  }

  absl::StatusOr<QueryResult> Query(const std::string& sql) {
    RETURN_IF_ERROR(s_.CheckCancelled());
    ASSIGN_OR_RETURN(WarehouseResult r, s_.Dispatch(Substitute(sql)));
    QueryResult q;
    q.columns = r.columns;
    q.types = r.types;
    q.rows = std::move(r.rows);
    last_count_ = r.rows_affected < 0 ? 0 : r.rows_affected;
    return q;
  }

  absl::StatusOr<std::optional<std::string>> Eval(const std::string& expr) {
    ASSIGN_OR_RETURN(QueryResult q, Query("SELECT " + expr));
    if (q.rows.empty() || q.rows[0].empty()) return std::optional<std::string>();
    return q.rows[0][0];
  }

  absl::StatusOr<bool> Cond(const std::string& expr) {
    ASSIGN_OR_RETURN(auto v, Eval("CAST((" + expr + ") AS BOOLEAN)"));
    return v && *v == "t";
  }

  absl::Status Assign(const std::string& name, std::optional<std::string> value) {
    Var* v = Find(name);
    if (!v) return WarehouseError("42601", StrCat("\"", name, "\" is not a known variable"));
    if (v->type.empty()) return WarehouseError("42804", StrCat("cannot assign a scalar to record \"", name, "\""));
    if (value) {
      // The value as the variable's type (a failed cast is the statement's error).
      ASSIGN_OR_RETURN(QueryResult q, s_.Duck(StrCat("SELECT ", Literal(value, v->type))));
      if (!q.rows.empty()) value = PgText(q.types[0], q.rows[0][0]);
    }
    v->value = std::move(value);
    return absl::OkStatus();
  }

  void SetFound(bool found) {
    Var* v = Find("found");
    if (v) v->value = found ? "t" : "f";
  }

  absl::Status AssignRow(const std::vector<std::string>& into, const QueryResult& q) {
    SetFound(!q.rows.empty());
    if (into.size() == 1) {
      Var* v = Find(into[0]);
      if (v && v->type.empty()) {
        v->field_names = q.columns;
        v->field_types = q.types;
        v->fields = q.rows.empty() ? std::vector<std::optional<std::string>>(q.columns.size()) : q.rows[0];
        return absl::OkStatus();
      }
    }
    for (size_t i = 0; i < into.size(); ++i) {
      std::optional<std::string> value;
      if (!q.rows.empty() && i < q.rows[0].size()) value = q.rows[0][i];
      RETURN_IF_ERROR(Assign(into[i], value));
    }
    return absl::OkStatus();
  }

  absl::Status ExecList(const std::vector<Stmt>& list, Flow* flow) {
    for (const auto& s : list) {
      RETURN_IF_ERROR(Exec(s, flow));
      if (*flow != Flow::kNormal) return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  // Runs a loop body; true when the loop must stop.
  absl::StatusOr<bool> LoopBody(const Stmt& s, Flow* flow) {
    RETURN_IF_ERROR(s_.CheckCancelled());
    if (++iterations_ > 100000000) return WarehouseError("54000", "procedure loop limit reached");
    RETURN_IF_ERROR(ExecList(s.body, flow));
    if (*flow == Flow::kExit) {
      bool mine = exit_label_.empty() || exit_label_ == s.label;
      if (mine) {
        *flow = Flow::kNormal;
        exit_label_.clear();
      }
      return true;
    }
    if (*flow == Flow::kContinue) {
      *flow = Flow::kNormal;
      return false;
    }
    return *flow == Flow::kReturn;
  }

  absl::Status Exec(const Stmt& s, Flow* flow) {
    switch (s.op) {
      case Op::kBlock: {
        scopes_.emplace_back();
        scopes_.back()["found"] = Var{"BOOLEAN", "f", {}, {}, {}};
        for (const auto& d : s.decls) {
          std::string type = d.type;
          bool record = EqualsIgnoreCase(type, "RECORD") || AsciiUpper(type).ends_with("%ROWTYPE");
          Var v;
          v.type = record ? "" : type;
          scopes_.back()[d.name] = v;
          if (!d.init.empty() && !record) {
            ASSIGN_OR_RETURN(auto init, Eval(d.init));
            RETURN_IF_ERROR(Assign(d.name, init));
          }
        }
        absl::Status st = ExecList(s.body, flow);
        if (!st.ok() && s.has_handler && SqlStateOf(st) != "57014") {
          scopes_.back()["sqlerrm"] = Var{"VARCHAR", std::string(st.message()), {}, {}, {}};
          scopes_.back()["sqlstate"] = Var{"VARCHAR", SqlStateOf(st), {}, {}, {}};
          if (s_.status_ == 'E') {
            (void)s_.con_->Execute("ROLLBACK");
            (void)s_.con_->Execute("BEGIN TRANSACTION");
            s_.status_ = 'T';
          }
          *flow = Flow::kNormal;
          st = ExecList(s.handler, flow);
        }
        scopes_.pop_back();
        return st;
      }
      case Op::kNull:
        return absl::OkStatus();
      case Op::kSql: {
        ASSIGN_OR_RETURN(QueryResult q, Query(s.text));
        SetFound(last_count_ > 0 || !q.rows.empty());
        return absl::OkStatus();
      }
      case Op::kSelectInto: {
        ASSIGN_OR_RETURN(QueryResult q, Query(s.text));
        return AssignRow(s.into, q);
      }
      case Op::kAssign: {
        ASSIGN_OR_RETURN(auto v, Eval(s.text));
        return Assign(s.var, v);
      }
      case Op::kGetDiagnostics:
        return Assign(s.var, std::to_string(last_count_));
      case Op::kIf: {
        for (const auto& [cond, body] : s.branches) {
          ASSIGN_OR_RETURN(bool yes, Cond(cond));
          if (yes) return ExecList(body, flow);
        }
        return ExecList(s.else_body, flow);
      }
      case Op::kWhile:
        for (;;) {
          ASSIGN_OR_RETURN(bool yes, Cond(s.text));
          if (!yes) return absl::OkStatus();
          ASSIGN_OR_RETURN(bool stop, LoopBody(s, flow));
          if (stop) return absl::OkStatus();
        }
      case Op::kLoop:
        for (;;) {
          ASSIGN_OR_RETURN(bool stop, LoopBody(s, flow));
          if (stop) return absl::OkStatus();
        }
      case Op::kForRange: {
        ASSIGN_OR_RETURN(auto lo_v, Eval(s.lo));
        ASSIGN_OR_RETURN(auto hi_v, Eval(s.hi));
        int64_t lo = 0, hi = 0, step = 1;
        if (!lo_v || !hi_v || !ParseNumber(*lo_v, &lo) || !ParseNumber(*hi_v, &hi)) {
          return WarehouseError("22004", "lower and upper bounds of FOR loop cannot be null");
        }
        if (!s.step.empty()) {
          ASSIGN_OR_RETURN(auto st, Eval(s.step));
          if (!st || !ParseNumber(*st, &step) || step <= 0) {
            return WarehouseError("22023", "BY value of FOR loop must be greater than zero");
          }
        }
        scopes_.emplace_back();
        scopes_.back()[s.var] = Var{"INTEGER", std::nullopt, {}, {}, {}};
        absl::Status st;
        for (int64_t i = s.reverse ? lo : lo; s.reverse ? i >= hi : i <= hi; i += s.reverse ? -step : step) {
          scopes_.back()[s.var].value = std::to_string(i);
          auto stop = LoopBody(s, flow);
          if (!stop.ok()) {
            st = stop.status();
            break;
          }
          if (*stop) break;
        }
        scopes_.pop_back();
        return st;
      }
      case Op::kForQuery: {
        std::string sql = s.text;
        if (s.level == "EXECUTE") {
          ASSIGN_OR_RETURN(auto text, Eval(s.text));
          sql = text.value_or("");
        }
        ASSIGN_OR_RETURN(QueryResult q, Query(sql));
        scopes_.emplace_back();
        Var rec;
        rec.field_names = q.columns;
        rec.field_types = q.types;
        scopes_.back()[s.var] = rec;
        absl::Status st;
        for (const auto& row : q.rows) {
          scopes_.back()[s.var].fields = row;
          auto stop = LoopBody(s, flow);
          if (!stop.ok()) {
            st = stop.status();
            break;
          }
          if (*stop) break;
        }
        scopes_.pop_back();
        SetFound(!q.rows.empty());
        return st;
      }
      case Op::kExit:
      case Op::kContinue: {
        if (!s.text.empty()) {
          ASSIGN_OR_RETURN(bool yes, Cond(s.text));
          if (!yes) return absl::OkStatus();
        }
        exit_label_ = s.label;
        *flow = s.op == Op::kExit ? Flow::kExit : Flow::kContinue;
        return absl::OkStatus();
      }
      case Op::kReturn:
        *flow = Flow::kReturn;
        return absl::OkStatus();
      case Op::kRaise: {
        std::string msg;
        size_t arg = 0;
        for (size_t i = 0; i < s.text.size(); ++i) {
          if (s.text[i] == '%' && i + 1 < s.text.size() && s.text[i + 1] == '%') {
            msg += '%';
            ++i;
          } else if (s.text[i] == '%' && arg < s.args.size()) {
            ASSIGN_OR_RETURN(auto v, Eval(s.args[arg++]));
            msg += v.value_or("<NULL>");
          } else {
            msg += s.text[i];
          }
        }
        if (s.level == "EXCEPTION") return WarehouseError("P0001", msg);
        if (s.level == "INFO" || s.level == "NOTICE" || s.level == "WARNING") {
          notices_->push_back(StrCat(s.level, ":  ", msg));
        }
        return absl::OkStatus();
      }
      case Op::kExecute: {
        ASSIGN_OR_RETURN(auto text, Eval(s.text));
        if (!text) return WarehouseError("22004", "query string argument of EXECUTE is null");
        ASSIGN_OR_RETURN(WarehouseResult r, s_.Dispatch(*text));
        last_count_ = r.rows_affected < 0 ? 0 : r.rows_affected;
        if (!s.into.empty()) {
          QueryResult q;
          q.columns = r.columns;
          q.types = r.types;
          q.rows = r.rows;
          return AssignRow(s.into, q);
        }
        return absl::OkStatus();
      }
      case Op::kCommit:
      case Op::kRollback: {
        if (s_.status_ != 'I') {
          RETURN_IF_ERROR(s_.DuckExec(s.op == Op::kCommit ? "COMMIT" : "ROLLBACK"));
          RETURN_IF_ERROR(s_.DuckExec("BEGIN TRANSACTION"));
          s_.status_ = 'T';
        }
        return absl::OkStatus();
      }
    }
    return absl::OkStatus();
  }

  Session& s_;
  bool nonatomic_;
  std::vector<std::string>* notices_;
  std::vector<std::map<std::string, Var>> scopes_;
  int64_t last_count_ = 0;
  int64_t iterations_ = 0;
  std::string exit_label_;
};

// ---- CREATE / DROP / CALL ----

absl::StatusOr<ProcedureDef> ParseCreateProcedure(const std::string& sql, bool* replace) {
  std::vector<Token> t = Lex(sql);
  TokenCursor c(t, 1);
  *replace = false;
  if (c.Accept("OR")) {
    if (!c.Accept("REPLACE")) return Syntax(c.peek().text);
    *replace = true;
  }
  if (!c.Accept("PROCEDURE")) return Syntax(c.peek().text);
  ProcedureDef d;
  d.name = IdentValue(c.Next());
  if (c.AcceptSymbol(".")) {
    d.schema = d.name;
    d.name = IdentValue(c.Next());
  }
  if (!c.AcceptSymbol("(")) return Syntax(c.peek().text);
  // (mode name type, ...): the type runs to the next depth-0 comma.
  while (!c.done() && !c.AcceptSymbol(")")) {
    ProcArg a;
    if (c.peek().Is("IN") || c.peek().Is("OUT") || c.peek().Is("INOUT")) a.mode = AsciiUpper(c.Next().text);
    const Token& name = c.Next();
    std::string type;
    int depth = 0;
    size_t type_start = c.peek().offset, type_end = type_start;
    bool any = false;
    while (!c.done()) {
      if (depth == 0 && (c.peek().IsSymbol(",") || c.peek().IsSymbol(")"))) break;
      if (c.peek().IsSymbol("(")) ++depth;
      if (c.peek().IsSymbol(")")) --depth;
      type_end = c.peek().offset + c.peek().text.size();
      any = true;
      c.Next();
    }
    if (any) {
      a.name = IdentValue(name);
      a.type = sql.substr(type_start, type_end - type_start);
    } else {
      // An unnamed argument: just a type.
      a.name = "";
      a.type = std::string(name.text);
    }
    d.args.push_back(a);
    c.AcceptSymbol(",");
  }
  bool have_body = false;
  while (!c.done()) {
    if (c.Accept("NONATOMIC")) {
      d.nonatomic = true;
    } else if (c.Accept("AS")) {
      ASSIGN_OR_RETURN(d.body, c.String("procedure body"));
      have_body = true;
    } else if (c.Accept("LANGUAGE")) {
      const Token& lang = c.Next();
      if (!lang.Is("plpgsql")) {
        return WarehouseError("42704", StrCat("language \"", std::string(lang.text), "\" does not exist"));
      }
    } else if (c.Accept("SECURITY")) {
      c.Next();
    } else if (c.Accept("SET")) {
      while (!c.done() && !c.peek().Is("AS") && !c.peek().Is("LANGUAGE")) c.Next();
    } else {
      return Syntax(c.peek().text);
    }
  }
  if (!have_body) return WarehouseError("42601", "CREATE PROCEDURE needs AS $$ ... $$");
  return d;
}

std::string EncodeArgs(const std::vector<ProcArg>& args) {
  std::vector<std::string> parts;
  for (const auto& a : args) parts.push_back(StrCat(a.mode, "\x1f", a.name, "\x1f", a.type));
  return Join(parts, "\x1e");
}

std::vector<ProcArg> DecodeArgs(const std::string& text) {
  std::vector<ProcArg> out;
  for (auto p : Split(text, '\x1e', true)) {
    auto f = Split(p, '\x1f');
    if (f.size() == 3) out.push_back({std::string(f[1]), std::string(f[2]), std::string(f[0])});
  }
  return out;
}

absl::StatusOr<WarehouseResult> Session::CreateProcedure(const std::string& sql) {
  bool replace = false;
  ASSIGN_OR_RETURN(ProcedureDef d, ParseCreateProcedure(sql, &replace));
  // The body must parse now (as PostgreSQL checks it at CREATE).
  Parser p(d.body);
  RETURN_IF_ERROR(p.ParseBody().status());
  std::string schema = d.schema.empty() ? "public" : d.schema;
  std::string table = StrCat(SqlQuoteIdent(database_), ".", kInternalSchema, ".procedures");
  ASSIGN_OR_RETURN(QueryResult q, Duck(StrCat("SELECT count(*) FROM ", table, " WHERE schema_name = ", SqlQuote(schema),
                                              " AND name = ", SqlQuote(d.name))));
  if (!replace && !q.rows.empty() && q.rows[0][0] != "0") {
    return WarehouseError("42723", StrCat("function \"", d.name, "\" already exists with same argument types"));
  }
  RETURN_IF_ERROR(DuckExec(StrCat("INSERT OR REPLACE INTO ", table, " VALUES (", SqlQuote(schema), ", ", SqlQuote(d.name),
                                  ", ", SqlQuote(EncodeArgs(d.args)), ", '', ", d.nonatomic ? "true" : "false", ", ",
                                  SqlQuote(d.body), ", ", SqlQuote(sql), ")")));
  WarehouseResult r;
  r.command_tag = "CREATE PROCEDURE";
  return r;
}

absl::StatusOr<WarehouseResult> Session::DropProcedure(const std::string& sql) {
  std::vector<Token> t = Lex(sql);
  TokenCursor c(t, 2);
  bool if_exists = false;
  if (c.Accept("IF")) {
    c.Accept("EXISTS");
    if_exists = true;
  }
  std::string schema = "public", name = IdentValue(c.Next());
  if (c.AcceptSymbol(".")) {
    schema = name;
    name = IdentValue(c.Next());
  }
  std::string table = StrCat(SqlQuoteIdent(database_), ".", kInternalSchema, ".procedures");
  ASSIGN_OR_RETURN(QueryResult q, Duck(StrCat("DELETE FROM ", table, " WHERE schema_name = ", SqlQuote(schema),
                                              " AND name = ", SqlQuote(name))));
  WarehouseResult r;
  r.command_tag = "DROP PROCEDURE";
  if (!q.rows.empty() && q.rows[0][0] == "0") {
    if (!if_exists) return WarehouseError("42883", StrCat("procedure ", name, " does not exist"));
    r.notices.push_back(StrCat("NOTICE:  procedure ", name, " does not exist, skipping"));
  }
  return r;
}

absl::StatusOr<WarehouseResult> Session::Call(const std::string& sql) {
  std::vector<Token> t = Lex(sql);
  TokenCursor c(t, 1);
  std::string schema = "public", name = IdentValue(c.Next());
  if (c.AcceptSymbol(".")) {
    schema = name;
    name = IdentValue(c.Next());
  }
  if (!c.AcceptSymbol("(")) return Syntax(c.peek().text);
  // Argument expressions, evaluated before the call.
  std::vector<std::string> arg_exprs;
  {
    int depth = 0;
    size_t start = c.at();
    for (size_t i = c.at(); i < t.size(); ++i) {
      if (t[i].IsSymbol("(")) ++depth;
      if (t[i].IsSymbol(")")) {
        if (depth == 0) {
          if (i > start) arg_exprs.push_back(sql.substr(t[start].offset, t[i].offset - t[start].offset));
          break;
        }
        --depth;
      }
      if (depth == 0 && t[i].IsSymbol(",")) {
        arg_exprs.push_back(sql.substr(t[start].offset, t[i].offset - t[start].offset));
        start = i + 1;
      }
    }
  }
  std::string table = StrCat(SqlQuoteIdent(database_), ".", kInternalSchema, ".procedures");
  ASSIGN_OR_RETURN(QueryResult q, Duck(StrCat("SELECT arg_names, nonatomic, body FROM ", table, " WHERE schema_name = ",
                                              SqlQuote(schema), " AND name = ", SqlQuote(name))));
  if (q.rows.empty()) {
    return WarehouseError("42883", StrCat("procedure ", name, "(", arg_exprs.empty() ? "" : "...", ") does not exist"));
  }
  std::vector<ProcArg> args = DecodeArgs(q.rows[0][0].value_or(""));
  bool nonatomic = q.rows[0][1].value_or("false") == "true";
  std::string body = q.rows[0][2].value_or("");
  size_t in_args = 0;
  for (const auto& a : args) in_args += a.mode != "OUT";
  if (arg_exprs.size() != in_args && arg_exprs.size() != args.size()) {
    return WarehouseError("42883", StrCat("procedure ", name, " takes ", in_args, " arguments, not ", arg_exprs.size()));
  }
  if (++call_depth_ > 16) {
    --call_depth_;
    return WarehouseError("54001", "procedure calls are nested too deeply");
  }
  struct Depth {
    int& d;
    ~Depth() { --d; }
  } depth{call_depth_};
  std::vector<std::optional<std::string>> values;
  size_t e = 0;
  for (const auto& a : args) {
    if (a.mode == "OUT" && arg_exprs.size() != args.size()) {
      values.emplace_back();
      continue;
    }
    ASSIGN_OR_RETURN(WarehouseResult v, Dispatch(StrCat("SELECT CAST((", arg_exprs[e++], ") AS ", a.type, ")")));
    values.push_back(v.rows.empty() ? std::nullopt : v.rows[0][0]);
  }
  Parser parser(body);
  ASSIGN_OR_RETURN(Stmt block, parser.ParseBody());
  WarehouseResult r;
  ProcedureRunner runner(*this, nonatomic, &r.notices);
  bool own_txn = status_ == 'I';
  if (own_txn) {
    RETURN_IF_ERROR(DuckExec("BEGIN TRANSACTION"));
    status_ = 'T';
  }
  absl::Status st = runner.Run(block, args, values);
  if (own_txn) {
    if (st.ok()) {
      st = DuckExec("COMMIT");
    } else {
      (void)con_->Execute("ROLLBACK");
    }
    status_ = 'I';
  }
  if (!st.ok()) return st;
  r.command_tag = "CALL";
  // INOUT/OUT arguments come back as one row.
  for (const auto& a : args) {
    if (a.mode == "IN") continue;
    r.columns.push_back(a.name);
    r.types.push_back("VARCHAR");
  }
  if (!r.columns.empty()) {
    r.has_result_set = true;
    std::vector<std::optional<std::string>> row;
    for (const auto& a : args) {
      if (a.mode != "IN") row.push_back(runner.Value(a.name));
    }
    r.rows.push_back(std::move(row));
    r.rows_affected = 1;
  }
  return r;
}

}  // namespace sluice::redshift
