// sluice sql --local "SELECT ...": one query over the lake in place, without a server.
//
// DuckDB (in memory) reads the files under <data-dir>/s3/objects: a string literal
// 's3://bucket/key' names the file of that object (globs work as in DuckDB), and each Glue
// catalog table is a view <database>.<table> over the files under its location. Nothing is
// written and no lock is taken: the catalog is read through a read-only SQLite connection
// (WAL readers do not block the server), the server's DuckDB databases are not opened, and
// only queries run. Works while a server runs on the same data directory.
#include <sqlite3.h>
#include <sys/stat.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/json.h"
#include "nlohmann/json.hpp"
#include "base/strings.h"
#include "cmd/commands.h"
#include "sql/sql.h"

namespace sluice {
namespace {

using Json = nlohmann::json;

bool IsDir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Rewrites 's3://bucket/key' (and s3a://) string literals to the lake's files; fails on
// more than one statement. Quotes, quoted identifiers and comments are respected.
bool RewriteQuery(const std::string& sql, const std::string& objects, std::string* out, std::string* first_word,
                  std::string* error) {
  out->clear();
  first_word->clear();
  bool ended = false;  // a ';' was seen
  size_t i = 0;
  while (i < sql.size()) {
    char c = sql[i];
    if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      size_t e = sql.find('\n', i);
      e = e == std::string::npos ? sql.size() : e;
      out->append(sql, i, e - i);
      i = e;
      continue;
    }
    if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      size_t e = sql.find("*/", i + 2);
      e = e == std::string::npos ? sql.size() : e + 2;
      out->append(sql, i, e - i);
      i = e;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) {
      out->push_back(c);
      ++i;
      continue;
    }
    if (ended) {
      if (c == ';') {
        ++i;
        continue;
      }
      *error = "one statement at a time";
      return false;
    }
    if (c == ';') {
      ended = true;
      ++i;
      continue;
    }
    if (c == '\'' || c == '"') {
      size_t j = i + 1;
      std::string body;
      for (;; ++j) {
        if (j >= sql.size()) {
          *error = "unterminated quote";
          return false;
        }
        if (sql[j] == c) {
          if (j + 1 < sql.size() && sql[j + 1] == c) {
            body.push_back(c);
            ++j;
            continue;
          }
          break;
        }
        body.push_back(sql[j]);
      }
      std::string lower = Lower(body.substr(0, 6));
      if (c == '\'' && (lower.starts_with("s3://") || lower.starts_with("s3a://"))) {
        std::string rest = body.substr(lower.starts_with("s3://") ? 5 : 6);
        out->append(SqlQuote(objects + "/" + rest));
      } else {
        out->append(sql, i, j + 1 - i);
      }
      i = j + 1;
      continue;
    }
    size_t j = i;
    while (j < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[j])) || sql[j] == '_')) ++j;
    if (j == i) j = i + 1;
    if (first_word->empty()) *first_word = Lower(sql.substr(i, j - i));
    out->append(sql, i, j - i);
    i = j;
  }
  return true;
}

// The Glue catalog's tables, read-only: (database, table document).
std::vector<std::pair<std::string, Json>> CatalogTables(const std::string& path, std::string* warning) {
  std::vector<std::pair<std::string, Json>> out;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return out;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(db, 2000);
    rc = sqlite3_prepare_v2(db, "SELECT db, doc FROM tables", -1, &stmt, nullptr);
  }
  while (rc == SQLITE_OK || rc == SQLITE_ROW) {
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) break;
    const char* name = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    const char* doc = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1));
    Json j = ParseJson(doc ? doc : "", kMaxStoredJsonDepth);
    if (j.is_object()) out.emplace_back(name ? name : "", std::move(j));
  }
  if (rc != SQLITE_DONE) {
    *warning = StrCat("the Glue catalog (", path, ") could not be read, so its tables are not views: ",
                      db ? sqlite3_errmsg(db) : "out of memory");
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

// A view's SELECT over a catalog table's files, or "" when Sluice cannot read its format.
std::string TableReader(const Json& table, const std::string& objects) {
  const Json& sd = table.value("StorageDescriptor", Json::object());
  std::string location = sd.value("Location", "");
  std::string lower = Lower(location.substr(0, 6));
  if (!lower.starts_with("s3://") && !lower.starts_with("s3a://")) return "";
  std::string rest = location.substr(lower.starts_with("s3://") ? 5 : 6);
  if (!rest.empty() && rest.back() != '/') rest.push_back('/');
  std::string glob = SqlQuote(objects + "/" + rest + "**/[!_.]*");
  std::string serde = Lower(sd.value("SerdeInfo", Json::object()).value("SerializationLibrary", ""));
  std::string input = Lower(sd.value("InputFormat", ""));
  std::string cls = Lower(table.value("Parameters", Json::object()).value("classification", ""));
  if (serde.find("parquet") != std::string::npos || input.find("parquet") != std::string::npos || cls == "parquet") {
    return StrCat("SELECT * FROM read_parquet(", glob, ", hive_partitioning=true, union_by_name=true)");
  }
  if (serde.find("json") != std::string::npos || cls == "json") {
    return StrCat("SELECT * FROM read_json_auto(", glob, ", hive_partitioning=true, union_by_name=true)");
  }
  if (serde.find("csv") != std::string::npos || serde.find("lazysimple") != std::string::npos || cls == "csv") {
    return StrCat("SELECT * FROM read_csv_auto(", glob, ", hive_partitioning=true, union_by_name=true)");
  }
  return "";
}

}  // namespace

