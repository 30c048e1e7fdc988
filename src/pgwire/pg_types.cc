#include "pgwire/pg_types.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "base/strings.h"
#include "io/checksum.h"
#include "redshift/warehouse.h"

namespace sluice::pgwire {
namespace {

// DuckDB type names (upper case, without parameters) and their PostgreSQL types.
struct TypeRow {
  const char* duckdb;
  PgType pg;
};
constexpr TypeRow kTypes[] = {
    {"BOOLEAN", {oid::kBool, 1}},
    {"BOOL", {oid::kBool, 1}},
    {"TINYINT", {oid::kInt2, 2}},
    {"UTINYINT", {oid::kInt2, 2}},
    {"SMALLINT", {oid::kInt2, 2}},
    {"INT2", {oid::kInt2, 2}},
    {"USMALLINT", {oid::kInt4, 4}},
    {"INTEGER", {oid::kInt4, 4}},
    {"INT", {oid::kInt4, 4}},
    {"INT4", {oid::kInt4, 4}},
    {"UINTEGER", {oid::kInt8, 8}},
    {"BIGINT", {oid::kInt8, 8}},
    {"INT8", {oid::kInt8, 8}},
    {"UBIGINT", {oid::kNumeric, -1}},
    {"HUGEINT", {oid::kNumeric, -1}},
    {"UHUGEINT", {oid::kNumeric, -1}},
    {"FLOAT", {oid::kFloat4, 4}},
    {"REAL", {oid::kFloat4, 4}},
    {"FLOAT4", {oid::kFloat4, 4}},
    {"DOUBLE", {oid::kFloat8, 8}},
    {"FLOAT8", {oid::kFloat8, 8}},
    {"DOUBLE PRECISION", {oid::kFloat8, 8}},
    {"DECIMAL", {oid::kNumeric, -1}},
    {"NUMERIC", {oid::kNumeric, -1}},
    {"VARCHAR", {oid::kVarchar, -1}},
    {"CHARACTER VARYING", {oid::kVarchar, -1}},
    {"CHAR", {oid::kBpchar, -1}},
    {"BPCHAR", {oid::kBpchar, -1}},
    {"CHARACTER", {oid::kBpchar, -1}},
    {"TEXT", {oid::kText, -1}},
    {"STRING", {oid::kText, -1}},
    {"NAME", {oid::kName, 64}},
    {"DATE", {oid::kDate, 4}},
    {"TIME", {oid::kTime, 8}},
    {"TIME WITHOUT TIME ZONE", {oid::kTime, 8}},
    {"TIMETZ", {oid::kTimetz, 12}},
    {"TIME WITH TIME ZONE", {oid::kTimetz, 12}},
    {"TIMESTAMP", {oid::kTimestamp, 8}},
    {"DATETIME", {oid::kTimestamp, 8}},
    {"TIMESTAMP WITHOUT TIME ZONE", {oid::kTimestamp, 8}},
    {"TIMESTAMP_S", {oid::kTimestamp, 8}},
    {"TIMESTAMP_MS", {oid::kTimestamp, 8}},
    {"TIMESTAMP_NS", {oid::kTimestamp, 8}},
    {"TIMESTAMPTZ", {oid::kTimestamptz, 8}},
    {"TIMESTAMP WITH TIME ZONE", {oid::kTimestamptz, 8}},
    {"INTERVAL", {oid::kInterval, 16}},
    {"BLOB", {oid::kBytea, -1}},
    {"BYTEA", {oid::kBytea, -1}},
    {"VARBINARY", {oid::kBytea, -1}},
    {"JSON", {oid::kJson, -1}},
    {"UUID", {oid::kUuid, 16}},
    {"OID", {oid::kOid, 4}},
};

absl::Status BadValue(uint32_t type_oid, std::string_view text) {
  return WarehouseError("22P03", StrCat("cannot encode value \"", std::string(text.substr(0, 64)),
                                        "\" of type ", type_oid, " in binary format"));
}
absl::Status BadBinary(uint32_t type_oid) {
  return WarehouseError("22P03", StrCat("incorrect binary data format in bind parameter of type ", type_oid));
}

void PutBE(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetBE(std::string_view in) {
  uint64_t v = 0;
  for (unsigned char c : in) v = (v << 8) | c;
  return v;
}

template <typename T>
bool ParseInt(std::string_view s, T* out) {
  s = StripWhitespace(s);
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool ParseDouble(std::string_view s, double* out) {
  s = StripWhitespace(s);
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::string FormatDouble(double v, bool single) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto r = single ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(v))
                  : std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}
constexpr int64_t kPgEpochDays = 10957;  // 2000-01-01 - 1970-01-01
constexpr int64_t kMicrosPerDay = 86400LL * 1000000;

// A cursor over a text value.
struct Scanner {
  std::string_view s;
  size_t i = 0;
  bool Done() const { return i >= s.size(); }
  char Peek() const { return i < s.size() ? s[i] : '\0'; }
  bool Eat(char c) {
    if (Peek() != c) return false;
    ++i;
    return true;
  }
  bool Digits(int64_t* v, int max_digits = 18) {
    size_t start = i;
    int64_t r = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && static_cast<int>(i - start) < max_digits) {
      r = r * 10 + (s[i] - '0');
      ++i;
    }
    *v = r;
    return i > start;
  }
  // ".ffffff" → microseconds (extra digits are truncated).
  int64_t Fraction() {
    int64_t us = 0;
    if (!Eat('.')) return 0;
    int n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (n < 6) us = us * 10 + (s[i] - '0');
      ++n;
      ++i;
    }
    for (; n < 6; ++n) us *= 10;
    return us;
  }
  void SkipSpaces() {
    while (i < s.size() && s[i] == ' ') ++i;
  }
  // " BC" or " (BC)" at the end.
  bool Bc() {
    SkipSpaces();
    std::string_view rest = s.substr(i);
    if (rest == "BC" || rest == "(BC)") {
      i = s.size();
      return true;
    }
    return false;
  }
};

bool ParseDateParts(Scanner& sc, int64_t* days) {
  int64_t y, m, d;
  bool neg = sc.Eat('-');
  if (!sc.Digits(&y, 9) || !sc.Eat('-') || !sc.Digits(&m, 2) || !sc.Eat('-') || !sc.Digits(&d, 2)) return false;
  if (m < 1 || m > 12 || d < 1 || d > 31) return false;
  if (neg) y = -y;
  *days = DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  return true;
}
void FixBc(Scanner& sc, int64_t* days) {
  // Year N BC is astronomical year 1 - N: shift by the whole-year difference.
  size_t save = sc.i;
  if (!sc.Bc()) {
    sc.i = save;
    return;
  }
  int64_t y;
  unsigned m, d;
  CivilFromDays(*days, &y, &m, &d);
  *days = DaysFromCivil(1 - y, m, d);
}

bool ParseTimeParts(Scanner& sc, int64_t* micros) {
  int64_t h, m, s = 0;
  if (!sc.Digits(&h, 9) || !sc.Eat(':') || !sc.Digits(&m, 2)) return false;
  if (sc.Eat(':') && !sc.Digits(&s, 2)) return false;
  *micros = ((h * 60 + m) * 60 + s) * 1000000 + sc.Fraction();
  return true;
}

// "+05", "-08:00", "+05:30:15", "Z" → seconds east of UTC.
bool ParseZone(Scanner& sc, int64_t* offset) {
  *offset = 0;
  sc.SkipSpaces();
  if (sc.Eat('Z')) return true;
  char c = sc.Peek();
  if (c != '+' && c != '-') return true;
  ++sc.i;
  int64_t h, m = 0, s = 0;
  if (!sc.Digits(&h, 2)) return false;
  if (sc.Eat(':')) {
    if (!sc.Digits(&m, 2)) return false;
    if (sc.Eat(':') && !sc.Digits(&s, 2)) return false;
  } else if (sc.Digits(&m, 2)) {
  }
  *offset = (h * 3600 + m * 60 + s) * (c == '-' ? -1 : 1);
  return true;
}

absl::StatusOr<std::string> EncodeTimestamp(uint32_t type_oid, std::string_view text) {
  std::string out;
  if (text == "infinity") {
    PutBE(out, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), 8);
    return out;
  }
  if (text == "-infinity") {
    PutBE(out, static_cast<uint64_t>(std::numeric_limits<int64_t>::min()), 8);
    return out;
  }
  Scanner sc{text};
  int64_t days, micros = 0, zone = 0;
  if (!ParseDateParts(sc, &days)) return BadValue(type_oid, text);
  if (sc.Eat(' ') || sc.Eat('T')) {
    if (!ParseTimeParts(sc, &micros)) return BadValue(type_oid, text);
    if (!ParseZone(sc, &zone)) return BadValue(type_oid, text);
  }
  FixBc(sc, &days);
  sc.SkipSpaces();
  if (!sc.Done()) return BadValue(type_oid, text);
  int64_t v;
  if (__builtin_mul_overflow(days - kPgEpochDays, kMicrosPerDay, &v) || __builtin_add_overflow(v, micros, &v) ||
      __builtin_sub_overflow(v, type_oid == oid::kTimestamptz ? zone * 1000000 : 0, &v)) {
    return BadValue(type_oid, text);
  }
  PutBE(out, static_cast<uint64_t>(v), 8);
  return out;
}

