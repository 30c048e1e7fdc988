#include "events/schedule.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace sluice::events {
namespace {

// A UTC instant.
absl::Time Utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

Schedule MustParse(std::string_view expression, std::string_view zone = "") {
  absl::StatusOr<Schedule> s = Schedule::Parse(expression, zone);
  EXPECT_TRUE(s.ok()) << expression << ": " << s.status();
  if (!s.ok()) return *Schedule::Parse("rate(1 day)");
  return *std::move(s);
}

// The next firing of a cron() or at() expression (the anchor does not matter for them).
std::optional<absl::Time> NextOf(std::string_view expression, absl::Time after,
                                 std::string_view zone = "") {
  return MustParse(expression, zone).Next(after, absl::UnixEpoch());
}

// `n` consecutive firings after `after`.
std::vector<absl::Time> Firings(const Schedule& s, absl::Time after, int n,
                                absl::Time anchor = absl::UnixEpoch()) {
  std::vector<absl::Time> out;
  for (int i = 0; i < n; ++i) {
    std::optional<absl::Time> next = s.Next(after, anchor);
    if (!next) break;
    out.push_back(*next);
    after = *next;
  }
  return out;
}

// Parse must fail with InvalidArgument, AWS's PutRule wording, and a reason naming `hint`.
void ExpectInvalid(std::string_view expression, std::string_view hint,
                   std::string_view zone = "") {
  absl::StatusOr<Schedule> s = Schedule::Parse(expression, zone);
  ASSERT_FALSE(s.ok()) << expression << " was accepted";
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << expression;
  std::string message(s.status().message());
  if (zone.empty()) {
    EXPECT_EQ(message.rfind("Parameter ScheduleExpression is not valid. ", 0), 0u)
        << expression << ": " << message;
  }
  EXPECT_NE(message.find(hint), std::string::npos)
      << expression << ": '" << message << "' does not mention '" << hint << "'";
}

// ---- rate() ----

TEST(ScheduleRateTest, SingularForOneAndPluralOtherwise) {
  EXPECT_EQ(MustParse("rate(1 minute)").period(), absl::Minutes(1));
  EXPECT_EQ(MustParse("rate(1 hour)").period(), absl::Hours(1));
  EXPECT_EQ(MustParse("rate(1 day)").period(), absl::Hours(24));
  EXPECT_EQ(MustParse("rate(5 minutes)").period(), absl::Minutes(5));
  EXPECT_EQ(MustParse("rate(12 hours)").period(), absl::Hours(12));
  EXPECT_EQ(MustParse("rate(30 days)").period(), absl::Hours(24 * 30));

  ExpectInvalid("rate(1 minutes)", "'minute' when the value is 1");
  ExpectInvalid("rate(1 hours)", "'hour'");
  ExpectInvalid("rate(1 days)", "'day'");
  ExpectInvalid("rate(5 minute)", "'minutes' when the value is greater than 1");
  ExpectInvalid("rate(2 hour)", "'hours'");
  ExpectInvalid("rate(2 day)", "'days'");
}

TEST(ScheduleRateTest, RejectsValuesBelowOneMinuteAndMalformedRates) {
  ExpectInvalid("rate(0 minutes)", "positive integer");
  ExpectInvalid("rate(-5 minutes)", "positive integer");
  ExpectInvalid("rate(1.5 hours)", "positive integer");
  ExpectInvalid("rate(30 seconds)", "Unknown rate unit 'seconds'");
  ExpectInvalid("rate(1 second)", "Unknown rate unit");
  ExpectInvalid("rate(1 week)", "Unknown rate unit");
  ExpectInvalid("rate(5)", "rate(value unit)");
  ExpectInvalid("rate(5 minutes now)", "rate(value unit)");
  ExpectInvalid("rate()", "rate(value unit)");
  ExpectInvalid("rate(5 Minutes)", "Unknown rate unit");
  ExpectInvalid("rate 5 minutes", "Expected rate(...)");
  ExpectInvalid("rate(5 minutes", "Expected rate(...)");
  ExpectInvalid("rate(99999999999 minutes)", "positive integer");
}

TEST(ScheduleRateTest, KindAndExpressionAreKept) {
  Schedule s = MustParse("rate(5 minutes)");
  EXPECT_TRUE(s.is_rate());
  EXPECT_FALSE(s.is_cron());
  EXPECT_FALSE(s.is_at());
  EXPECT_EQ(s.expression(), "rate(5 minutes)");
}

TEST(ScheduleRateTest, FiresAtAnchorPlusWholePeriods) {
  Schedule s = MustParse("rate(5 minutes)");
  absl::Time anchor = Utc(2025, 8, 1, 12, 0, 30);
  // Never at the anchor itself: the first firing is one period later.
  EXPECT_EQ(s.Next(anchor, anchor), Utc(2025, 8, 1, 12, 5, 30));
  EXPECT_EQ(s.Next(anchor - absl::Hours(3), anchor), Utc(2025, 8, 1, 12, 5, 30));
  EXPECT_EQ(s.Next(Utc(2025, 8, 1, 12, 7), anchor), Utc(2025, 8, 1, 12, 10, 30));
  // Strictly after: a firing time maps to the following one.
  EXPECT_EQ(s.Next(Utc(2025, 8, 1, 12, 10, 30), anchor), Utc(2025, 8, 1, 12, 15, 30));
  EXPECT_EQ(s.Next(Utc(2025, 8, 1, 12, 10, 30) - absl::Nanoseconds(1), anchor),
            Utc(2025, 8, 1, 12, 10, 30));
  EXPECT_EQ(Firings(s, anchor, 5, anchor),
            (std::vector<absl::Time>{Utc(2025, 8, 1, 12, 5, 30), Utc(2025, 8, 1, 12, 10, 30),
                                     Utc(2025, 8, 1, 12, 15, 30), Utc(2025, 8, 1, 12, 20, 30),
                                     Utc(2025, 8, 1, 12, 25, 30)}));
}

TEST(ScheduleRateTest, LargeGapsJumpDirectlyToTheNextFiring) {
  // Days are fixed 24-hour periods, as AWS documents.
  Schedule weekly = MustParse("rate(7 days)");
  EXPECT_EQ(weekly.Next(Utc(2025, 8, 1, 12), Utc(2020, 1, 1)), Utc(2025, 8, 6));
  Schedule minutely = MustParse("rate(1 minute)");
  EXPECT_EQ(minutely.Next(Utc(2199, 12, 31, 23, 59, 30), Utc(1970, 1, 1)),
            Utc(2200, 1, 1, 0, 0));
  Schedule huge = MustParse("rate(2147483647 days)");
  EXPECT_EQ(huge.Next(Utc(2025, 1, 1), Utc(2025, 1, 1)),
            Utc(2025, 1, 1) + absl::Hours(24) * int64_t{2147483647});
  EXPECT_EQ(huge.Next(absl::InfiniteFuture(), Utc(2025, 1, 1)), std::nullopt);
}

TEST(ScheduleRateTest, TimeZoneDoesNotChangeRates) {
  Schedule s = MustParse("rate(1 day)", "America/New_York");
  // 2025-03-09 is 23 hours long in New York; the rate still counts 24 hours.
  EXPECT_EQ(s.Next(Utc(2025, 3, 8, 12), Utc(2025, 3, 8, 12)), Utc(2025, 3, 9, 12));
}

// ---- cron(): field forms ----

TEST(ScheduleCronTest, WeekdayRangeFromFridayGoesToMonday) {
  // 2025-08-01 is a Friday.
  EXPECT_EQ(NextOf("cron(0 10 ? * MON-FRI *)", Utc(2025, 8, 1, 11)), Utc(2025, 8, 4, 10));
  EXPECT_EQ(NextOf("cron(0 10 ? * 2-6 *)", Utc(2025, 8, 1, 11)), Utc(2025, 8, 4, 10));
  EXPECT_EQ(NextOf("cron(0 10 ? * MON-FRI *)", Utc(2025, 8, 1, 9, 59)), Utc(2025, 8, 1, 10));
}

TEST(ScheduleCronTest, LastFridayOfTheMonthWithinOneYear) {
  Schedule s = MustParse("cron(15 10 ? * 6L 2025)");
  EXPECT_EQ(Firings(s, Utc(2025, 8, 1), 6),
            (std::vector<absl::Time>{Utc(2025, 8, 29, 10, 15), Utc(2025, 9, 26, 10, 15),
                                     Utc(2025, 10, 31, 10, 15), Utc(2025, 11, 28, 10, 15),
                                     Utc(2025, 12, 26, 10, 15)}));
  EXPECT_EQ(NextOf("cron(15 10 ? * FRIL 2025)", Utc(2025, 8, 1)), Utc(2025, 8, 29, 10, 15));
}

TEST(ScheduleCronTest, NearestWeekday) {
  // 2025-03-15 is a Saturday: the Friday before.
  EXPECT_EQ(NextOf("cron(0 8 15W * ? *)", Utc(2025, 3, 1)), Utc(2025, 3, 14, 8));
  // 2025-06-15 is a Sunday: the Monday after.
  EXPECT_EQ(NextOf("cron(0 8 15W * ? *)", Utc(2025, 6, 1)), Utc(2025, 6, 16, 8));
  // 2025-08-15 is a Friday: the day itself.
  EXPECT_EQ(NextOf("cron(0 8 15W * ? *)", Utc(2025, 8, 1)), Utc(2025, 8, 15, 8));
  // 2025-03-01 is a Saturday; 1W does not leave the month, so Monday the 3rd.
  EXPECT_EQ(NextOf("cron(0 8 1W * ? *)", Utc(2025, 2, 28, 12)), Utc(2025, 3, 3, 8));
  // 2025-11-30 is a Sunday and the last day: the Friday before.
  EXPECT_EQ(NextOf("cron(0 8 30W * ? *)", Utc(2025, 11, 1)), Utc(2025, 11, 28, 8));
  // 31W only fires in months with 31 days.
  EXPECT_EQ(NextOf("cron(0 8 31W * ? *)", Utc(2025, 9, 1)), Utc(2025, 10, 31, 8));
}

TEST(ScheduleCronTest, LastWeekdayOfTheMonth) {
  // 2025-08-31 is a Sunday -> Friday 29th; 2025-09-30 is a Tuesday; 2025-05-31 a Saturday.
  Schedule s = MustParse("cron(0 17 LW * ? *)");
  EXPECT_EQ(s.Next(Utc(2025, 8, 1), Utc(2025, 1, 1)), Utc(2025, 8, 29, 17));
  EXPECT_EQ(s.Next(Utc(2025, 9, 1), Utc(2025, 1, 1)), Utc(2025, 9, 30, 17));
  EXPECT_EQ(s.Next(Utc(2025, 5, 1), Utc(2025, 1, 1)), Utc(2025, 5, 30, 17));
}

TEST(ScheduleCronTest, LastDayOfTheMonthIncludingLeapFebruary) {
  Schedule s = MustParse("cron(0 0 L * ? *)");
  EXPECT_EQ(Firings(s, Utc(2024, 1, 15), 5),
            (std::vector<absl::Time>{Utc(2024, 1, 31), Utc(2024, 2, 29), Utc(2024, 3, 31),
                                     Utc(2024, 4, 30), Utc(2024, 5, 31)}));
  EXPECT_EQ(NextOf("cron(0 0 L * ? *)", Utc(2025, 2, 1)), Utc(2025, 2, 28));
  EXPECT_EQ(NextOf("cron(0 0 L 2 ? *)", Utc(2099, 3, 1)), Utc(2100, 2, 28));  // not leap
}

TEST(ScheduleCronTest, NthWeekdayOfTheMonth) {
  Schedule first_monday = MustParse("cron(0 12 ? * 2#1 *)");
  EXPECT_EQ(Firings(first_monday, Utc(2025, 8, 1), 5),
            (std::vector<absl::Time>{Utc(2025, 8, 4, 12), Utc(2025, 9, 1, 12),
                                     Utc(2025, 10, 6, 12), Utc(2025, 11, 3, 12),
                                     Utc(2025, 12, 1, 12)}));
  // Second Tuesday, as in the AWS documentation's 3#2.
  EXPECT_EQ(NextOf("cron(0 12 ? * 3#2 *)", Utc(2025, 8, 1)), Utc(2025, 8, 12, 12));
  EXPECT_EQ(NextOf("cron(0 12 ? * TUE#2 *)", Utc(2025, 8, 1)), Utc(2025, 8, 12, 12));
  // A fifth Friday exists only in some months: Aug 2025 has one (29th), Sep does not,
  // Oct does (31st).
  EXPECT_EQ(NextOf("cron(0 12 ? * 6#5 *)", Utc(2025, 8, 1)), Utc(2025, 8, 29, 12));
  EXPECT_EQ(NextOf("cron(0 12 ? * 6#5 *)", Utc(2025, 8, 30)), Utc(2025, 10, 31, 12));
}

TEST(ScheduleCronTest, StepsInMinutes) {
  Schedule s = MustParse("cron(0/15 * * * ? *)");
  EXPECT_EQ(Firings(s, Utc(2025, 8, 1, 10, 7, 12), 5),
            (std::vector<absl::Time>{Utc(2025, 8, 1, 10, 15), Utc(2025, 8, 1, 10, 30),
                                     Utc(2025, 8, 1, 10, 45), Utc(2025, 8, 1, 11, 0),
                                     Utc(2025, 8, 1, 11, 15)}));
  // The AWS documentation's example: 1/10 is the 1st, 11th, 21st... minute.
  EXPECT_EQ(Firings(MustParse("cron(1/10 * * * ? *)"), Utc(2025, 8, 1, 10, 45), 3),
            (std::vector<absl::Time>{Utc(2025, 8, 1, 10, 51), Utc(2025, 8, 1, 11, 1),
                                     Utc(2025, 8, 1, 11, 11)}));
  EXPECT_EQ(NextOf("cron(*/20 * * * ? *)", Utc(2025, 8, 1, 10, 41)), Utc(2025, 8, 1, 11, 0));
  EXPECT_EQ(NextOf("cron(10-30/10 * * * ? *)", Utc(2025, 8, 1, 10, 31)),
            Utc(2025, 8, 1, 11, 10));
}

TEST(ScheduleCronTest, EverySundayEvening) {
  // Sundays in August 2025: 3, 10, 17, 24, 31.
  Schedule s = MustParse("cron(0 18 ? * SUN *)");
  EXPECT_EQ(Firings(s, Utc(2025, 8, 1), 5),
            (std::vector<absl::Time>{Utc(2025, 8, 3, 18), Utc(2025, 8, 10, 18),
                                     Utc(2025, 8, 17, 18), Utc(2025, 8, 24, 18),
                                     Utc(2025, 8, 31, 18)}));
  EXPECT_EQ(NextOf("cron(0 18 ? * 1 *)", Utc(2025, 8, 3, 18)), Utc(2025, 8, 10, 18));
}

TEST(ScheduleCronTest, ListsRangesAndNames) {
  EXPECT_EQ(Firings(MustParse("cron(0 10,15 * * ? *)"), Utc(2025, 8, 1, 12), 3),
            (std::vector<absl::Time>{Utc(2025, 8, 1, 15), Utc(2025, 8, 2, 10),
                                     Utc(2025, 8, 2, 15)}));
  EXPECT_EQ(Firings(MustParse("cron(0 0 1 JAN,jul ? *)"), Utc(2025, 2, 1), 3),
            (std::vector<absl::Time>{Utc(2025, 7, 1), Utc(2026, 1, 1), Utc(2026, 7, 1)}));
  EXPECT_EQ(Firings(MustParse("cron(30 6 1-3 * ? *)"), Utc(2025, 8, 2, 7), 3),
            (std::vector<absl::Time>{Utc(2025, 8, 3, 6, 30), Utc(2025, 9, 1, 6, 30),
                                     Utc(2025, 9, 2, 6, 30)}));
  EXPECT_EQ(Firings(MustParse("cron(0 0 1 MAR-MAY ? *)"), Utc(2025, 1, 1), 4),
            (std::vector<absl::Time>{Utc(2025, 3, 1), Utc(2025, 4, 1), Utc(2025, 5, 1),
                                     Utc(2026, 3, 1)}));
  // Day-of-month steps: 1/10 is the 1st, 11th, 21st and 31st.
  EXPECT_EQ(Firings(MustParse("cron(0 0 1/10 * ? *)"), Utc(2025, 8, 20), 3),
            (std::vector<absl::Time>{Utc(2025, 8, 21), Utc(2025, 8, 31), Utc(2025, 9, 1)}));
  // Day-of-week list mixing names and numbers: Mon (2), Wed, Fri.
  EXPECT_EQ(Firings(MustParse("cron(0 9 ? * 2,WED,FRI *)"), Utc(2025, 8, 1, 10), 3),
            (std::vector<absl::Time>{Utc(2025, 8, 4, 9), Utc(2025, 8, 6, 9),
                                     Utc(2025, 8, 8, 9)}));
}

TEST(ScheduleCronTest, ReversedRangesWrapInCyclicFields) {
  // Hours 22-2 = 22, 23, 0, 1, 2.
  EXPECT_EQ(Firings(MustParse("cron(0 22-2 * * ? *)"), Utc(2025, 8, 1, 12), 5),
            (std::vector<absl::Time>{Utc(2025, 8, 1, 22), Utc(2025, 8, 1, 23),
                                     Utc(2025, 8, 2, 0), Utc(2025, 8, 2, 1),
                                     Utc(2025, 8, 2, 2)}));
  // FRI-MON = Fri, Sat, Sun, Mon. 2025-08-05 is a Tuesday.
  EXPECT_EQ(Firings(MustParse("cron(0 9 ? * FRI-MON *)"), Utc(2025, 8, 5), 4),
            (std::vector<absl::Time>{Utc(2025, 8, 8, 9), Utc(2025, 8, 9, 9),
                                     Utc(2025, 8, 10, 9), Utc(2025, 8, 11, 9)}));
}

TEST(ScheduleCronTest, DayOfWeekLAloneIsSaturday) {
  // "L" in day-of-week is the last day of the week.
  EXPECT_EQ(NextOf("cron(0 9 ? * L *)", Utc(2025, 8, 1)), Utc(2025, 8, 2, 9));
  EXPECT_EQ(NextOf("cron(0 9 ? * L *)", Utc(2025, 8, 2, 9)), Utc(2025, 8, 9, 9));
}

TEST(ScheduleCronTest, YearsRestrictAndEnd) {
  EXPECT_EQ(NextOf("cron(0 0 1 1 ? 2030)", Utc(2025, 8, 1)), Utc(2030, 1, 1));
  EXPECT_EQ(NextOf("cron(0 0 1 1 ? 2030)", Utc(2030, 1, 1)), std::nullopt);
  EXPECT_EQ(Firings(MustParse("cron(0 0 1 1 ? 2026-2032/3)"), Utc(2025, 8, 1), 4),
            (std::vector<absl::Time>{Utc(2026, 1, 1), Utc(2029, 1, 1), Utc(2032, 1, 1)}));
  EXPECT_EQ(Firings(MustParse("cron(0 0 1 1 ? 2027,2025)"), Utc(2024, 8, 1), 3),
            (std::vector<absl::Time>{Utc(2025, 1, 1), Utc(2027, 1, 1)}));
  EXPECT_EQ(NextOf("cron(59 23 31 12 ? *)", Utc(2199, 12, 31, 23, 59)), std::nullopt);
  EXPECT_EQ(NextOf("cron(59 23 31 12 ? *)", Utc(2199, 12, 31, 23, 58)),
            Utc(2199, 12, 31, 23, 59));
  EXPECT_EQ(NextOf("cron(0 0 * * ? *)", Utc(2300, 1, 1)), std::nullopt);
  EXPECT_EQ(NextOf("cron(0 0 * * ? *)", absl::InfiniteFuture()), std::nullopt);
  // Before 1970 the search starts at the first allowed year.
  EXPECT_EQ(NextOf("cron(0 0 * * ? *)", Utc(1960, 5, 5)), Utc(1970, 1, 1));
  EXPECT_EQ(NextOf("cron(0 0 * * ? *)", absl::InfinitePast()), Utc(1970, 1, 1));
}

TEST(ScheduleCronTest, FebruaryTwentyNinthAndImpossibleDatesAreFoundQuickly) {
  EXPECT_EQ(NextOf("cron(0 0 29 2 ? *)", Utc(2025, 3, 1)), Utc(2028, 2, 29));
  EXPECT_EQ(Firings(MustParse("cron(0 0 29 2 ? *)"), Utc(2096, 3, 1), 2),
            (std::vector<absl::Time>{Utc(2104, 2, 29), Utc(2108, 2, 29)}));  // 2100 isn't leap
  // These never match; each call must end after a bounded walk up to 2199. Repeating
  // them is a coarse guard against an unbounded or minute-by-minute search, which would
  // make this test time out.
  Schedule feb31 = MustParse("cron(0 0 31 2 ? *)");
  Schedule april_fifth_monday = MustParse("cron(0 0 ? 4 2#5 2026)");  // April 2026 has 4 Mondays
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(feb31.Next(Utc(1970, 1, 1), absl::UnixEpoch()), std::nullopt);
    ASSERT_EQ(april_fifth_monday.Next(Utc(1970, 1, 1), absl::UnixEpoch()), std::nullopt);
  }
  EXPECT_EQ(NextOf("cron(0 0 30 2 ? *)", Utc(2025, 1, 1)), std::nullopt);
  EXPECT_EQ(NextOf("cron(0 0 31 4,6,9,11 ? *)", Utc(2025, 1, 1)), std::nullopt);
}

