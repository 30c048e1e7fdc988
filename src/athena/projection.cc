// Partition projection: partitions computed from table properties instead of the catalog.
#include <regex>
#include <set>

#include "athena/engine.h"
#include "base/strings.h"

namespace sluice::athena {
namespace {

std::string Param(const Json& params, const std::string& key) {
  auto it = params.find(key);
  return it != params.end() && it->is_string() ? it->get<std::string>() : "";
}

// Java DateTimeFormatter patterns (yyyy-MM-dd, yyyy/MM/dd/HH, ...) as absl formats.
std::string JavaToAbsl(const std::string& java) {
  static const std::pair<const char*, const char*> kMap[] = {{"yyyy", "%Y"}, {"MM", "%m"}, {"dd", "%d"},
                                                            {"HH", "%H"},   {"mm", "%M"}, {"ss", "%S"}};
  std::string out;
  for (size_t i = 0; i < java.size();) {
    bool matched = false;
    for (const auto& [j, a] : kMap) {
      if (java.compare(i, std::strlen(j), j) == 0) {
        out += a;
        i += std::strlen(j);
        matched = true;
        break;
      }
    }
    if (!matched) out += java[i++];
  }
  return out;
}

std::optional<absl::Time> ParseDateValue(const std::string& value, const std::string& java_format) {
  if (StripWhitespace(value).starts_with("NOW")) return absl::Now();
  absl::Time t;
  std::string err;
  if (absl::ParseTime(JavaToAbsl(java_format), value, absl::UTCTimeZone(), &t, &err)) return t;
  return std::nullopt;
}

// Whether `value` is one the column's projection produces.
bool Accepts(const Json& params, const std::string& column, const std::string& value) {
  std::string prefix = "projection." + column + ".";
  std::string type = AsciiLower(Param(params, prefix + "type"));
  if (type == "enum") {
    for (auto v : Split(Param(params, prefix + "values"), ',')) {
      if (StripWhitespace(v) == value) return true;
    }
    return false;
  }
  if (type == "integer") {
    auto range = Split(Param(params, prefix + "range"), ',');
    int64_t v, lo, hi, interval = 1;
    if (range.size() != 2 || !ParseNumber(StripWhitespace(range[0]), &lo) || !ParseNumber(StripWhitespace(range[1]), &hi)) {
      return false;
    }
    ParseNumber(Param(params, prefix + "interval"), &interval);
    std::string digits = Param(params, prefix + "digits");
    if (!ParseNumber(value, &v)) return false;
    if (!digits.empty()) {
      size_t n = 0;
      ParseNumber(digits, &n);
      if (value.size() < n) return false;
    }
    return v >= lo && v <= hi && interval > 0 && (v - lo) % interval == 0;
  }
  if (type == "date") {
    std::string format = Param(params, prefix + "format");
    auto range = Split(Param(params, prefix + "range"), ',');
    auto t = ParseDateValue(value, format);
    if (!t || range.size() != 2) return false;
    auto lo = ParseDateValue(std::string(StripWhitespace(range[0])), format);
    auto hi = ParseDateValue(std::string(StripWhitespace(range[1])), format);
    return lo && hi && *t >= *lo && *t <= *hi;
  }
  return type == "injected";  // any value the data has
}

// The regex a column's values match in a key: date values follow their format (which may
// hold '/'), others are one path segment.
std::string ValuePattern(const Json& params, const std::string& column) {
  std::string prefix = "projection." + column + ".";
  if (AsciiLower(Param(params, prefix + "type")) != "date") return "[^/]+";
  std::string format = Param(params, prefix + "format");
  std::string out;
  for (size_t i = 0; i < format.size();) {
    if (format.compare(i, 4, "yyyy") == 0) {
      out += "\\d{4}";
      i += 4;
    } else if (format.compare(i, 2, "MM") == 0 || format.compare(i, 2, "dd") == 0 || format.compare(i, 2, "HH") == 0 ||
               format.compare(i, 2, "mm") == 0 || format.compare(i, 2, "ss") == 0) {
      out += "\\d{2}";
      i += 2;
    } else {
      char c = format[i++];
      if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) out += '\\';
      out += c;
    }
  }
  return out.empty() ? "[^/]+" : out;
}

}  // namespace

