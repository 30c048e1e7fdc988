#include "glue/catalog.h"

#include <regex>

#include "absl/time/clock.h"
#include "base/json.h"
#include "base/strings.h"
#include "io/file.h"

namespace sluice {
namespace {

double NowSeconds() { return static_cast<double>(absl::ToUnixMillis(absl::Now())) / 1000.0; }

absl::Status CheckName(const std::string& kind, const std::string& name) {
  if (name.empty() || name.size() > 255) {
    return absl::InvalidArgumentError(StrCat(kind, " name must be 1 to 255 characters long"));
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return absl::InvalidArgumentError(StrCat(kind, " name contains a control character"));
  }
  return absl::OkStatus();
}

std::string Lower(const std::string& s) { return AsciiLower(s); }

std::string ValuesKey(const Json& values) { return values.dump(); }

absl::Status NotFound(std::string what) { return absl::NotFoundError(std::move(what)); }

}  // namespace

absl::StatusOr<std::unique_ptr<Catalog>> Catalog::Open(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash != std::string::npos) RETURN_IF_ERROR(MakeDirs(path.substr(0, slash)));
  std::unique_ptr<Catalog> c(new Catalog(path));
  ASSIGN_OR_RETURN(c->writer_, SqliteGroupWriter::Open(path));
  RETURN_IF_ERROR(c->writer_->Write([](SqliteDb& db) {
    return db.Exec(
        "CREATE TABLE IF NOT EXISTS databases(name TEXT PRIMARY KEY, doc TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS tables(db TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,"
        " PRIMARY KEY(db, name)) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS partitions(db TEXT NOT NULL, tbl TEXT NOT NULL, vals TEXT NOT NULL,"
        " doc TEXT NOT NULL, PRIMARY KEY(db, tbl, vals)) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS documents(kind TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,"
        " PRIMARY KEY(kind, name)) WITHOUT ROWID;");
  }));
  return c;
}

absl::Status Catalog::Write(SqliteGroupWriter::Change change) {
  absl::Status st = writer_->Write(std::move(change));
  if (st.ok()) version_.fetch_add(1);
  return st;
}

absl::StatusOr<Json> Catalog::ReadOne(const std::string& sql, const std::vector<std::string>& args,
                                      const std::string& what) {
  size_t unreadable = 0;
  ASSIGN_OR_RETURN(auto all, ReadAll(sql, args, &unreadable));
  if (all.empty() && unreadable > 0) return absl::DataLossError(StrCat("The stored record of ", what, " is unreadable"));
  if (all.empty()) return NotFound(what);
  return all.front();
}

absl::StatusOr<std::vector<Json>> Catalog::ReadAll(const std::string& sql, const std::vector<std::string>& args,
                                                   size_t* unreadable) {
  std::vector<Json> out;
  RETURN_IF_ERROR(readers_.With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare(sql));
    for (size_t i = 0; i < args.size(); ++i) s->Bind(static_cast<int>(i + 1), args[i]);
    for (;;) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      Json doc = ParseJson(s->Text(0), kMaxStoredJsonDepth);
      // A record that is not a JSON object (damaged on disk) is left out, so that one bad
      // record does not make every listing, or the server's start, fail.
      if (!doc.is_object()) {
        if (unreadable) ++*unreadable;
        continue;
      }
      out.push_back(std::move(doc));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::Status Catalog::PutDocument(const std::string& kind, const std::string& name, const Json& doc, bool create) {
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare(create ? "INSERT INTO documents(kind, name, doc) VALUES(?,?,?)"
                                                : "INSERT OR REPLACE INTO documents(kind, name, doc) VALUES(?,?,?)"));
    absl::Status st = s->Bind(1, kind).Bind(2, name).Bind(3, doc.dump()).Run();
    if (absl::IsAlreadyExists(st)) return absl::AlreadyExistsError(StrCat(kind, " ", name, " already exists"));
    return st;
  });
}

absl::StatusOr<Json> Catalog::GetDocument(const std::string& kind, const std::string& name) {
  return ReadOne("SELECT doc FROM documents WHERE kind=? AND name=?", {kind, name}, StrCat(kind, " ", name, " not found"));
}

absl::StatusOr<std::vector<Json>> Catalog::ListDocuments(const std::string& kind) {
  return ReadAll("SELECT doc FROM documents WHERE kind=? ORDER BY name", {kind});
}