std::string FormatDate(int64_t days_since_1970) {
  int64_t y;
  unsigned m, d;
  CivilFromDays(days_since_1970, &y, &m, &d);
  bool bc = y <= 0;
  if (bc) y = 1 - y;
  char buf[48];
  snprintf(buf, sizeof buf, "%04lld-%02u-%02u%s", static_cast<long long>(y), m, d, bc ? " BC" : "");
  return buf;
}
std::string FormatTime(int64_t micros) {
  int64_t s = micros / 1000000, us = micros % 1000000;
  char buf[48];
  snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", static_cast<long long>(s / 3600),
           static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  std::string r = buf;
  if (us) {
    snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(us));
    std::string f = buf;
    while (f.back() == '0') f.pop_back();
    r += f;
  }
  return r;
}
std::string FormatTimestamp(int64_t micros, bool tz) {
  if (micros == std::numeric_limits<int64_t>::max()) return "infinity";
  if (micros == std::numeric_limits<int64_t>::min()) return "-infinity";
  int64_t days = micros / kMicrosPerDay, rem = micros % kMicrosPerDay;
  if (rem < 0) {
    rem += kMicrosPerDay;
    --days;
  }
  std::string date = FormatDate(days + kPgEpochDays);
  std::string bc;
  if (date.size() > 3 && date.compare(date.size() - 3, 3, " BC") == 0) {
    bc = " BC";
    date.resize(date.size() - 3);
  }
  return StrCat(date, " ", FormatTime(rem), tz ? "+00" : "", bc);
}