struct SequenceCase {
  std::string_view expression;
  absl::Time after;
  std::vector<absl::Time> firings;
};

TEST(ScheduleCronTest, FiveConsecutiveFirings) {
  const std::vector<SequenceCase> cases = {
      {"cron(0 12 * * ? *)", Utc(2025, 8, 1, 12),
       {Utc(2025, 8, 2, 12), Utc(2025, 8, 3, 12), Utc(2025, 8, 4, 12), Utc(2025, 8, 5, 12),
        Utc(2025, 8, 6, 12)}},
      {"cron(0 10 ? * MON-FRI *)", Utc(2025, 8, 1, 11),
       {Utc(2025, 8, 4, 10), Utc(2025, 8, 5, 10), Utc(2025, 8, 6, 10), Utc(2025, 8, 7, 10),
        Utc(2025, 8, 8, 10)}},
      {"cron(0 8 15W * ? *)", Utc(2025, 1, 1),
       {Utc(2025, 1, 15, 8), Utc(2025, 2, 14, 8), Utc(2025, 3, 14, 8), Utc(2025, 4, 15, 8),
        Utc(2025, 5, 15, 8)}},
      {"cron(0 17 LW * ? *)", Utc(2025, 8, 1),
       {Utc(2025, 8, 29, 17), Utc(2025, 9, 30, 17), Utc(2025, 10, 31, 17),
        Utc(2025, 11, 28, 17), Utc(2025, 12, 31, 17)}},
      {"cron(45 23 L 2 ? *)", Utc(2025, 1, 1),
       {Utc(2025, 2, 28, 23, 45), Utc(2026, 2, 28, 23, 45), Utc(2027, 2, 28, 23, 45),
        Utc(2028, 2, 29, 23, 45), Utc(2029, 2, 28, 23, 45)}},
      {"cron(5 */6 * * ? *)", Utc(2025, 12, 31, 12, 30),
       {Utc(2025, 12, 31, 18, 5), Utc(2026, 1, 1, 0, 5), Utc(2026, 1, 1, 6, 5),
        Utc(2026, 1, 1, 12, 5), Utc(2026, 1, 1, 18, 5)}},
  };
  for (const SequenceCase& c : cases) {
    EXPECT_EQ(Firings(MustParse(c.expression), c.after, 5), c.firings) << c.expression;
  }
}