absl::Status Catalog::DeleteDocument(const std::string& kind, const std::string& name) {
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("DELETE FROM documents WHERE kind=? AND name=?"));
    RETURN_IF_ERROR(s->Bind(1, kind).Bind(2, name).Run());
    if (sqlite3_changes(db.raw()) == 0) return NotFound(StrCat(kind, " ", name, " not found"));
    return absl::OkStatus();
  });
}

absl::Status Catalog::CreateDatabase(const Json& input) {
  std::string name = Lower(input.value("Name", ""));
  RETURN_IF_ERROR(CheckName("Database", name));
  Json doc = input;
  doc["Name"] = name;
  doc["CreateTime"] = NowSeconds();
  doc["CatalogId"] = "000000000000";
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("INSERT INTO databases(name, doc) VALUES(?, ?)"));
    absl::Status st = s->Bind(1, name).Bind(2, doc.dump()).Run();
    if (absl::IsAlreadyExists(st)) return absl::AlreadyExistsError(StrCat("Database already exists."));
    return st;
  });
}

absl::StatusOr<Json> Catalog::GetDatabase(const std::string& name) {
  return ReadOne("SELECT doc FROM databases WHERE name=?", {Lower(name)}, StrCat("Database ", name, " not found."));
}

absl::StatusOr<std::vector<Json>> Catalog::GetDatabases() { return ReadAll("SELECT doc FROM databases ORDER BY name", {}); }

absl::Status Catalog::UpdateDatabase(const std::string& name, const Json& input) {
  std::string n = Lower(name);
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* g, db.Prepare("SELECT doc FROM databases WHERE name=?"));
    g->Bind(1, n);
    ASSIGN_OR_RETURN(bool row, g->Step());
    if (!row) return NotFound(StrCat("Database ", name, " not found."));
    Json old = ParseJson(g->Text(0), kMaxStoredJsonDepth);
    Json doc = input;
    doc["Name"] = n;
    doc["CreateTime"] = old.value("CreateTime", NowSeconds());
    doc["CatalogId"] = "000000000000";
    ASSIGN_OR_RETURN(auto* s, db.Prepare("UPDATE databases SET doc=? WHERE name=?"));
    return s->Bind(1, doc.dump()).Bind(2, n).Run();
  });
}

absl::Status Catalog::DeleteDatabase(const std::string& name) {
  std::string n = Lower(name);
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("DELETE FROM databases WHERE name=?"));
    RETURN_IF_ERROR(s->Bind(1, n).Run());
    if (sqlite3_changes(db.raw()) == 0) return NotFound(StrCat("Database ", name, " not found."));
    ASSIGN_OR_RETURN(auto* t, db.Prepare("DELETE FROM tables WHERE db=?"));
    RETURN_IF_ERROR(t->Bind(1, n).Run());
    ASSIGN_OR_RETURN(auto* p, db.Prepare("DELETE FROM partitions WHERE db=?"));
    return p->Bind(1, n).Run();
  });
}

absl::Status Catalog::CreateTable(const std::string& dbname, const Json& input) {
  std::string db = Lower(dbname);
  std::string name = Lower(input.value("Name", ""));
  RETURN_IF_ERROR(CheckName("Table", name));
  Json doc = input;
  doc["Name"] = name;
  doc["DatabaseName"] = db;
  doc["CreateTime"] = NowSeconds();
  doc["UpdateTime"] = doc["CreateTime"];
  doc["CatalogId"] = "000000000000";
  doc["IsRegisteredWithLakeFormation"] = false;
  if (!doc.contains("TableType")) doc["TableType"] = "EXTERNAL_TABLE";
  if (!doc.contains("PartitionKeys")) doc["PartitionKeys"] = Json::array();
  return Write([&](SqliteDb& d) -> absl::Status {
    ASSIGN_OR_RETURN(auto* g, d.Prepare("SELECT 1 FROM databases WHERE name=?"));
    g->Bind(1, db);
    ASSIGN_OR_RETURN(bool exists, g->Step());
    if (!exists) return NotFound(StrCat("Database ", dbname, " not found."));
    ASSIGN_OR_RETURN(auto* s, d.Prepare("INSERT INTO tables(db, name, doc) VALUES(?, ?, ?)"));
    absl::Status st = s->Bind(1, db).Bind(2, name).Bind(3, doc.dump()).Run();
    if (absl::IsAlreadyExists(st)) return absl::AlreadyExistsError("Table already exists.");
    return st;
  });
}

