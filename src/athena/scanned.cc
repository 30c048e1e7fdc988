// DataScannedInBytes from DuckDB's profile: which of the files a query's views name it read.
#include <algorithm>
#include <optional>
#include <tuple>

#include "athena/engine.h"
#include "base/strings.h"

namespace sluice::athena {

uint64_t ScanSource::Bytes() const {
  uint64_t sum = 0;
  for (const auto& p : parts) {
    for (const auto& f : p.files) sum += f.size;
  }
  return sum;
}

namespace {

// One READ_* table scan of the profile.
struct ProfiledScan {
  std::string function;
  std::vector<std::string> projections;  // lower case
  std::string file_filters;              // "(p = 2)(q > 1)", empty when DuckDB pruned no file
  uint64_t scanning = 0, of = 0;         // "Scanning Files: scanning/of"; 0/0 when absent
};

std::string Info(const OperatorProfile& op, const char* key) {
  auto it = op.info.find(key);
  return it == op.info.end() ? "" : it->second;
}

// DuckDB prints each pushed-down file filter in parentheses, one after the other:
// "(a = 1)(b != 'x')" becomes "(a = 1) AND (b != 'x')". Empty if the text is not such a list.
std::string ConjunctionOf(const std::string& filters) {
  std::vector<std::string> parts;
  int depth = 0;
  char quote = 0;
  size_t start = 0;
  for (size_t i = 0; i < filters.size(); ++i) {
    char c = filters[i];
    if (quote) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '(') {
      if (depth++ == 0) start = i;
    } else if (c == ')') {
      if (--depth < 0) return "";
      if (depth == 0) parts.push_back(filters.substr(start, i + 1 - start));
    } else if (depth == 0 && c != ' ') {
      return "";  // text outside the parentheses: not the shape we know
    }
  }
  if (depth != 0 || quote || parts.empty()) return "";
  return Join(parts, " AND ");
}

// The bytes of the files of hive source `s` whose partition values pass `filters`, evaluated
// by DuckDB over a VALUES list typed as the catalog says; nullopt if DuckDB cannot evaluate
// it or it keeps fewer files than DuckDB scanned (it was not the whole filter).
std::optional<uint64_t> FilteredBytes(const ScanSource& s, const ProfiledScan& scan, Connection& con) {
  std::string where = ConjunctionOf(scan.file_filters);
  if (where.empty()) return std::nullopt;
  std::vector<std::string> rows, names = {"__sluice_size"};
  for (const auto& [k, t] : s.keys) names.push_back(QuoteIdent(k));
  for (const auto& p : s.parts) {
    for (const auto& f : p.files) {
      std::vector<std::string> row = {StrCat("CAST(", f.size, " AS UBIGINT)")};
      for (size_t i = 0; i < s.keys.size(); ++i) {
        std::string v = i < p.values.size() ? SqlQuote(p.values[i]) : "NULL";
        row.push_back(StrCat("CAST(", v, " AS ", s.keys[i].second, ")"));
      }
      rows.push_back("(" + Join(row, ", ") + ")");
    }
  }
  if (rows.empty()) return 0;
  auto r = con.Query(StrCat("SELECT count(*), coalesce(sum(__sluice_size), 0) FROM (VALUES ", Join(rows, ", "),
                            ") AS sluice_files(", Join(names, ", "), ") WHERE ", where));
  uint64_t files = 0, bytes = 0;
  if (!r.ok() || r->rows.size() != 1 || !r->rows[0][0] || !r->rows[0][1] || !ParseNumber(*r->rows[0][0], &files) ||
      !ParseNumber(*r->rows[0][1], &bytes) || files < scan.scanning) {
    return std::nullopt;
  }
  return bytes;
}

// Whether `scan` may read `s`.
bool Matches(const ProfiledScan& scan, const ScanSource& s, bool strict) {
  if (scan.function != s.function) return false;
  if (!strict) return true;
  uint64_t files = 0;
  for (const auto& p : s.parts) files += p.files.size();
  if (scan.of > 0 && (!s.hive || scan.of != files)) return false;
  if (scan.function == "READ_JSON_OBJECTS") return true;  // its one column is the record
  for (const auto& c : scan.projections) {
    bool known = std::find(s.columns.begin(), s.columns.end(), c) != s.columns.end();
    for (const auto& [k, t] : s.keys) known = known || k == c;
    if (!known) return false;
  }
  return true;
}

}  // namespace