TEST(ScheduleCronTest, AcceptsExtraBlanksAndReportsKind) {
  Schedule s = MustParse("cron( 0  12 * * ? * )");
  EXPECT_TRUE(s.is_cron());
  EXPECT_FALSE(s.is_rate());
  EXPECT_EQ(s.expression(), "cron( 0  12 * * ? * )");
  EXPECT_EQ(s.Next(Utc(2025, 8, 1), Utc(2025, 8, 1)), Utc(2025, 8, 1, 12));
  // Both orders of '?' and '*' are fine.
  EXPECT_EQ(NextOf("cron(0 12 ? * * *)", Utc(2025, 8, 1)), Utc(2025, 8, 1, 12));
}

// ---- cron(): validation ----

TEST(ScheduleCronTest, QuestionMarkInExactlyOneDayField) {
  ExpectInvalid("cron(0 12 ? * ? *)", "cannot both be '?'");
  ExpectInvalid("cron(0 12 * * * *)", "use '?' in one of them");
  ExpectInvalid("cron(0 12 1 * MON *)", "use '?' in one of them");
  ExpectInvalid("cron(? 12 * * ? *)", "Invalid value '?' in the Minutes field");
  ExpectInvalid("cron(0 12 * ? ? *)", "Month");
  ExpectInvalid("cron(0 12 * * ? ?)", "Year");
}

