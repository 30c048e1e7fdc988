#include "athena/ddl.h"

#include <cctype>

#include "base/strings.h"

namespace sluice::athena {
namespace {

struct Tok {
  enum Kind { kWord, kQuoted /* "x" or `x` */, kString, kNumber, kPunct, kEnd } kind;
  std::string text;
  int line = 1, col = 1;
  size_t offset = 0;  // in the statement text
};

absl::StatusOr<std::vector<Tok>> Lex(const std::string& s) {
  std::vector<Tok> out;
  int line = 1, col = 1;
  size_t i = 0;
  auto adv = [&](size_t n) {
    for (size_t k = 0; k < n && i < s.size(); ++k, ++i) {
      if (s[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
  };
  while (i < s.size()) {
    char c = s[i];
    int l = line, co = col;
    size_t start = i;
    if (std::isspace(static_cast<unsigned char>(c))) {
      adv(1);
    } else if (c == '\'' || c == '"' || c == '`') {
      std::string v;
      adv(1);
      for (;;) {
        if (i >= s.size()) return absl::InvalidArgumentError(StrCat("line ", l, ":", co, ": unterminated quote"));
        if (s[i] == c) {
          if (i + 1 < s.size() && s[i + 1] == c) {
            v.push_back(c);
            adv(2);
            continue;
          }
          adv(1);
          break;
        }
        if (c == '\'' && s[i] == '\\' && i + 1 < s.size()) {  // Hive escapes in DDL strings
          char n = s[i + 1];
          v.push_back(n == 't' ? '\t' : n == 'n' ? '\n' : n == '0' ? '\0' : n);
          adv(2);
          continue;
        }
        v.push_back(s[i]);
        adv(1);
      }
      out.push_back({c == '\'' ? Tok::kString : Tok::kQuoted, v, l, co, start});
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
      out.push_back({Tok::kNumber, s.substr(i, j - i), l, co, start});
      adv(j - i);
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Tok::kWord, s.substr(i, j - i), l, co, start});
      adv(j - i);
    } else {
      out.push_back({Tok::kPunct, std::string(1, c), l, co, start});
      adv(1);
    }
  }
  out.push_back({Tok::kEnd, "", line, col, s.size()});
  return out;
}

class Parser {
 public:
  Parser(std::vector<Tok> t, const std::string& text) : t_(std::move(t)), text_(text) {}

  absl::StatusOr<Statement> Parse() {
    Statement st;
    if (Peek("CREATE")) {
      size_t save = p_;
      Next();
      if (Accept("DATABASE") || Accept("SCHEMA")) {
        st.kind = Statement::Kind::kCreateDatabase;
        RETURN_IF_ERROR(CreateDb(st.create_database));
      } else if (Accept("EXTERNAL")) {
        RETURN_IF_ERROR(Expect("TABLE"));
        st.kind = Statement::Kind::kCreateTable;
        RETURN_IF_ERROR(CreateTbl(st.create_table));
      } else if (Peek("TABLE") && !LooksLikeCtas()) {
        Next();
        st.kind = Statement::Kind::kCreateTable;
        RETURN_IF_ERROR(CreateTbl(st.create_table));
      } else if (Accept("TABLE")) {
        st.kind = Statement::Kind::kCreateTableAs;
        RETURN_IF_ERROR(Ctas(st.write));
        return st;
      } else if (Accept("OR") || Peek("VIEW")) {
        if (t_[p_ - 1].text != "VIEW" && !EqualsIgnoreCase(Cur().text, "VIEW")) RETURN_IF_ERROR(Expect("REPLACE"));
        if (EqualsIgnoreCase(t_[p_ - 1].text, "REPLACE")) st.write.or_replace = true;
        RETURN_IF_ERROR(Expect("VIEW"));
        st.kind = Statement::Kind::kCreateView;
        ASSIGN_OR_RETURN(st.write.table, QualifiedName());
        RETURN_IF_ERROR(Expect("AS"));
        st.write.query = Rest();
        if (StripWhitespace(st.write.query).empty()) return Error("expected a query after AS");
        return st;
      } else {
        p_ = save;
        return Query();
      }
    } else if (Accept("INSERT")) {
      RETURN_IF_ERROR(Expect("INTO"));
      st.kind = Statement::Kind::kInsertInto;
      ASSIGN_OR_RETURN(st.write.table, QualifiedName());
      if (Cur().kind == Tok::kPunct && Cur().text == "(" && !(t_[p_ + 1].kind == Tok::kWord &&
                                                              (EqualsIgnoreCase(t_[p_ + 1].text, "SELECT") ||
                                                               EqualsIgnoreCase(t_[p_ + 1].text, "WITH")))) {
        return Error("INSERT INTO with a column list is not supported yet; select the columns in table order");
      }
      st.write.query = Rest();
      if (StripWhitespace(st.write.query).empty()) return Error("expected a query");
      return st;
    } else if (Accept("PREPARE")) {
      st.kind = Statement::Kind::kPrepare;
      ASSIGN_OR_RETURN(st.write.table.name, Ident());
      RETURN_IF_ERROR(Expect("FROM"));
      st.write.query = Rest();
      if (StripWhitespace(st.write.query).empty()) return Error("expected a statement after FROM");
      return st;
    } else if (Accept("EXECUTE")) {
      st.kind = Statement::Kind::kExecute;
      ASSIGN_OR_RETURN(st.write.table.name, Ident());
      if (Accept("USING")) {
        // Each value is the text up to the next top-level comma.
        while (Cur().kind != Tok::kEnd && !(Cur().kind == Tok::kPunct && Cur().text == ";")) {
          size_t begin = Cur().offset;
          int depth = 0;
          while (Cur().kind != Tok::kEnd) {
            if (Cur().kind == Tok::kPunct && Cur().text == "(") ++depth;
            if (Cur().kind == Tok::kPunct && Cur().text == ")") --depth;
            if (depth == 0 && Cur().kind == Tok::kPunct && (Cur().text == "," || Cur().text == ";")) break;
            Next();
          }
          st.write.using_values.push_back(std::string(StripWhitespace(text_.substr(begin, Cur().offset - begin))));
          if (!Accept(",")) break;
        }
      }
    } else if (Accept("DEALLOCATE")) {
      RETURN_IF_ERROR(Expect("PREPARE"));
      st.kind = Statement::Kind::kDeallocate;
      ASSIGN_OR_RETURN(st.write.table.name, Ident());
    } else if (Accept("MSCK")) {
      RETURN_IF_ERROR(Expect("REPAIR"));
      RETURN_IF_ERROR(Expect("TABLE"));
      st.kind = Statement::Kind::kMsckRepair;
      ASSIGN_OR_RETURN(st.msck.table, QualifiedName());
    } else if (Accept("ALTER")) {
      RETURN_IF_ERROR(Expect("TABLE"));
      ASSIGN_OR_RETURN(Name table, QualifiedName());
      if (Accept("ADD")) {
        st.kind = Statement::Kind::kAddPartitions;
        st.add_partitions.table = table;
        if (Accept("IF")) {
          RETURN_IF_ERROR(Expect("NOT"));
          RETURN_IF_ERROR(Expect("EXISTS"));
          st.add_partitions.if_not_exists = true;
        }
        while (Accept("PARTITION")) {
          ASSIGN_OR_RETURN(PartitionSpec spec, Spec());
          if (Accept("LOCATION")) {
            ASSIGN_OR_RETURN(spec.location, String());
          }
          st.add_partitions.partitions.push_back(std::move(spec));
          Accept(",");
        }
        if (st.add_partitions.partitions.empty()) return Error("expected PARTITION");
      } else if (Accept("DROP")) {
        st.kind = Statement::Kind::kDropPartitions;
        st.drop_partitions.table = table;
        if (Accept("IF")) {
          RETURN_IF_ERROR(Expect("EXISTS"));
          st.drop_partitions.if_exists = true;
        }
        do {
          RETURN_IF_ERROR(Expect("PARTITION"));
          ASSIGN_OR_RETURN(PartitionSpec spec, Spec());
          st.drop_partitions.partitions.push_back(std::move(spec));
        } while (Accept(","));
      } else {
        return Error("Sluice supports ALTER TABLE ... ADD PARTITION and DROP PARTITION");
      }
    } else if (Accept("SHOW")) {
      st.kind = Statement::Kind::kShow;
      if (Accept("DATABASES") || Accept("SCHEMAS")) {
        st.show.what = Show::What::kDatabases;
        Accept("LIKE");
        if (Cur().kind == Tok::kString) st.show.pattern = Next().text;
      } else if (Accept("TABLES") || Accept("VIEWS")) {
        st.show.what = EqualsIgnoreCase(t_[p_ - 1].text, "VIEWS") ? Show::What::kViews : Show::What::kTables;
        if (Accept("IN") || Accept("FROM")) {
          ASSIGN_OR_RETURN(st.show.target.db, Ident());
        }
        Accept("LIKE");
        if (Cur().kind == Tok::kString) st.show.pattern = Next().text;
      } else if (Accept("PARTITIONS")) {
        st.show.what = Show::What::kPartitions;
        ASSIGN_OR_RETURN(st.show.target, QualifiedName());
      } else if (Accept("COLUMNS")) {
        st.show.what = Show::What::kColumns;
        if (!Accept("IN") && !Accept("FROM")) return Error("expected IN or FROM");
        ASSIGN_OR_RETURN(st.show.target, QualifiedName());
        if (Accept("IN") || Accept("FROM")) {
          ASSIGN_OR_RETURN(st.show.target.db, Ident());
        }
      } else if (Accept("CREATE")) {
        RETURN_IF_ERROR(Expect("TABLE"));
        st.show.what = Show::What::kCreateTable;
        ASSIGN_OR_RETURN(st.show.target, QualifiedName());
      } else {
        return Error("expected DATABASES, SCHEMAS, TABLES, PARTITIONS, COLUMNS or CREATE TABLE");
      }
    } else if (Accept("DESCRIBE") || Accept("DESC")) {
      st.kind = Statement::Kind::kDescribe;
      Accept("FORMATTED");
      Accept("EXTENDED");
      ASSIGN_OR_RETURN(st.describe.table, QualifiedName());
    } else if (Accept("DROP")) {
      st.kind = Statement::Kind::kDrop;
      if (Accept("DATABASE") || Accept("SCHEMA")) {
        st.drop.database = true;
      } else if (Accept("VIEW")) {
        st.drop.view = true;
      } else if (!Accept("TABLE")) {
        return Error("expected TABLE, VIEW, DATABASE or SCHEMA");
      }
      if (Accept("IF")) {
        RETURN_IF_ERROR(Expect("EXISTS"));
        st.drop.if_exists = true;
      }
      if (st.drop.database) {
        ASSIGN_OR_RETURN(st.drop.target.name, Ident());
        if (Accept("CASCADE")) st.drop.cascade = true;
        Accept("RESTRICT");
      } else {
        ASSIGN_OR_RETURN(st.drop.target, QualifiedName());
      }
    } else {
      return Query();
    }
    Accept(";");
    if (Cur().kind != Tok::kEnd) return Error(StrCat("extraneous input '", Cur().text, "'"));
    return st;
  }

 private:
  absl::StatusOr<Statement> Query() {
    Statement st;
    st.kind = Statement::Kind::kQuery;
    return st;
  }
  const Tok& Cur() const { return t_[p_]; }
  const Tok& Next() { return t_[p_ < t_.size() - 1 ? p_++ : p_]; }
  bool Peek(const char* w) const { return Cur().kind == Tok::kWord && EqualsIgnoreCase(Cur().text, w); }
  bool Accept(const char* w) {
    if ((Cur().kind == Tok::kWord || Cur().kind == Tok::kPunct) && EqualsIgnoreCase(Cur().text, w)) {
      ++p_;
      return true;
    }
    return false;
  }
  absl::Status Error(const std::string& what) const {
    return absl::InvalidArgumentError(StrCat("line ", Cur().line, ":", Cur().col, ": ", what,
                                             Cur().kind == Tok::kEnd ? " at end of input" : StrCat(" near '", Cur().text, "'")));
  }
  absl::Status Expect(const char* w) {
    if (Accept(w)) return absl::OkStatus();
    return Error(StrCat("mismatched input, expecting ", w));
  }
  // At TABLE: "TABLE [IF NOT EXISTS] name (" is a plain CREATE TABLE; "... name WITH" or
  // "... name AS" is CREATE TABLE AS.
  bool LooksLikeCtas() const {
    for (size_t i = p_ + 1; i < t_.size(); ++i) {
      if (t_[i].kind == Tok::kPunct && t_[i].text == "(") return false;
      if (t_[i].kind == Tok::kWord && (EqualsIgnoreCase(t_[i].text, "AS") || EqualsIgnoreCase(t_[i].text, "WITH"))) {
        return true;
      }
    }
    return false;
  }
  absl::StatusOr<std::string> Ident() {
    if (Cur().kind == Tok::kWord || Cur().kind == Tok::kQuoted) return AsciiLower(Next().text);
    return Error("expected an identifier");
  }
  absl::StatusOr<std::string> String() {
    if (Cur().kind == Tok::kString) return Next().text;
    return Error("expected a string literal");
  }
  absl::StatusOr<Name> QualifiedName() {
    std::vector<std::string> parts;
    ASSIGN_OR_RETURN(std::string first, Ident());
    parts.push_back(first);
    while (Accept(".")) {
      ASSIGN_OR_RETURN(std::string p, Ident());
      parts.push_back(p);
    }
    if (parts.size() > 3) return Error("too many name parts");
    if (parts.size() == 3 && parts[0] != "awsdatacatalog") {
      return absl::InvalidArgumentError(StrCat("Catalog '", parts[0], "' does not exist; use awsdatacatalog"));
    }
    Name n;
    n.name = parts.back();
    if (parts.size() >= 2) n.db = parts[parts.size() - 2];
    return n;
  }
  // A Hive type: words, numbers and balanced <> and () with commas and colons, to the
  // column's end (',' or ')' at depth 0, or COMMENT).
  absl::StatusOr<std::string> Type() {
    std::string out;
    int depth = 0;
    while (Cur().kind != Tok::kEnd) {
      const Tok& t = Cur();
      if (depth == 0 && t.kind == Tok::kPunct && (t.text == "," || t.text == ")")) break;
      if (depth == 0 && t.kind == Tok::kWord && EqualsIgnoreCase(t.text, "COMMENT")) break;
      if (t.kind == Tok::kPunct && (t.text == "<" || t.text == "(")) ++depth;
      if (t.kind == Tok::kPunct && (t.text == ">" || t.text == ")")) --depth;
      if (t.kind == Tok::kQuoted || t.kind == Tok::kString) return Error("unexpected quote in a type");
      out += AsciiLower(t.text);
      Next();
      // "double precision", "timestamp with time zone": words stay apart.
      if (t_[p_ - 1].kind == Tok::kWord && Cur().kind == Tok::kWord && !EqualsIgnoreCase(Cur().text, "COMMENT")) out += " ";
    }
    if (out.empty()) return Error("expected a column type");
    return std::string(StripWhitespace(out));
  }
  absl::StatusOr<std::vector<Column>> Columns() {
    std::vector<Column> cols;
    RETURN_IF_ERROR(Expect("("));
    do {
      Column c;
      ASSIGN_OR_RETURN(c.name, Ident());
      ASSIGN_OR_RETURN(c.type, Type());
      if (Accept("COMMENT")) {
        ASSIGN_OR_RETURN(c.comment, String());
      }
      cols.push_back(std::move(c));
    } while (Accept(","));
    RETURN_IF_ERROR(Expect(")"));
    return cols;
  }
  absl::StatusOr<Properties> PropertyList() {
    Properties props;
    RETURN_IF_ERROR(Expect("("));
    if (Accept(")")) return props;
    do {
      ASSIGN_OR_RETURN(std::string k, String());
      RETURN_IF_ERROR(Expect("="));
      ASSIGN_OR_RETURN(std::string v, String());
      props.emplace_back(k, v);
    } while (Accept(","));
    RETURN_IF_ERROR(Expect(")"));
    return props;
  }
  absl::StatusOr<PartitionSpec> Spec() {
    PartitionSpec spec;
    RETURN_IF_ERROR(Expect("("));
    do {
      ASSIGN_OR_RETURN(std::string k, Ident());
      RETURN_IF_ERROR(Expect("="));
      std::string v;
      if (Cur().kind == Tok::kString || Cur().kind == Tok::kNumber) {
        v = Next().text;
      } else {
        return Error("expected a partition value");
      }
      spec.values.emplace_back(k, v);
    } while (Accept(","));
    RETURN_IF_ERROR(Expect(")"));
    return spec;
  }
  std::string Rest() const { return text_.substr(Cur().offset); }

  absl::Status Ctas(WriteQuery& w) {
    if (Accept("IF")) {
      RETURN_IF_ERROR(Expect("NOT"));
      RETURN_IF_ERROR(Expect("EXISTS"));
      w.if_not_exists = true;
    }
    ASSIGN_OR_RETURN(w.table, QualifiedName());
    if (Accept("WITH")) {
      RETURN_IF_ERROR(Expect("("));
      do {
        ASSIGN_OR_RETURN(std::string key, Ident());
        RETURN_IF_ERROR(Expect("="));
        if (Accept("ARRAY")) {
          RETURN_IF_ERROR(Expect("["));
          std::vector<std::string> items;
          if (!Accept("]")) {
            do {
              ASSIGN_OR_RETURN(std::string item, String());
              items.push_back(AsciiLower(item));
            } while (Accept(","));
            RETURN_IF_ERROR(Expect("]"));
          }
          if (key == "partitioned_by") w.partitioned_by = items;
          else if (key != "bucketed_by") w.properties.emplace_back(key, Join(items, ","));
        } else if (Cur().kind == Tok::kString || Cur().kind == Tok::kNumber) {
          w.properties.emplace_back(key, Next().text);
        } else {
          return Error("expected a string, a number or ARRAY[...]");
        }
      } while (Accept(","));
      RETURN_IF_ERROR(Expect(")"));
    }
    RETURN_IF_ERROR(Expect("AS"));
    size_t begin = Cur().offset;
    // "WITH NO DATA" / "WITH DATA" may close the statement.
    size_t end = text_.size();
    for (size_t i = p_; i + 2 < t_.size(); ++i) {
      if (EqualsIgnoreCase(t_[i].text, "WITH") && EqualsIgnoreCase(t_[i + 1].text, "NO") &&
          EqualsIgnoreCase(t_[i + 2].text, "DATA")) {
        end = t_[i].offset;
        w.with_data = false;
        break;
      }
      if (EqualsIgnoreCase(t_[i].text, "WITH") && EqualsIgnoreCase(t_[i + 1].text, "DATA") && t_[i + 2].kind == Tok::kEnd) {
        end = t_[i].offset;
        break;
      }
    }
    w.query = text_.substr(begin, end - begin);
    if (StripWhitespace(w.query).empty()) return Error("expected a query after AS");
    return absl::OkStatus();
  }

  absl::Status CreateDb(CreateDatabase& d) {
    if (Accept("IF")) {
      RETURN_IF_ERROR(Expect("NOT"));
      RETURN_IF_ERROR(Expect("EXISTS"));
      d.if_not_exists = true;
    }
    ASSIGN_OR_RETURN(d.name, Ident());
    for (;;) {
      if (Accept("COMMENT")) {
        ASSIGN_OR_RETURN(d.comment, String());
      } else if (Accept("LOCATION")) {
        ASSIGN_OR_RETURN(d.location, String());
      } else if (Accept("WITH")) {
        RETURN_IF_ERROR(Expect("DBPROPERTIES"));
        ASSIGN_OR_RETURN(auto props, PropertyList());
        (void)props;
      } else {
        return absl::OkStatus();
      }
    }
  }
  absl::Status CreateTbl(CreateTable& t) {
    if (Accept("IF")) {
      RETURN_IF_ERROR(Expect("NOT"));
      RETURN_IF_ERROR(Expect("EXISTS"));
      t.if_not_exists = true;
    }
    ASSIGN_OR_RETURN(t.table, QualifiedName());
    ASSIGN_OR_RETURN(t.columns, Columns());
    for (;;) {
      if (Accept("COMMENT")) {
        ASSIGN_OR_RETURN(t.comment, String());
      } else if (Accept("PARTITIONED")) {
        RETURN_IF_ERROR(Expect("BY"));
        ASSIGN_OR_RETURN(t.partition_keys, Columns());
      } else if (Accept("CLUSTERED")) {
        return Error("CLUSTERED BY (bucketing) is not supported by Sluice");
      } else if (Accept("ROW")) {
        RETURN_IF_ERROR(Expect("FORMAT"));
        if (Accept("SERDE")) {
          ASSIGN_OR_RETURN(t.serde, String());
          if (Accept("WITH")) {
            RETURN_IF_ERROR(Expect("SERDEPROPERTIES"));
            ASSIGN_OR_RETURN(t.serde_properties, PropertyList());
          }
        } else if (Accept("DELIMITED")) {
          t.serde = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe";
          for (;;) {
            if (Accept("FIELDS")) {
              RETURN_IF_ERROR(Expect("TERMINATED"));
              RETURN_IF_ERROR(Expect("BY"));
              ASSIGN_OR_RETURN(std::string d, String());
              t.serde_properties.emplace_back("field.delim", d);
              if (Accept("ESCAPED")) {
                RETURN_IF_ERROR(Expect("BY"));
                ASSIGN_OR_RETURN(std::string e, String());
                t.serde_properties.emplace_back("escape.delim", e);
              }
            } else if (Accept("LINES")) {
              RETURN_IF_ERROR(Expect("TERMINATED"));
              RETURN_IF_ERROR(Expect("BY"));
              ASSIGN_OR_RETURN(std::string d, String());
              t.serde_properties.emplace_back("line.delim", d);
            } else if (Accept("COLLECTION") || Accept("MAP")) {
              Accept("ITEMS");
              Accept("KEYS");
              RETURN_IF_ERROR(Expect("TERMINATED"));
              RETURN_IF_ERROR(Expect("BY"));
              ASSIGN_OR_RETURN(std::string d, String());
              (void)d;
            } else if (Accept("NULL")) {
              RETURN_IF_ERROR(Expect("DEFINED"));
              RETURN_IF_ERROR(Expect("AS"));
              ASSIGN_OR_RETURN(std::string d, String());
              t.serde_properties.emplace_back("serialization.null.format", d);
            } else {
              break;
            }
          }
        } else {
          return Error("expected SERDE or DELIMITED");
        }
      } else if (Accept("STORED")) {
        RETURN_IF_ERROR(Expect("AS"));
        if (Accept("INPUTFORMAT")) {
          ASSIGN_OR_RETURN(t.input_format, String());
          RETURN_IF_ERROR(Expect("OUTPUTFORMAT"));
          ASSIGN_OR_RETURN(t.output_format, String());
        } else {
          ASSIGN_OR_RETURN(std::string f, Ident());
          t.stored_as = AsciiUpper(f);
        }
      } else if (Accept("LOCATION")) {
        ASSIGN_OR_RETURN(t.location, String());
      } else if (Accept("TBLPROPERTIES")) {
        ASSIGN_OR_RETURN(t.table_properties, PropertyList());
      } else {
        break;
      }
    }
    if (t.location.empty()) return Error("CREATE EXTERNAL TABLE needs LOCATION 's3://...'");
    return absl::OkStatus();
  }

  std::vector<Tok> t_;
  const std::string& text_;
  size_t p_ = 0;
};

}  // namespace

absl::StatusOr<std::string> BindParameters(const std::string& sql, const std::vector<std::string>& values) {
  std::string out;
  size_t next = 0;
  char quote = 0;
  for (char c : sql) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '?') {
      if (next == values.size()) {
        return absl::InvalidArgumentError(StrCat("The query has more parameters (?) than the ", values.size(), " values given"));
      }
      out += values[next++];
      continue;
    }
    out.push_back(c);
  }
  if (next != values.size()) {
    return absl::InvalidArgumentError(StrCat(values.size(), " values were given for ", next, " parameters (?)"));
  }
  return out;
}