uint64_t ScannedBytes(const std::vector<ScanSource>& sources, const std::vector<OperatorProfile>& operators,
                      const std::string& database, Connection& con) {
  uint64_t all = 0;
  for (const auto& s : sources) all += s.Bytes();
  if (operators.empty()) return all;  // no profile: count what the views name

  std::vector<ProfiledScan> scans;
  for (const auto& op : operators) {
    std::string function = Info(op, "Function");
    if (op.type != "TABLE_SCAN" || !function.starts_with("READ_")) continue;
    ProfiledScan scan;
    scan.function = function;
    std::string projections = Info(op, "Projections");
    for (auto p : Split(projections, '\n', true)) {
      std::string name = AsciiLower(StripWhitespace(p));
      if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = name.substr(1, name.size() - 2);
      if (!name.empty()) scan.projections.push_back(name);
    }
    scan.file_filters = Info(op, "File Filters");
    std::string scanning = Info(op, "Scanning Files");
    auto slash = scanning.find('/');
    if (slash == std::string::npos || !ParseNumber(std::string_view(scanning).substr(0, slash), &scan.scanning) ||
        !ParseNumber(std::string_view(scanning).substr(slash + 1), &scan.of)) {
      scan.scanning = scan.of = 0;
    }
    scans.push_back(std::move(scan));
  }

  // Each scan goes to a source: the only one it can read, else one not read yet, else one
  // of the current database, else the largest (the scans with the fewest choices first).
  std::vector<std::vector<size_t>> choices(scans.size());
  for (size_t i = 0; i < scans.size(); ++i) {
    for (bool strict : {true, false}) {
      for (size_t j = 0; j < sources.size(); ++j) {
        if (Matches(scans[i], sources[j], strict)) choices[i].push_back(j);
      }
      if (!choices[i].empty()) break;
    }
  }
  std::vector<size_t> order(scans.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return choices[a].size() < choices[b].size(); });
  std::vector<int> reads(sources.size(), 0);  // UNION ALL branches (or hive scans) read per source
  uint64_t total = 0;
  for (size_t i : order) {
    if (choices[i].empty()) continue;  // not a scan of a catalog table
    size_t best = choices[i][0];
    auto rank = [&](size_t j) {
      return std::make_tuple(reads[j] == 0, sources[j].database == database, sources[j].Bytes());
    };
    for (size_t j : choices[i]) {
      if (rank(j) > rank(best)) best = j;
    }
    ++reads[best];
    const ScanSource& s = sources[best];
    if (!s.hive) continue;  // branches are counted below
    std::optional<uint64_t> bytes;
    if (scans[i].of > 0 && scans[i].scanning == 0) {
      bytes = 0;  // every partition pruned
    } else if (!scans[i].file_filters.empty() && scans[i].of > 0 && scans[i].scanning < scans[i].of) {
      bytes = FilteredBytes(s, scans[i], con);
    }
    total += bytes.value_or(s.Bytes());
  }
  // The branches of a UNION ALL view look alike in the profile: the pruned ones are gone,
  // so a view with k of its branches left counts its k largest parts.
  for (size_t j = 0; j < sources.size(); ++j) {
    if (sources[j].hive || reads[j] == 0) continue;
    std::vector<uint64_t> parts;
    for (const auto& p : sources[j].parts) {
      uint64_t sum = 0;
      for (const auto& f : p.files) sum += f.size;
      parts.push_back(sum);
    }
    std::sort(parts.rbegin(), parts.rend());
    // More scans than parts: a view read more than once (a self join) is read each time.
    for (size_t k = 0; k < static_cast<size_t>(reads[j]); ++k) total += parts.empty() ? 0 : parts[k % parts.size()];
  }
  return total;
}

}  // namespace sluice::athena