TEST(ScheduleCronTest, RejectsOutOfRangeValues) {
  ExpectInvalid("cron(60 * * * ? *)", "Value 60 in the Minutes field is out of range 0-59");
  ExpectInvalid("cron(0 24 * * ? *)", "Hours field is out of range 0-23");
  ExpectInvalid("cron(0 0 0 * ? *)", "Day-of-month field is out of range 1-31");
  ExpectInvalid("cron(0 0 32 * ? *)", "Day-of-month field is out of range 1-31");
  ExpectInvalid("cron(0 0 1 13 ? *)", "Month field is out of range 1-12");
  ExpectInvalid("cron(0 0 1 0 ? *)", "Month field is out of range");
  ExpectInvalid("cron(0 0 ? * 8 *)", "Day-of-week field is out of range 1-7");
  ExpectInvalid("cron(0 0 ? * 0 *)", "Day-of-week field is out of range 1-7");
  ExpectInvalid("cron(0 0 * * ? 1969)", "Year field is out of range 1970-2199");
  ExpectInvalid("cron(0 0 * * ? 2200)", "Year field is out of range 1970-2199");
  ExpectInvalid("cron(0-60 * * * ? *)", "out of range");
  ExpectInvalid("cron(0 0 ? * 3#6 *)", "between 1 and 5");
  ExpectInvalid("cron(0 0 ? * 3#0 *)", "between 1 and 5");
  ExpectInvalid("cron(0 0 ? * 9#1 *)", "out of range");
  ExpectInvalid("cron(0 0 32W * ? *)", "out of range");
  ExpectInvalid("cron(0 0 ? * 8L *)", "out of range");
}