int RunSqlLocal(const std::string& data_dir, const std::string& query, const std::string& database,
                const std::string& format) {
  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "sluice sql --local: %s\n", message.c_str());
    return 1;
  };
  char resolved[PATH_MAX];
  if (!IsDir(data_dir) || ::realpath(data_dir.c_str(), resolved) == nullptr) {
    return fail(StrCat("no data directory at ", data_dir, "; pass the server's with --data-dir DIR"));
  }
  std::string dir = resolved;
  std::string objects = dir + "/s3/objects";
  if (!IsDir(objects)) {
    return fail(StrCat(dir, " is not a Sluice data directory (it has no s3/objects); pass the server's with --data-dir DIR"));
  }
  std::string sql, first, error;
  if (!RewriteQuery(query, objects, &sql, &first, &error)) return fail(error);
  static const char* kReads[] = {"select", "with", "from", "values", "table", "describe", "show", "summarize", "explain", "("};
  bool reads = false;
  for (const char* w : kReads) reads |= first == w;
  if (!reads) {
    return fail(StrCat("only queries (SELECT, WITH, DESCRIBE, SHOW, ...) run with --local, not '", first,
                       "': the lake is read in place, read-only; run other statements through the server "
                       "(sluice sql without --local)"));
  }

  auto db = Database::Open(DatabaseOptions{});
  if (!db.ok()) return fail(std::string(db.status().message()));
  auto con = (*db)->Connect();
  if (!con.ok()) return fail(std::string(con.status().message()));
  std::string warning;
  for (const auto& [glue_db, table] : CatalogTables(dir + "/glue/catalog.db", &warning)) {
    std::string reader = TableReader(table, objects);
    if (reader.empty()) continue;
    (void)(*con)->Execute(StrCat("CREATE SCHEMA IF NOT EXISTS ", SqlQuoteIdent(glue_db)));
    // A table without files (or unreadable ones) has no view; a query naming it says so.
    (void)(*con)->Execute(StrCat("CREATE OR REPLACE VIEW ", SqlQuoteIdent(glue_db), ".",
                                 SqlQuoteIdent(table.value("Name", "")), " AS ", reader));
  }
  if (!warning.empty()) std::fprintf(stderr, "sluice sql --local: warning: %s\n", warning.c_str());
  (void)(*con)->Execute(StrCat("CREATE SCHEMA IF NOT EXISTS ", SqlQuoteIdent(database)));
  (void)(*con)->Execute(StrCat("USE memory.", SqlQuoteIdent(database)));
  // Only the lake is readable; nothing is installed or loaded from the network.
  for (const char* s : {"SET autoinstall_known_extensions = false", "SET autoload_known_extensions = false"}) {
    (void)(*con)->Execute(s);
  }
  if (auto st = (*con)->Execute(StrCat("SET allowed_directories = [", SqlQuote(objects + "/"), "]")); !st.ok()) {
    return fail(std::string(st.message()));
  }
  if (auto st = (*con)->Execute("SET enable_external_access = false"); !st.ok()) return fail(std::string(st.message()));
  auto result = (*con)->Query(sql);
  if (!result.ok()) {
    std::string message(result.status().message());
    // Show the user's s3:// names rather than the files they were mapped to.
    for (size_t p; (p = message.find(objects + "/")) != std::string::npos;) message.replace(p, objects.size() + 1, "s3://");
    return fail(message);
  }
  PrintRows(result->columns, result->rows, format);
  return 0;
}

}  // namespace sluice