// Interval text in PostgreSQL's or DuckDB's style: "1 year 2 mons 3 days 04:05:06.5",
// "-00:00:01", "3 days", "1 month".
bool ParseInterval(std::string_view text, int64_t* micros, int32_t* days, int32_t* months) {
  *micros = 0;
  *days = 0;
  *months = 0;
  std::vector<std::string_view> tokens = Split(text, ' ', /*skip_empty=*/true);
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::string_view t = tokens[i];
    if (t.find(':') != std::string_view::npos) {
      bool neg = !t.empty() && t[0] == '-';
      if (!t.empty() && (t[0] == '-' || t[0] == '+')) t.remove_prefix(1);
      Scanner sc{t};
      int64_t us;
      if (!ParseTimeParts(sc, &us) || !sc.Done()) return false;
      if (__builtin_add_overflow(*micros, neg ? -us : us, micros)) return false;
      continue;
    }
    int32_t n;
    if (!ParseInt(t, &n) || i + 1 >= tokens.size()) return false;
    std::string unit = AsciiLower(tokens[++i]);
    if (!unit.empty() && unit.back() == 's') unit.pop_back();
    bool overflow;
    if (unit == "year") {
      int32_t m;
      overflow = __builtin_mul_overflow(n, 12, &m) || __builtin_add_overflow(*months, m, months);
    } else if (unit == "mon" || unit == "month") {
      overflow = __builtin_add_overflow(*months, n, months);
    } else if (unit == "day") {
      overflow = __builtin_add_overflow(*days, n, days);
    } else if (unit == "hour" || unit == "min" || unit == "minute" || unit == "sec" || unit == "second") {
      int64_t scale = unit == "hour" ? 3600LL * 1000000 : unit[0] == 'm' ? 60LL * 1000000 : 1000000;
      overflow = __builtin_add_overflow(*micros, int64_t{n} * scale, micros);
    } else {
      return false;
    }
    if (overflow) return false;
  }
  return true;
}