TEST(ScheduleCronTest, RejectsMalformedFields) {
  ExpectInvalid("cron(0 12 * * ?)", "six fields");
  ExpectInvalid("cron(0 12 * * ? * *)", "six fields");
  ExpectInvalid("cron()", "six fields");
  ExpectInvalid("cron(0 12 * * ? *", "Expected rate(...)");
  ExpectInvalid("CRON(0 12 * * ? *)", "Expected rate(...)");
  ExpectInvalid("every(5 minutes)", "Expected rate(...)");
  ExpectInvalid("", "Expected rate(...)");
  ExpectInvalid("cron(0 12 * FOO ? *)", "Invalid value 'FOO' in the Month field");
  ExpectInvalid("cron(0 12 ? * MONDAY *)", "Invalid value 'MONDAY' in the Day-of-week field");
  ExpectInvalid("cron(0 12 ? JANUARY * *)", "Invalid value 'JANUARY'");
  ExpectInvalid("cron(0 MON * * ? *)", "Invalid value 'MON' in the Hours field");
  ExpectInvalid("cron(0 12 1,,2 * ? *)", "Empty list element");
  ExpectInvalid("cron(0 12 * * ? 2030-2025)", "ends before it starts");
  ExpectInvalid("cron(*/0 * * * ? *)", "Invalid increment '0'");
  ExpectInvalid("cron(0/61 * * * ? *)", "Invalid increment '61'");
  ExpectInvalid("cron(0/x * * * ? *)", "Invalid increment 'x'");
  ExpectInvalid("cron(1-2-3 * * * ? *)", "Invalid value");
  ExpectInvalid("cron(-1 * * * ? *)", "Invalid value ''");
  ExpectInvalid("cron(0 0 ? * 3#1,6#3 *)", "'#' takes exactly one day");
  ExpectInvalid("cron(0 0 ? * 3#1#2 *)", "'#' takes exactly one day");
}