bool UsesProjection(const Json& table) {
  return AsciiLower(Param(table.value("Parameters", Json::object()), "projection.enabled")) == "true";
}

// The partitions a projected table has in the lake: the files under the template's fixed
// prefix whose keys fit the storage.location.template with values the projection accepts.
absl::StatusOr<std::vector<std::pair<std::vector<std::string>, std::string>>> ProjectedPartitions(const Json& table,
                                                                                                 ObjectStore& store) {
  const Json& params = table.value("Parameters", Json::object());
  std::vector<std::string> keys;
  for (const auto& k : table.value("PartitionKeys", Json::array())) keys.push_back(AsciiLower(k.value("Name", "")));
  for (const auto& k : keys) {
    std::string type = AsciiLower(Param(params, "projection." + k + ".type"));
    if (type != "enum" && type != "integer" && type != "date" && type != "injected") {
      return absl::InvalidArgumentError(StrCat("Partition projection for column ", k, " needs projection.", k,
                                               ".type enum, integer, date or injected"));
    }
  }
  std::string location = table.value("StorageDescriptor", Json::object()).value("Location", "");
  if (!location.empty() && location.back() != '/') location.push_back('/');
  std::string tmpl = Param(params, "storage.location.template");
  if (tmpl.empty()) {
    tmpl = location;
    for (const auto& k : keys) tmpl += k + "=${" + k + "}/";
  }
  if (!tmpl.empty() && tmpl.back() != '/') tmpl.push_back('/');
  ASSIGN_OR_RETURN(auto where, ParseS3Location(tmpl));
  auto [bucket, key_template] = where;
  // Template -> regex over keys, one group per ${column}, in template order.
  std::string re = "^";
  std::vector<std::string> order;
  size_t fixed_end = std::string::npos;
  for (size_t i = 0; i < key_template.size();) {
    if (key_template.compare(i, 2, "${") == 0) {
      auto close = key_template.find('}', i);
      if (close == std::string::npos) return absl::InvalidArgumentError("storage.location.template has an unclosed ${");
      if (fixed_end == std::string::npos) fixed_end = i;
      std::string column = AsciiLower(key_template.substr(i + 2, close - i - 2));
      order.push_back(column);
      re += "(" + ValuePattern(params, column) + ")";
      i = close + 1;
    } else {
      char c = key_template[i++];
      if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) re += '\\';
      re += c;
    }
  }
  std::string base = key_template.substr(0, fixed_end == std::string::npos ? key_template.size() : fixed_end);
  base = base.substr(0, base.rfind('/') + 1);
  std::regex pattern(re);
  std::set<std::vector<std::string>> seen;
  std::vector<std::pair<std::vector<std::string>, std::string>> out;
  ListRequest req;
  req.prefix = base;
  for (;;) {
    auto page = store.List(bucket, req);
    if (!page.ok()) {
      if (S3ErrorCode(page.status()) == "NoSuchBucket") return out;
      return page.status();
    }
    for (const auto& o : page->objects) {
      std::smatch m;
      if (!std::regex_search(o.key, m, pattern)) continue;
      std::vector<std::string> values(keys.size());
      bool ok = true;
      for (size_t g = 0; g < order.size() && ok; ++g) {
        std::string v = m[g + 1].str();
        auto it = std::find(keys.begin(), keys.end(), order[g]);
        if (it == keys.end()) continue;
        values[it - keys.begin()] = v;
        ok = Accepts(params, order[g], v);
      }
      if (!ok || !seen.insert(values).second) continue;
      out.emplace_back(values, StrCat("s3://", bucket, "/", m[0].str()));
    }
    if (!page->truncated) break;
    req.after = page->last;
  }
  return out;
}

}  // namespace sluice::athena