absl::StatusOr<std::string> SingleStatement(const std::string& sql) {
  // Strip comments outside quotes; split on ';' outside quotes.
  std::string out;
  std::vector<std::string> statements;
  char quote = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (quote) {
      out.push_back(c);
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '\'' || c == '"' || c == '`') {
      quote = c;
      out.push_back(c);
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      while (i < sql.size() && sql[i] != '\n') ++i;
      out.push_back('\n');
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      auto end = sql.find("*/", i + 2);
      i = end == std::string::npos ? sql.size() : end + 1;
      out.push_back(' ');
    } else if (c == ';') {
      statements.push_back(out);
      out.clear();
    } else {
      out.push_back(c);
    }
  }
  statements.push_back(out);
  std::vector<std::string> nonempty;
  for (auto& s : statements) {
    if (!StripWhitespace(s).empty()) nonempty.push_back(std::string(StripWhitespace(s)));
  }
  if (nonempty.empty()) return absl::InvalidArgumentError("line 1:1: the query is empty");
  if (nonempty.size() > 1) {
    return absl::InvalidArgumentError("Only one sql statement is allowed. Got: " + StrCat(nonempty.size()));
  }
  return nonempty[0];
}

absl::StatusOr<Statement> ParseStatement(const std::string& sql) {
  ASSIGN_OR_RETURN(auto tokens, Lex(sql));
  return Parser(std::move(tokens), sql).Parse();
}

}  // namespace sluice::athena