TEST(ScheduleCronTest, RejectsMisplacedLAndW) {
  ExpectInvalid("cron(L 0 * * ? *)", "Invalid value 'L' in the Minutes field");
  ExpectInvalid("cron(0 L * * ? *)", "Hours");
  ExpectInvalid("cron(0 0 1 L ? *)", "Month");
  ExpectInvalid("cron(0 0 * * ? L)", "Year");
  ExpectInvalid("cron(0 0 L,15 * ? *)", "cannot be combined");
  ExpectInvalid("cron(0 0 L-3 * ? *)", "cannot be combined");
  ExpectInvalid("cron(0 0 W * ? *)", "cannot be combined");
  ExpectInvalid("cron(0 0 1W,15 * ? *)", "cannot be combined");
  ExpectInvalid("cron(0 0 1-5W * ? *)", "cannot be combined");
  ExpectInvalid("cron(0 0 ? * 2,6L *)", "L must stand alone");
  ExpectInvalid("cron(0 0 ? * L6 *)", "L must stand alone");
  ExpectInvalid("cron(0 0 ? * 6LL *)", "L must stand alone");
  ExpectInvalid("cron(0 0 ? * 15W *)", "Invalid value '15W' in the Day-of-week field");
}

// ---- time zones ----

TEST(ScheduleZoneTest, CronIsReadInTheScheduleTimeZone) {
  // 09:00 in Seoul (UTC+9, no DST) is midnight UTC.
  Schedule s = MustParse("cron(0 9 * * ? *)", "Asia/Seoul");
  EXPECT_EQ(Firings(s, Utc(2025, 8, 1, 12), 3),
            (std::vector<absl::Time>{Utc(2025, 8, 2), Utc(2025, 8, 3), Utc(2025, 8, 4)}));
  // Local calendar rules too: the last day of the month in Seoul starts at 15:00 UTC the
  // day before.
  EXPECT_EQ(NextOf("cron(0 0 L * ? *)", Utc(2025, 8, 1), "Asia/Seoul"), Utc(2025, 8, 30, 15));
  EXPECT_EQ(s.time_zone().name(), "Asia/Seoul");
  EXPECT_EQ(MustParse("cron(0 9 * * ? *)").time_zone().name(), "UTC");
}

