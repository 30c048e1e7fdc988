#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace sluice::events {

// A parsed AWS schedule expression: what EventBridge rules take as ScheduleExpression
// and what EventBridge Scheduler takes as ScheduleExpression (+ ScheduleExpressionTimezone).
//
//   rate(5 minutes) | rate(1 hour) | rate(2 days)
//   cron(Minutes Hours Day-of-month Month Day-of-week Year)
//   at(2025-08-01T12:00:00)                        (Scheduler only)
//
// cron() and at() are read in the schedule's time zone (UTC unless one is given);
// rate() is a fixed duration (a "day" is always 24 hours, as in AWS) counted from an
// anchor the caller supplies.
//
// Daylight-saving time follows EventBridge Scheduler's documented behaviour: a cron
// firing whose local time does not exist (spring forward) is skipped, and a local time
// that occurs twice (fall back) fires once, at its first occurrence. An at() whose local
// time does not exist is moved forward by the length of the gap (02:30 -> 03:30).
//
// A Schedule is an immutable value; copies are cheap. All const methods are safe to call
// concurrently from any number of threads.
//
// Errors: Parse() returns InvalidArgument whose message starts with
// "Parameter ScheduleExpression is not valid." followed by the specific reason, or
// (for an unknown zone) "Parameter ScheduleExpressionTimezone is not valid.".
class Schedule {
 public:
  enum class Kind { kRate, kCron, kAt };

  // `time_zone` is an IANA name such as "Asia/Seoul"; "" means UTC. It applies to cron()
  // and at(); it is accepted and ignored for rate().
  static absl::StatusOr<Schedule> Parse(std::string_view expression,
                                        std::string_view time_zone = "");

  // The first firing time strictly after `after`, or nullopt when there is none (an at()
  // already past, a cron() whose years have ended, a cron() that can never match).
  // For rate() the firings are anchor + k * period() for k >= 1, where `anchor` is the
  // rule's creation/enable time (Scheduler: its StartDate); `anchor` is ignored
  // otherwise. Cron searches field by field (year, month, day, hour, minute), so even
  // impossible patterns such as cron(0 0 31 2 ? *) finish in well under a millisecond.
  std::optional<absl::Time> Next(absl::Time after, absl::Time anchor) const;

  Kind kind() const { return kind_; }
  bool is_rate() const { return kind_ == Kind::kRate; }
  bool is_cron() const { return kind_ == Kind::kCron; }
  bool is_at() const { return kind_ == Kind::kAt; }
  // REQUIRES: is_rate(). (Zero otherwise.)
  absl::Duration period() const { return period_; }
  const std::string& expression() const { return expression_; }
  const absl::TimeZone& time_zone() const { return zone_; }

 private:
  // The cron fields as sets. Bit i of a mask means value i is allowed (minutes 0-59,
  // hours 0-23, days 1-31, months 1-12, weekdays 1-7 = SUN-SAT, years 1970-2199 stored
  // as year - 1970). The day-of-month/day-of-week special forms are kept apart.
  struct Cron {
    enum class DayRule {
      kMonthDays,      // day-of-week is '?': days from `days` (or all for '*')
      kLastDay,        // L in day-of-month
      kLastWeekday,    // LW
      kNearestWeekday, // nW: weekday nearest to day `nth_or_day`
      kWeekdays,       // day-of-month is '?': days whose weekday is in `weekdays`
      kLastOfWeekday,  // dL: last weekday `weekday` of the month
      kNthWeekday,     // d#n: the `nth_or_day`-th weekday `weekday` of the month
    };
    uint64_t minutes = 0;
    uint32_t hours = 0;
    uint32_t days = 0;
    uint16_t months = 0;
    uint8_t weekdays = 0;
    std::bitset<230> years;
    DayRule day_rule = DayRule::kMonthDays;
    int weekday = 0;
    int nth_or_day = 0;
  };

  Schedule() = default;

  std::optional<absl::Time> NextCron(absl::Time after) const;
  // The days of (year, month) selected by the day-of-month/day-of-week fields, as a
  // mask with bit d for day d.
  uint32_t DaysIn(absl::civil_year_t year, int month) const;

  Kind kind_ = Kind::kRate;
  std::string expression_;
  absl::TimeZone zone_ = absl::UTCTimeZone();
  absl::Duration period_;  // rate()
  absl::Time at_;          // at()
  Cron cron_;              // cron()
};

}  // namespace sluice::events