absl::StatusOr<Json> Catalog::GetTable(const std::string& db, const std::string& name) {
  if (!GetDatabase(db).ok()) return NotFound(StrCat("Database ", db, " not found."));
  return ReadOne("SELECT doc FROM tables WHERE db=? AND name=?", {Lower(db), Lower(name)},
                 StrCat("Table ", name, " not found."));
}

absl::StatusOr<std::vector<Json>> Catalog::GetTables(const std::string& db, const std::string& name_pattern) {
  RETURN_IF_ERROR(GetDatabase(db).status());
  ASSIGN_OR_RETURN(auto all, ReadAll("SELECT doc FROM tables WHERE db=? ORDER BY name", {Lower(db)}));
  if (name_pattern.empty()) return all;
  std::regex re;
  try {
    re = std::regex(name_pattern, std::regex::ECMAScript | std::regex::icase);
  } catch (const std::regex_error&) {
    return absl::InvalidArgumentError(StrCat("Expression '", name_pattern, "' is not a valid regular expression"));
  }
  std::vector<Json> out;
  for (auto& t : all) {
    if (std::regex_match(t.value("Name", ""), re)) out.push_back(std::move(t));
  }
  return out;
}

absl::Status Catalog::UpdateTable(const std::string& dbname, const Json& input) {
  std::string db = Lower(dbname);
  std::string name = Lower(input.value("Name", ""));
  return Write([&](SqliteDb& d) -> absl::Status {
    ASSIGN_OR_RETURN(auto* g, d.Prepare("SELECT doc FROM tables WHERE db=? AND name=?"));
    g->Bind(1, db).Bind(2, name);
    ASSIGN_OR_RETURN(bool row, g->Step());
    if (!row) return NotFound(StrCat("Table ", name, " not found."));
    Json old = ParseJson(g->Text(0), kMaxStoredJsonDepth);
    Json doc = input;
    doc["Name"] = name;
    doc["DatabaseName"] = db;
    doc["CreateTime"] = old.value("CreateTime", NowSeconds());
    doc["UpdateTime"] = NowSeconds();
    doc["CatalogId"] = "000000000000";
    doc["IsRegisteredWithLakeFormation"] = false;
    if (!doc.contains("TableType")) doc["TableType"] = old.value("TableType", "EXTERNAL_TABLE");
    if (!doc.contains("PartitionKeys")) doc["PartitionKeys"] = Json::array();
    ASSIGN_OR_RETURN(auto* s, d.Prepare("UPDATE tables SET doc=? WHERE db=? AND name=?"));
    return s->Bind(1, doc.dump()).Bind(2, db).Bind(3, name).Run();
  });
}

absl::Status Catalog::DeleteTable(const std::string& dbname, const std::string& tname) {
  std::string db = Lower(dbname), name = Lower(tname);
  return Write([&](SqliteDb& d) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, d.Prepare("DELETE FROM tables WHERE db=? AND name=?"));
    RETURN_IF_ERROR(s->Bind(1, db).Bind(2, name).Run());
    if (sqlite3_changes(d.raw()) == 0) return NotFound(StrCat("Table ", tname, " not found."));
    ASSIGN_OR_RETURN(auto* p, d.Prepare("DELETE FROM partitions WHERE db=? AND tbl=?"));
    return p->Bind(1, db).Bind(2, name).Run();
  });
}