TEST(ScheduleZoneTest, WallClockTimeSurvivesDaylightSavingChanges) {
  // 09:00 New York is 13:00 UTC in summer (EDT) and 14:00 UTC in winter (EST).
  Schedule s = MustParse("cron(0 9 * * ? *)", "America/New_York");
  EXPECT_EQ(Firings(s, Utc(2025, 11, 1), 3),
            (std::vector<absl::Time>{Utc(2025, 11, 1, 13), Utc(2025, 11, 2, 14),
                                     Utc(2025, 11, 3, 14)}));
}

TEST(ScheduleZoneTest, NonexistentLocalTimeIsSkipped) {
  // On 2025-03-09 New York jumps from 02:00 EST to 03:00 EDT; 02:30 does not exist that
  // day. EventBridge Scheduler documents that such an invocation is skipped.
  Schedule daily = MustParse("cron(30 2 * * ? *)", "America/New_York");
  EXPECT_EQ(Firings(daily, Utc(2025, 3, 8, 0), 3),
            (std::vector<absl::Time>{Utc(2025, 3, 8, 7, 30),    // 02:30 EST
                                     Utc(2025, 3, 10, 6, 30),   // 02:30 EDT, 9th skipped
                                     Utc(2025, 3, 11, 6, 30)}));
  // A frequent schedule just loses the missing hour.
  Schedule half_hourly = MustParse("cron(0/30 * * * ? *)", "America/New_York");
  EXPECT_EQ(Firings(half_hourly, Utc(2025, 3, 9, 6, 0), 3),
            (std::vector<absl::Time>{Utc(2025, 3, 9, 6, 30),   // 01:30 EST
                                     Utc(2025, 3, 9, 7, 0),    // 03:00 EDT
                                     Utc(2025, 3, 9, 7, 30)}));
}

TEST(ScheduleZoneTest, RepeatedLocalTimeFiresOnce) {
  // On 2025-11-02 New York falls back from 02:00 EDT to 01:00 EST; 01:30 happens twice.
  // EventBridge Scheduler runs such a schedule only once: at the first 01:30 (EDT).
  Schedule daily = MustParse("cron(30 1 * * ? *)", "America/New_York");
  EXPECT_EQ(Firings(daily, Utc(2025, 11, 1, 12), 3),
            (std::vector<absl::Time>{Utc(2025, 11, 2, 5, 30),   // 01:30 EDT
                                     Utc(2025, 11, 3, 6, 30),   // 01:30 EST next day
                                     Utc(2025, 11, 4, 6, 30)}));
  // Asking from inside the repeated hour does not produce the second 01:30.
  EXPECT_EQ(daily.Next(Utc(2025, 11, 2, 6, 0), absl::UnixEpoch()), Utc(2025, 11, 3, 6, 30));
  Schedule hourly = MustParse("cron(0 * * * ? *)", "America/New_York");
  EXPECT_EQ(Firings(hourly, Utc(2025, 11, 2, 4, 30), 3),
            (std::vector<absl::Time>{Utc(2025, 11, 2, 5, 0),    // 01:00 EDT
                                     Utc(2025, 11, 2, 7, 0),    // 02:00 EST (01:00 EST skipped)
                                     Utc(2025, 11, 2, 8, 0)}));
}

