#include "events/schedule.h"

#include <array>
#include <bitset>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "base/status.h"
#include "base/strings.h"

namespace sluice::events {
namespace {

constexpr int kMinYear = 1970;
constexpr int kMaxYear = 2199;

absl::Status Invalid(std::string_view reason) {
  return absl::InvalidArgumentError(
      StrCat("Parameter ScheduleExpression is not valid. ", reason));
}

// Splits on runs of blanks (AWS separates cron fields by "white space").
std::vector<std::string_view> SplitBlanks(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// If `s` is "<keyword>(<inner>)", stores <inner> and returns true.
bool Unwrap(std::string_view s, std::string_view keyword, std::string_view* inner) {
  if (!ConsumePrefix(&s, keyword) || !ConsumePrefix(&s, "(")) return false;
  if (s.empty() || s.back() != ')') return false;
  *inner = s.substr(0, s.size() - 1);
  return true;
}

constexpr std::array<std::string_view, 12> kMonthNames = {
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};

// One cron field's domain. Values are stored in a bitset at index value - min.
struct FieldSpec {
  std::string_view name;
  int min;
  int max;
  const std::string_view* names;  // names[i] is value min + i; nullptr when none
  size_t name_count;
  // Whether a reversed range (FRI-MON, 22-2) wraps around the end of the cycle.
  bool cyclic;
  int span() const { return max - min + 1; }
};

constexpr FieldSpec kMinutes{"Minutes", 0, 59, nullptr, 0, true};
constexpr FieldSpec kHours{"Hours", 0, 23, nullptr, 0, true};
constexpr FieldSpec kDayOfMonth{"Day-of-month", 1, 31, nullptr, 0, true};
constexpr FieldSpec kMonth{"Month", 1, 12, kMonthNames.data(), kMonthNames.size(), true};
constexpr FieldSpec kDayOfWeek{"Day-of-week", 1, 7, kDayNames.data(), kDayNames.size(),
                               true};
constexpr FieldSpec kYear{"Year", kMinYear, kMaxYear, nullptr, 0, false};

using FieldBits = std::bitset<256>;

absl::StatusOr<int> ParseValue(std::string_view token, const FieldSpec& spec) {
  if (spec.names != nullptr) {
    std::string upper = AsciiUpper(token);
    for (size_t i = 0; i < spec.name_count; ++i) {
      if (upper == spec.names[i]) return spec.min + static_cast<int>(i);
    }
  }
  int value = 0;
  if (!ParseNumber(token, &value)) {
    return Invalid(StrCat("Invalid value '", token, "' in the ", spec.name, " field."));
  }
  if (value < spec.min || value > spec.max) {
    return Invalid(StrCat("Value ", value, " in the ", spec.name, " field is out of range ",
                          spec.min, "-", spec.max, "."));
  }
  return value;
}

// Parses the list/range/step grammar shared by all fields:
//   item (',' item)*,  item := ('*' | v | v '-' v) ['/' step]
// "v/step" runs from v to the field's maximum.
absl::StatusOr<FieldBits> ParseField(std::string_view text, const FieldSpec& spec) {
  FieldBits bits;
  for (std::string_view item : Split(text, ',')) {
    if (item.empty()) {
      return Invalid(StrCat("Empty list element in the ", spec.name, " field."));
    }
    std::string_view base = item;
    int step = 1;
    bool has_step = false;
    if (size_t slash = item.find('/'); slash != std::string_view::npos) {
      base = item.substr(0, slash);
      std::string_view step_text = item.substr(slash + 1);
      if (!ParseNumber(step_text, &step) || step < 1 || step > spec.span()) {
        return Invalid(StrCat("Invalid increment '", step_text, "' in the ", spec.name,
                              " field; it must be between 1 and ", spec.span(), "."));
      }
      has_step = true;
    }
    int lo = spec.min;
    int hi = spec.max;
    if (base != "*") {
      if (size_t dash = base.find('-'); dash != std::string_view::npos) {
        ASSIGN_OR_RETURN(lo, ParseValue(base.substr(0, dash), spec));
        ASSIGN_OR_RETURN(hi, ParseValue(base.substr(dash + 1), spec));
      } else {
        ASSIGN_OR_RETURN(lo, ParseValue(base, spec));
        hi = has_step ? spec.max : lo;
      }
    }
    int count = hi - lo + 1;
    if (lo > hi) {
      if (!spec.cyclic) {
        return Invalid(StrCat("Range '", base, "' in the ", spec.name,
                              " field ends before it starts."));
      }
      count += spec.span();  // wraps past the maximum back to the minimum
    }
    for (int i = 0; i < count; i += step) {
      bits.set(static_cast<size_t>((lo - spec.min + i) % spec.span()));
    }
  }
  return bits;
}

template <class Mask>
Mask ToMask(const FieldBits& bits, const FieldSpec& spec) {
  Mask mask = 0;
  for (int v = spec.min; v <= spec.max; ++v) {
    if (bits.test(static_cast<size_t>(v - spec.min))) mask |= Mask{1} << v;
  }
  return mask;
}

// AWS numbers weekdays 1-7 = SUN-SAT; absl's enum starts at Monday.
int AwsWeekday(absl::CivilDay day) {
  return (static_cast<int>(absl::GetWeekday(day)) + 1) % 7 + 1;
}

int DaysInMonth(absl::civil_year_t year, int month) {
  absl::CivilDay last = absl::CivilDay(absl::CivilMonth(year, month) + 1) - 1;
  return last.day();
}

absl::StatusOr<absl::Duration> ParseRate(std::string_view inner) {
  std::vector<std::string_view> parts = SplitBlanks(inner);
  if (parts.size() != 2) {
    return Invalid("Rate expressions must look like rate(value unit), e.g. rate(5 minutes).");
  }
  int64_t value = 0;
  if (!ParseNumber(parts[0], &value) || value < 1 ||
      value > std::numeric_limits<int32_t>::max()) {
    return Invalid(StrCat("The rate value '", parts[0], "' must be a positive integer."));
  }
  struct Unit {
    std::string_view singular;
    std::string_view plural;
    absl::Duration length;
  };
  static constexpr std::array<Unit, 3> kUnits = {{{"minute", "minutes", absl::Minutes(1)},
                                                  {"hour", "hours", absl::Hours(1)},
                                                  {"day", "days", absl::Hours(24)}}};
  for (const Unit& unit : kUnits) {
    if (parts[1] != unit.singular && parts[1] != unit.plural) continue;
    if (value == 1 && parts[1] != unit.singular) {
      return Invalid(StrCat("The unit must be '", unit.singular, "' when the value is 1."));
    }
    if (value != 1 && parts[1] != unit.plural) {
      return Invalid(StrCat("The unit must be '", unit.plural,
                            "' when the value is greater than 1."));
    }
    return unit.length * value;
  }
  return Invalid(StrCat("Unknown rate unit '", parts[1],
                        "'; use minute(s), hour(s) or day(s)."));
}

// Parses the two digits at s[pos], or returns -1.
int TwoDigits(std::string_view s, size_t pos) {
  int v = 0;
  return ParseNumber(s.substr(pos, 2), &v) && s[pos] != '+' && s[pos] != '-' ? v : -1;
}

absl::StatusOr<absl::CivilSecond> ParseAt(std::string_view inner) {
  constexpr std::string_view kShape = "at() expressions must look like at(yyyy-mm-ddThh:mm:ss).";
  // yyyy-mm-ddThh:mm:ss
  if (inner.size() != 19 || inner[4] != '-' || inner[7] != '-' || inner[10] != 'T' ||
      inner[13] != ':' || inner[16] != ':') {
    return Invalid(kShape);
  }
  int year = 0;
  if (!ParseNumber(inner.substr(0, 4), &year) || inner[0] == '-' || inner[0] == '+') {
    return Invalid(kShape);
  }
  int month = TwoDigits(inner, 5), day = TwoDigits(inner, 8), hour = TwoDigits(inner, 11),
      minute = TwoDigits(inner, 14), second = TwoDigits(inner, 17);
  if (month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return Invalid(kShape);
  absl::CivilSecond cs(year, month, day, hour, minute, second);
  // CivilSecond normalises out-of-range fields (Feb 30 -> Mar 2); a change means the
  // input was not a real date and time.
  if (cs.year() != year || cs.month() != month || cs.day() != day || cs.hour() != hour ||
      cs.minute() != minute || cs.second() != second) {
    return Invalid(StrCat("'", inner, "' is not a valid date and time."));
  }
  return cs;
}

absl::StatusOr<absl::TimeZone> LoadZone(std::string_view name) {
  if (name.empty()) return absl::UTCTimeZone();
  absl::TimeZone zone;
  // absl also understands "localtime" and "Fixed/UTC+hh:mm:ss", which are not IANA names.
  if (name == "localtime" || name.substr(0, 6) == "Fixed/" ||
      !absl::LoadTimeZone(std::string(name), &zone)) {
    return absl::InvalidArgumentError(StrCat(
        "Parameter ScheduleExpressionTimezone is not valid. Unknown time zone '", name, "'."));
  }
  return zone;
}

}  // namespace

absl::StatusOr<Schedule> Schedule::Parse(std::string_view expression,
                                         std::string_view time_zone) {
  Schedule s;
  s.expression_ = std::string(expression);
  ASSIGN_OR_RETURN(s.zone_, LoadZone(time_zone));
  std::string_view inner;
  if (Unwrap(expression, "rate", &inner)) {
    s.kind_ = Kind::kRate;
    ASSIGN_OR_RETURN(s.period_, ParseRate(inner));
    return s;
  }
  if (Unwrap(expression, "at", &inner)) {
    s.kind_ = Kind::kAt;
    ASSIGN_OR_RETURN(absl::CivilSecond local, ParseAt(inner));
    // A local time skipped by a DST jump is read with the offset in force before the
    // jump, which moves it forward by the length of the gap.
    s.at_ = s.zone_.At(local).pre;
    return s;
  }
  if (!Unwrap(expression, "cron", &inner)) {
    return Invalid("Expected rate(...), cron(...) or at(...).");
  }
  s.kind_ = Kind::kCron;
  std::vector<std::string_view> f = SplitBlanks(inner);
  if (f.size() != 6) {
    return Invalid(StrCat("Cron expressions have six fields (minutes hours day-of-month "
                          "month day-of-week year); got ",
                          f.size(), "."));
  }
  Cron& c = s.cron_;
  ASSIGN_OR_RETURN(FieldBits minutes, ParseField(f[0], kMinutes));
  ASSIGN_OR_RETURN(FieldBits hours, ParseField(f[1], kHours));
  ASSIGN_OR_RETURN(FieldBits months, ParseField(f[3], kMonth));
  ASSIGN_OR_RETURN(FieldBits years, ParseField(f[5], kYear));
  c.minutes = ToMask<uint64_t>(minutes, kMinutes);
  c.hours = ToMask<uint32_t>(hours, kHours);
  c.months = ToMask<uint16_t>(months, kMonth);
  for (int y = kMinYear; y <= kMaxYear; ++y) c.years[y - kMinYear] = years[y - kMinYear];

  std::string dom = AsciiUpper(f[2]);
  std::string dow = AsciiUpper(f[4]);
  if (dom == "?" && dow == "?") {
    return Invalid("Day-of-month and day-of-week cannot both be '?'.");
  }
  if (dom != "?" && dow != "?") {
    return Invalid(
        "Day-of-month and day-of-week cannot both be specified; use '?' in one of them.");
  }
  if (dow == "?") {
    // Day-of-month: L, LW and nW are whole-field forms, as in the AWS documentation.
    if (dom == "L") {
      c.day_rule = Cron::DayRule::kLastDay;
    } else if (dom == "LW") {
      c.day_rule = Cron::DayRule::kLastWeekday;
    } else if (dom.size() >= 2 && dom.back() == 'W' &&
               dom.find_first_of("L,-/*") == std::string::npos) {
      c.day_rule = Cron::DayRule::kNearestWeekday;
      ASSIGN_OR_RETURN(c.nth_or_day,
                       ParseValue(std::string_view(dom).substr(0, dom.size() - 1), kDayOfMonth));
    } else if (dom.find_first_of("LW") != std::string::npos) {
      return Invalid(StrCat("Invalid Day-of-month '", f[2],
                            "': L, LW and nW cannot be combined with other values."));
    } else {
      c.day_rule = Cron::DayRule::kMonthDays;
      ASSIGN_OR_RETURN(FieldBits days, ParseField(dom, kDayOfMonth));
      c.days = ToMask<uint32_t>(days, kDayOfMonth);
    }
    return s;
  }
  // Day-of-week. No day name contains 'L' or '#', so either marks a special form.
  if (size_t hash = dow.find('#'); hash != std::string::npos) {
    std::string_view d(dow);
    if (d.find_first_of(",-/*L") != std::string_view::npos ||
        d.find('#', hash + 1) != std::string_view::npos) {
      return Invalid(StrCat("Invalid Day-of-week '", f[4],
                            "': '#' takes exactly one day, e.g. 3#2 (second Tuesday)."));
    }
    c.day_rule = Cron::DayRule::kNthWeekday;
    ASSIGN_OR_RETURN(c.weekday, ParseValue(d.substr(0, hash), kDayOfWeek));
    std::string_view nth = d.substr(hash + 1);
    if (!ParseNumber(nth, &c.nth_or_day) || c.nth_or_day < 1 || c.nth_or_day > 5) {
      return Invalid(StrCat("Invalid Day-of-week '", f[4],
                            "': the number after '#' must be between 1 and 5."));
    }
  } else if (dow == "L") {
    // "The last day of the week": Saturday, every week (Quartz reads it the same way).
    c.day_rule = Cron::DayRule::kWeekdays;
    c.weekdays = uint8_t{1} << 7;
  } else if (dow.find('L') != std::string::npos) {
    std::string_view d(dow);
    if (d.back() != 'L' || d.size() < 2 || d.find_first_of(",-/*") != std::string_view::npos ||
        d.find('L') != d.size() - 1) {
      return Invalid(StrCat("Invalid Day-of-week '", f[4],
                            "': L must stand alone or follow one day, e.g. 6L."));
    }
    c.day_rule = Cron::DayRule::kLastOfWeekday;
    ASSIGN_OR_RETURN(c.weekday, ParseValue(d.substr(0, d.size() - 1), kDayOfWeek));
  } else {
    c.day_rule = Cron::DayRule::kWeekdays;
    ASSIGN_OR_RETURN(FieldBits weekdays, ParseField(dow, kDayOfWeek));
    c.weekdays = ToMask<uint8_t>(weekdays, kDayOfWeek);
  }
  return s;
}

uint32_t Schedule::DaysIn(absl::civil_year_t year, int month) const {
  const int dim = DaysInMonth(year, month);
  const int first_weekday = AwsWeekday(absl::CivilDay(year, month, 1));
  auto weekday_of = [&](int day) { return (first_weekday - 1 + day - 1) % 7 + 1; };
  auto bit = [](int day) { return uint32_t{1} << day; };
  const uint32_t in_month = ((uint32_t{1} << dim) - 1) << 1;  // bits 1..dim
  switch (cron_.day_rule) {
    case Cron::DayRule::kMonthDays:
      return cron_.days & in_month;
    case Cron::DayRule::kLastDay:
      return bit(dim);
    case Cron::DayRule::kLastWeekday: {
      int wd = weekday_of(dim);
      return bit(wd == 7 ? dim - 1 : wd == 1 ? dim - 2 : dim);
    }
    case Cron::DayRule::kNearestWeekday: {
      // Quartz semantics: never leaves the month, so 1W on a Saturday is Monday the 3rd
      // and the last day on a Sunday is the Friday before.
      int n = cron_.nth_or_day;
      if (n > dim) return 0;
      int wd = weekday_of(n);
      if (wd == 7) return bit(n == 1 ? 3 : n - 1);
      if (wd == 1) return bit(n == dim ? n - 2 : n + 1);
      return bit(n);
    }
    case Cron::DayRule::kWeekdays: {
      uint32_t mask = 0;
      for (int d = 1; d <= dim; ++d) {
        if (cron_.weekdays & (1u << weekday_of(d))) mask |= bit(d);
      }
      return mask;
    }
    case Cron::DayRule::kLastOfWeekday:
      return bit(dim - (weekday_of(dim) - cron_.weekday + 7) % 7);
    case Cron::DayRule::kNthWeekday: {
      int day = 1 + (cron_.weekday - first_weekday + 7) % 7 + 7 * (cron_.nth_or_day - 1);
      return day <= dim ? bit(day) : 0;
    }
  }
  return 0;
}

std::optional<absl::Time> Schedule::NextCron(absl::Time after) const {
  // Walk local civil time forward field by field, starting at the minute after `after`.
  // Only the first month/day/hour visited is clipped by `start`; once an outer field
  // moves past it, inner fields start from their minimum. Each level skips unselected
  // values, so the walk touches at most ~230 years x 12 months before giving up.
  if (after == absl::InfiniteFuture()) return std::nullopt;
  absl::CivilMinute start = absl::CivilMinute(zone_.At(after).cs) + 1;
  if (start.year() < kMinYear) start = absl::CivilMinute(kMinYear, 1, 1, 0, 0);
  for (absl::civil_year_t y = start.year(); y <= kMaxYear; ++y) {
    if (!cron_.years.test(static_cast<size_t>(y - kMinYear))) continue;
    const bool first_year = y == start.year();
    for (int mo = first_year ? start.month() : 1; mo <= 12; ++mo) {
      if (!(cron_.months & (1u << mo))) continue;
      const bool first_month = first_year && mo == start.month();
      const uint32_t days = DaysIn(y, mo);
      if (days == 0) continue;
      for (int d = first_month ? start.day() : 1; d <= 31; ++d) {
        if (!(days & (uint32_t{1} << d))) continue;
        const bool first_day = first_month && d == start.day();
        for (int h = first_day ? start.hour() : 0; h <= 23; ++h) {
          if (!(cron_.hours & (uint32_t{1} << h))) continue;
          const bool first_hour = first_day && h == start.hour();
          for (int mi = first_hour ? start.minute() : 0; mi <= 59; ++mi) {
            if (!(cron_.minutes & (uint64_t{1} << mi))) continue;
            absl::TimeZone::TimeInfo info = zone_.At(absl::CivilSecond(y, mo, d, h, mi, 0));
            // Skipped by a spring-forward jump: EventBridge Scheduler skips the firing.
            if (info.kind == absl::TimeZone::TimeInfo::SKIPPED) continue;
            // For a repeated (fall-back) local time `pre` is the first occurrence; the
            // second is never used, so the firing happens once.
            if (info.pre > after) return info.pre;
          }
        }
      }
    }
  }
  return std::nullopt;
}

std::optional<absl::Time> Schedule::Next(absl::Time after, absl::Time anchor) const {
  switch (kind_) {
    case Kind::kAt:
      if (at_ > after) return at_;
      return std::nullopt;
    case Kind::kCron:
      return NextCron(after);
    case Kind::kRate: {
      if (after == absl::InfiniteFuture() || anchor == absl::InfiniteFuture() ||
          anchor == absl::InfinitePast()) {
        return std::nullopt;
      }
      if (after < anchor) return anchor + period_;
      absl::Duration remainder;
      int64_t k = absl::IDivDuration(after - anchor, period_, &remainder) + 1;
      absl::Time next = anchor + period_ * k;
      if (next == absl::InfiniteFuture()) return std::nullopt;
      return next;
    }
  }
  return std::nullopt;
}

}  // namespace sluice::events