std::string FormatInterval(int64_t micros, int32_t days, int32_t months) {
  std::string out;
  auto part = [&](int64_t n, const char* one, const char* many) {
    if (n == 0) return;
    if (!out.empty()) out += ' ';
    StrAppend(&out, n, " ", (n == 1 || n == -1) ? one : many);
  };
  part(months / 12, "year", "years");
  part(months % 12, "mon", "mons");
  part(days, "day", "days");
  if (micros != 0 || out.empty()) {
    if (!out.empty()) out += ' ';
    if (micros < 0) {
      out += '-';
      micros = micros == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -micros;
    }
    out += FormatTime(micros);
  }
  return out;
}

// NUMERIC's binary format: int16 ndigits, int16 weight, uint16 sign, int16 dscale, then
// ndigits base-10000 digits; the value is sum(digit[i] * 10000^(weight - i)).
constexpr uint16_t kNumericPos = 0x0000, kNumericNeg = 0x4000, kNumericNaN = 0xC000;
constexpr uint16_t kNumericPinf = 0xD000, kNumericNinf = 0xF000;

absl::StatusOr<std::string> EncodeNumeric(std::string_view text) {
  std::string out;
  auto header = [&](int16_t ndigits, int16_t weight, uint16_t sign, int16_t dscale) {
    PutBE(out, static_cast<uint16_t>(ndigits), 2);
    PutBE(out, static_cast<uint16_t>(weight), 2);
    PutBE(out, sign, 2);
    PutBE(out, static_cast<uint16_t>(dscale), 2);
  };
  std::string_view s = StripWhitespace(text);
  if (EqualsIgnoreCase(s, "NaN")) {
    header(0, 0, kNumericNaN, 0);
    return out;
  }
  if (EqualsIgnoreCase(s, "Infinity") || EqualsIgnoreCase(s, "inf")) {
    header(0, 0, kNumericPinf, 0);
    return out;
  }
  if (EqualsIgnoreCase(s, "-Infinity") || EqualsIgnoreCase(s, "-inf")) {
    header(0, 0, kNumericNinf, 0);
    return out;
  }
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  size_t dot = s.find('.');
  std::string_view ip = s.substr(0, dot), fp = dot == std::string_view::npos ? "" : s.substr(dot + 1);
  if (ip.empty() && fp.empty()) return BadValue(oid::kNumeric, text);
  for (char c : ip) {
    if (c < '0' || c > '9') return BadValue(oid::kNumeric, text);
  }
  for (char c : fp) {
    if (c < '0' || c > '9') return BadValue(oid::kNumeric, text);
  }
  if (fp.size() > 16383) return BadValue(oid::kNumeric, text);
  // Pad the integer part on the left and the fraction on the right to groups of four.
  std::string digits(static_cast<size_t>((4 - ip.size() % 4) % 4), '0');
  digits.append(ip);
  size_t int_groups = digits.size() / 4;
  digits.append(fp);
  digits.append((4 - fp.size() % 4) % 4, '0');
  std::vector<uint16_t> groups;
  for (size_t i = 0; i < digits.size(); i += 4) {
    groups.push_back(static_cast<uint16_t>((digits[i] - '0') * 1000 + (digits[i + 1] - '0') * 100 +
                                           (digits[i + 2] - '0') * 10 + (digits[i + 3] - '0')));
  }
  int weight = static_cast<int>(int_groups) - 1;
  size_t first = 0;
  while (first < groups.size() && groups[first] == 0) {
    ++first;
    --weight;
  }
  size_t last = groups.size();
  while (last > first && groups[last - 1] == 0) --last;
  if (first == last) {
    header(0, 0, kNumericPos, static_cast<int16_t>(fp.size()));
    return out;
  }
  header(static_cast<int16_t>(last - first), static_cast<int16_t>(weight), neg ? kNumericNeg : kNumericPos,
         static_cast<int16_t>(fp.size()));
  for (size_t i = first; i < last; ++i) PutBE(out, groups[i], 2);
  return out;
}