absl::Status Catalog::CreatePartition(const std::string& dbname, const std::string& tname, const Json& input,
                                      bool if_not_exists) {
  std::string db = Lower(dbname), table = Lower(tname);
  ASSIGN_OR_RETURN(Json t, GetTable(db, table));
  const Json& keys = t["PartitionKeys"];
  if (!input.contains("Values") || !input["Values"].is_array() || input["Values"].size() != keys.size()) {
    return absl::InvalidArgumentError(StrCat("The number of partition values (", input.value("Values", Json::array()).size(),
                                             ") does not match the number of partition keys (", keys.size(), ")."));
  }
  for (const auto& v : input["Values"]) {
    if (!v.is_string()) return absl::InvalidArgumentError("Partition values must be strings.");
  }
  Json doc = input;
  doc["DatabaseName"] = db;
  doc["TableName"] = table;
  doc["CreationTime"] = NowSeconds();
  doc["CatalogId"] = "000000000000";
  std::string vals = ValuesKey(input["Values"]);
  return Write([&](SqliteDb& d) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, d.Prepare(if_not_exists ? "INSERT OR IGNORE INTO partitions(db, tbl, vals, doc) VALUES(?,?,?,?)"
                                                      : "INSERT INTO partitions(db, tbl, vals, doc) VALUES(?,?,?,?)"));
    absl::Status st = s->Bind(1, db).Bind(2, table).Bind(3, vals).Bind(4, doc.dump()).Run();
    if (absl::IsAlreadyExists(st)) return absl::AlreadyExistsError("Partition already exists.");
    return st;
  });
}

absl::StatusOr<Json> Catalog::GetPartition(const std::string& db, const std::string& table, const Json& values) {
  RETURN_IF_ERROR(GetTable(db, table).status());
  return ReadOne("SELECT doc FROM partitions WHERE db=? AND tbl=? AND vals=?", {Lower(db), Lower(table), ValuesKey(values)},
                 "Partition not found.");
}

absl::StatusOr<std::vector<Json>> Catalog::GetPartitions(const std::string& db, const std::string& table,
                                                         const std::string& expression) {
  ASSIGN_OR_RETURN(Json t, GetTable(db, table));
  ASSIGN_OR_RETURN(auto all, ReadAll("SELECT doc FROM partitions WHERE db=? AND tbl=? ORDER BY vals", {Lower(db), Lower(table)}));
  if (StripWhitespace(expression).empty()) return all;
  std::vector<Json> out;
  for (auto& p : all) {
    std::vector<std::pair<std::string, std::string>> kv;
    const Json& keys = t["PartitionKeys"];
    for (size_t i = 0; i < keys.size() && i < p["Values"].size(); ++i) {
      kv.emplace_back(AsciiLower(keys[i].value("Name", "")), p["Values"][i].get<std::string>());
    }
    ASSIGN_OR_RETURN(bool match, MatchPartitionExpression(expression, kv));
    if (match) out.push_back(std::move(p));
  }
  return out;
}

absl::Status Catalog::UpdatePartition(const std::string& dbname, const std::string& tname, const Json& values,
                                      const Json& input) {
  std::string db = Lower(dbname), table = Lower(tname);
  ASSIGN_OR_RETURN(Json old, GetPartition(db, table, values));
  Json doc = input;
  if (!doc.contains("Values")) doc["Values"] = values;
  doc["DatabaseName"] = db;
  doc["TableName"] = table;
  doc["CreationTime"] = old.value("CreationTime", NowSeconds());
  doc["CatalogId"] = "000000000000";
  return Write([&](SqliteDb& d) -> absl::Status {
    ASSIGN_OR_RETURN(auto* del, d.Prepare("DELETE FROM partitions WHERE db=? AND tbl=? AND vals=?"));
    RETURN_IF_ERROR(del->Bind(1, db).Bind(2, table).Bind(3, ValuesKey(values)).Run());
    ASSIGN_OR_RETURN(auto* s, d.Prepare("INSERT INTO partitions(db, tbl, vals, doc) VALUES(?,?,?,?)"));
    return s->Bind(1, db).Bind(2, table).Bind(3, ValuesKey(doc["Values"])).Bind(4, doc.dump()).Run();
  });
}

absl::Status Catalog::DeletePartition(const std::string& dbname, const std::string& tname, const Json& values) {
  std::string db = Lower(dbname), table = Lower(tname);
  RETURN_IF_ERROR(GetTable(db, table).status());
  return Write([&](SqliteDb& d) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, d.Prepare("DELETE FROM partitions WHERE db=? AND tbl=? AND vals=?"));
    RETURN_IF_ERROR(s->Bind(1, db).Bind(2, table).Bind(3, ValuesKey(values)).Run());
    if (sqlite3_changes(d.raw()) == 0) return NotFound("Partition not found.");
    return absl::OkStatus();
  });
}

}  // namespace sluice