TEST(ScheduleZoneTest, UnknownTimeZoneIsRejected) {
  ExpectInvalid("cron(0 9 * * ? *)", "Unknown time zone 'Mars/Olympus'", "Mars/Olympus");
  ExpectInvalid("cron(0 9 * * ? *)", "ScheduleExpressionTimezone", "localtime");
  ExpectInvalid("at(2025-08-01T12:00:00)", "ScheduleExpressionTimezone", "Fixed/UTC+09:00");
  EXPECT_TRUE(Schedule::Parse("cron(0 9 * * ? *)", "UTC").ok());
}

// ---- at() ----

TEST(ScheduleAtTest, FiresOnceInTheFuture) {
  Schedule s = MustParse("at(2025-08-01T12:00:00)");
  EXPECT_TRUE(s.is_at());
  EXPECT_EQ(s.Next(Utc(2025, 7, 1), absl::UnixEpoch()), Utc(2025, 8, 1, 12));
  EXPECT_EQ(s.Next(Utc(2025, 8, 1, 12) - absl::Seconds(1), absl::UnixEpoch()),
            Utc(2025, 8, 1, 12));
  EXPECT_EQ(Firings(s, Utc(2025, 7, 1), 5), (std::vector<absl::Time>{Utc(2025, 8, 1, 12)}));
}

TEST(ScheduleAtTest, PastTimeNeverFires) {
  Schedule s = MustParse("at(2025-08-01T12:00:00)");
  EXPECT_EQ(s.Next(Utc(2025, 8, 1, 12), absl::UnixEpoch()), std::nullopt);
  EXPECT_EQ(s.Next(Utc(2026, 1, 1), absl::UnixEpoch()), std::nullopt);
}

TEST(ScheduleAtTest, IsReadInTheScheduleTimeZone) {
  EXPECT_EQ(NextOf("at(2025-08-01T12:00:00)", Utc(2025, 1, 1), "Asia/Seoul"),
            Utc(2025, 8, 1, 3));
  EXPECT_EQ(NextOf("at(2025-08-01T12:00:00)", Utc(2025, 1, 1), "America/New_York"),
            Utc(2025, 8, 1, 16));
  // 02:30 on 2025-03-09 does not exist in New York; it moves forward by the gap, to
  // 03:30 EDT.
  EXPECT_EQ(NextOf("at(2025-03-09T02:30:00)", Utc(2025, 1, 1), "America/New_York"),
            Utc(2025, 3, 9, 7, 30));
  // 01:30 on 2025-11-02 happens twice; the first (EDT) is used.
  EXPECT_EQ(NextOf("at(2025-11-02T01:30:00)", Utc(2025, 1, 1), "America/New_York"),
            Utc(2025, 11, 2, 5, 30));
}

TEST(ScheduleAtTest, RejectsMalformedTimes) {
  ExpectInvalid("at(2025-08-01 12:00:00)", "at(yyyy-mm-ddThh:mm:ss)");
  ExpectInvalid("at(2025-08-01T12:00)", "at(yyyy-mm-ddThh:mm:ss)");
  ExpectInvalid("at(2025-8-01T12:00:00)", "at(yyyy-mm-ddThh:mm:ss)");
  ExpectInvalid("at(2025-08-01T12:00:00Z)", "at(yyyy-mm-ddThh:mm:ss)");
  ExpectInvalid("at(2025-08-01T1a:00:00)", "at(yyyy-mm-ddThh:mm:ss)");
  ExpectInvalid("at(2025-08-01T-1:00:00)", "at(yyyy-mm-ddThh:mm:ss)");
  ExpectInvalid("at()", "at(yyyy-mm-ddThh:mm:ss)");
  ExpectInvalid("at(2025-02-30T12:00:00)", "is not a valid date and time");
  ExpectInvalid("at(2025-13-01T12:00:00)", "is not a valid date and time");
  ExpectInvalid("at(2025-08-01T24:00:00)", "is not a valid date and time");
  ExpectInvalid("at(2025-08-01T12:60:00)", "is not a valid date and time");
  EXPECT_TRUE(Schedule::Parse("at(2024-02-29T00:00:00)").ok());
}

}  // namespace
}  // namespace sluice::events