absl::StatusOr<std::string> DecodeNumeric(std::string_view b) {
  if (b.size() < 8) return BadBinary(oid::kNumeric);
  int ndigits = static_cast<int16_t>(GetBE(b.substr(0, 2)));
  int weight = static_cast<int16_t>(GetBE(b.substr(2, 2)));
  uint16_t sign = static_cast<uint16_t>(GetBE(b.substr(4, 2)));
  int dscale = static_cast<int16_t>(GetBE(b.substr(6, 2)));
  if (sign == kNumericNaN) return std::string("NaN");
  if (sign == kNumericPinf) return std::string("Infinity");
  if (sign == kNumericNinf) return std::string("-Infinity");
  if (ndigits < 0 || dscale < 0 || dscale > 16383 || b.size() != 8 + 2 * static_cast<size_t>(ndigits) ||
      (sign != kNumericPos && sign != kNumericNeg) || weight < -1000 || weight > 1000) {
    return BadBinary(oid::kNumeric);
  }
  std::vector<int> d(ndigits);
  for (int i = 0; i < ndigits; ++i) {
    d[i] = static_cast<int>(GetBE(b.substr(8 + 2 * i, 2)));
    if (d[i] > 9999) return BadBinary(oid::kNumeric);
  }
  auto group = [&](int w) { return (weight - w >= 0 && weight - w < ndigits) ? d[weight - w] : 0; };
  std::string ip;
  for (int w = weight; w >= 0; --w) {
    char buf[8];
    snprintf(buf, sizeof buf, ip.empty() ? "%d" : "%04d", group(w));
    if (ip.empty() && group(w) == 0) continue;
    ip += buf;
  }
  if (ip.empty()) ip = "0";
  std::string fp;
  for (int w = -1; static_cast<int>(fp.size()) < dscale; --w) {
    char buf[8];
    snprintf(buf, sizeof buf, "%04d", group(w));
    fp += buf;
  }
  fp.resize(static_cast<size_t>(dscale));
  std::string r = sign == kNumericNeg ? "-" : "";
  r += ip;
  if (dscale > 0) StrAppend(&r, ".", fp);
  return r;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// bytea text in hex ("\x0a1b") or escape ("a\\b\001") format.
bool ParseBytea(std::string_view text, std::string* out) {
  out->clear();
  if (text.size() >= 2 && text[0] == '\\' && text[1] == 'x') {
    std::string_view h = text.substr(2);
    if (h.size() % 2) return false;
    for (size_t i = 0; i < h.size(); i += 2) {
      int a = HexValue(h[i]), b = HexValue(h[i + 1]);
      if (a < 0 || b < 0) return false;
      out->push_back(static_cast<char>(a * 16 + b));
    }
    return true;
  }
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out->push_back(text[i]);
    } else if (i + 1 < text.size() && text[i + 1] == '\\') {
      out->push_back('\\');
      ++i;
    } else if (i + 3 < text.size() && text[i + 1] >= '0' && text[i + 1] <= '3' && text[i + 2] >= '0' &&
               text[i + 2] <= '7' && text[i + 3] >= '0' && text[i + 3] <= '7') {
      out->push_back(static_cast<char>((text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 + (text[i + 3] - '0')));
      i += 3;
    } else if (i + 3 < text.size() && text[i + 1] == 'x' && HexValue(text[i + 2]) >= 0 && HexValue(text[i + 3]) >= 0) {
      // DuckDB's BLOB text: \xAB per non-printable byte.
      out->push_back(static_cast<char>(HexValue(text[i + 2]) * 16 + HexValue(text[i + 3])));
      i += 3;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

PgType PgTypeOf(std::string_view duckdb_type) {
  std::string t = AsciiUpper(StripWhitespace(duckdb_type));
  std::string base = t;
  std::string args;
  if (size_t p = t.find('('); p != std::string::npos) {
    base = std::string(StripWhitespace(std::string_view(t).substr(0, p)));
    size_t close = t.find(')', p);
    args = t.substr(p + 1, close == std::string::npos ? std::string::npos : close - p - 1);
  }
  // A LIST ("INTEGER[]"), STRUCT or MAP has no scalar counterpart.
  if (!t.empty() && t.back() == ']') return PgType{oid::kText, -1, -1};
  for (const TypeRow& row : kTypes) {
    if (base != row.duckdb) continue;
    PgType pg = row.pg;
    if (pg.oid == oid::kNumeric && !args.empty()) {
      std::vector<std::string_view> ps = Split(args, ',');
      int32_t precision = 0, scale = 0;
      if (!ps.empty() && ParseInt(ps[0], &precision) && (ps.size() < 2 || ParseInt(ps[1], &scale))) {
        pg.typmod = ((precision << 16) | scale) + 4;
      }
    } else if ((pg.oid == oid::kVarchar || pg.oid == oid::kBpchar) && !args.empty()) {
      int32_t n = 0;
      if (ParseInt(args, &n)) pg.typmod = n + 4;
    } else if (pg.oid == oid::kNumeric && (base == "HUGEINT" || base == "UBIGINT" || base == "UHUGEINT")) {
      pg.typmod = -1;
    }
    return pg;
  }
  return PgType{oid::kText, -1, -1};
}

bool HasBinaryFormat(uint32_t type_oid) {
  switch (type_oid) {
    case oid::kBool:
    case oid::kBytea:
    case oid::kName:
    case oid::kInt8:
    case oid::kInt2:
    case oid::kInt4:
    case oid::kText:
    case oid::kOid:
    case oid::kJson:
    case oid::kFloat4:
    case oid::kFloat8:
    case oid::kBpchar:
    case oid::kVarchar:
    case oid::kDate:
    case oid::kTime:
    case oid::kTimestamp:
    case oid::kTimestamptz:
    case oid::kInterval:
    case oid::kNumeric:
    case oid::kUuid:
      return true;
    default:
      return false;
  }
}

absl::StatusOr<std::string> EncodeBinary(uint32_t type_oid, std::string_view text) {
  std::string out;
  switch (type_oid) {
    case oid::kBool: {
      std::string v = AsciiLower(StripWhitespace(text));
      if (v == "t" || v == "true" || v == "1" || v == "yes" || v == "on" || v == "y") {
        out.push_back('\1');
      } else if (v == "f" || v == "false" || v == "0" || v == "no" || v == "off" || v == "n") {
        out.push_back('\0');
      } else {
        return BadValue(type_oid, text);
      }
      return out;
    }
    case oid::kInt2: {
      int16_t v;
      if (!ParseInt(text, &v)) return BadValue(type_oid, text);
      PutBE(out, static_cast<uint16_t>(v), 2);
      return out;
    }
    case oid::kInt4:
    case oid::kOid: {
      int64_t v;
      if (!ParseInt(text, &v) || v < std::numeric_limits<int32_t>::min() ||
          v > (type_oid == oid::kOid ? int64_t{0xffffffff} : std::numeric_limits<int32_t>::max())) {
        return BadValue(type_oid, text);
      }
      PutBE(out, static_cast<uint32_t>(v), 4);
      return out;
    }
    case oid::kInt8: {
      int64_t v;
      if (!ParseInt(text, &v)) return BadValue(type_oid, text);
      PutBE(out, static_cast<uint64_t>(v), 8);
      return out;
    }
    case oid::kFloat4:
    case oid::kFloat8: {
      double v;
      if (!ParseDouble(text, &v)) return BadValue(type_oid, text);
      if (type_oid == oid::kFloat4) {
        float f = static_cast<float>(v);
        uint32_t bits;
        memcpy(&bits, &f, 4);
        PutBE(out, bits, 4);
      } else {
        uint64_t bits;
        memcpy(&bits, &v, 8);
        PutBE(out, bits, 8);
      }
      return out;
    }
    case oid::kText:
    case oid::kVarchar:
    case oid::kBpchar:
    case oid::kName:
    case oid::kJson:
      return std::string(text);
    case oid::kBytea:
      if (!ParseBytea(text, &out)) return BadValue(type_oid, text);
      return out;
    case oid::kDate: {
      int32_t v;
      if (text == "infinity") {
        v = std::numeric_limits<int32_t>::max();
      } else if (text == "-infinity") {
        v = std::numeric_limits<int32_t>::min();
      } else {
        Scanner sc{text};
        int64_t days;
        if (!ParseDateParts(sc, &days)) return BadValue(type_oid, text);
        FixBc(sc, &days);
        sc.SkipSpaces();
        if (!sc.Done() || days - kPgEpochDays <= std::numeric_limits<int32_t>::min() ||
            days - kPgEpochDays >= std::numeric_limits<int32_t>::max()) {
          return BadValue(type_oid, text);
        }
        v = static_cast<int32_t>(days - kPgEpochDays);
      }
      PutBE(out, static_cast<uint32_t>(v), 4);
      return out;
    }
    case oid::kTime: {
      Scanner sc{text};
      int64_t micros;
      if (!ParseTimeParts(sc, &micros) || !sc.Done()) return BadValue(type_oid, text);
      PutBE(out, static_cast<uint64_t>(micros), 8);
      return out;
    }
    case oid::kTimestamp:
    case oid::kTimestamptz:
      return EncodeTimestamp(type_oid, text);
    case oid::kInterval: {
      int64_t micros;
      int32_t days, months;
      if (!ParseInterval(text, &micros, &days, &months)) return BadValue(type_oid, text);
      PutBE(out, static_cast<uint64_t>(micros), 8);
      PutBE(out, static_cast<uint32_t>(days), 4);
      PutBE(out, static_cast<uint32_t>(months), 4);
      return out;
    }
    case oid::kNumeric:
      return EncodeNumeric(text);
    case oid::kUuid: {
      std::string hex;
      for (char c : text) {
        if (c == '-' || c == '{' || c == '}') continue;
        if (HexValue(c) < 0) return BadValue(type_oid, text);
        hex.push_back(c);
      }
      if (hex.size() != 32) return BadValue(type_oid, text);
      for (size_t i = 0; i < 32; i += 2) out.push_back(static_cast<char>(HexValue(hex[i]) * 16 + HexValue(hex[i + 1])));
      return out;
    }
    default:
      return BadValue(type_oid, text);
  }
}

absl::StatusOr<std::string> DecodeBinary(uint32_t type_oid, std::string_view b) {
  auto want = [&](size_t n) { return b.size() == n; };
  switch (type_oid) {
    case oid::kBool:
      if (!want(1)) return BadBinary(type_oid);
      return std::string(b[0] ? "true" : "false");
    case oid::kInt2:
      if (!want(2)) return BadBinary(type_oid);
      return StrCat(static_cast<int16_t>(GetBE(b)));
    case oid::kInt4:
      if (!want(4)) return BadBinary(type_oid);
      return StrCat(static_cast<int32_t>(GetBE(b)));
    case oid::kOid:
      if (!want(4)) return BadBinary(type_oid);
      return StrCat(static_cast<uint32_t>(GetBE(b)));
    case oid::kInt8:
      if (!want(8)) return BadBinary(type_oid);
      return StrCat(static_cast<int64_t>(GetBE(b)));
    case oid::kFloat4: {
      if (!want(4)) return BadBinary(type_oid);
      uint32_t bits = static_cast<uint32_t>(GetBE(b));
      float f;
      memcpy(&f, &bits, 4);
      return FormatDouble(f, true);
    }
    case oid::kFloat8: {
      if (!want(8)) return BadBinary(type_oid);
      uint64_t bits = GetBE(b);
      double d;
      memcpy(&d, &bits, 8);
      return FormatDouble(d, false);
    }
    case oid::kText:
    case oid::kVarchar:
    case oid::kBpchar:
    case oid::kName:
    case oid::kJson:
    case oid::kUnknown:
      return std::string(b);
    case 3802:  // jsonb: a version byte, then the text
      if (b.empty() || b[0] != 1) return BadBinary(type_oid);
      return std::string(b.substr(1));
    case oid::kBytea: {
      std::string r = "\\x";
      r += HexEncode(b);
      return r;
    }
    case oid::kDate: {
      if (!want(4)) return BadBinary(type_oid);
      int32_t v = static_cast<int32_t>(GetBE(b));
      if (v == std::numeric_limits<int32_t>::max()) return std::string("infinity");
      if (v == std::numeric_limits<int32_t>::min()) return std::string("-infinity");
      return FormatDate(v + kPgEpochDays);
    }
    case oid::kTime: {
      if (!want(8)) return BadBinary(type_oid);
      int64_t v = static_cast<int64_t>(GetBE(b));
      if (v < 0 || v > kMicrosPerDay) return BadBinary(type_oid);
      return FormatTime(v);
    }
    case oid::kTimestamp:
    case oid::kTimestamptz:
      if (!want(8)) return BadBinary(type_oid);
      return FormatTimestamp(static_cast<int64_t>(GetBE(b)), type_oid == oid::kTimestamptz);
    case oid::kInterval:
      if (!want(16)) return BadBinary(type_oid);
      return FormatInterval(static_cast<int64_t>(GetBE(b.substr(0, 8))), static_cast<int32_t>(GetBE(b.substr(8, 4))),
                            static_cast<int32_t>(GetBE(b.substr(12, 4))));
    case oid::kNumeric:
      return DecodeNumeric(b);
    case oid::kUuid: {
      if (!want(16)) return BadBinary(type_oid);
      std::string h = HexEncode(b);
      return StrCat(h.substr(0, 8), "-", h.substr(8, 4), "-", h.substr(12, 4), "-", h.substr(16, 4), "-",
                    h.substr(20));
    }
    default:
      return WarehouseError("22P03", StrCat("binary format is not supported for parameters of type ", type_oid));
  }
}

}  // namespace sluice::pgwire
