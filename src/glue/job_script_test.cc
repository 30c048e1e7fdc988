#include "glue/job_script.h"

#include "gtest/gtest.h"

namespace sluice {
namespace {

TEST(Bookmark, StateIsTheUnionOfSuccessfulRuns) {
  Json doc = {{"JobName", "j"}};
  AdvanceBookmark(doc, "jr_1", 0, {{"s3://b/in/", {{"in/a.json", "e1"}, {"in/b.json", "e2"}}}});
  AdvanceBookmark(doc, "jr_2", 0, {{"s3://b/in/", {{"in/c.json", "e3"}}}, {"glue:db.t", {{"b/t/x.parquet", "e4"}}}});
  BookmarkFiles state = BookmarkState(doc);
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state["s3://b/in/"].size(), 3u);
  EXPECT_EQ(state["s3://b/in/"]["in/c.json"], "e3");
  EXPECT_EQ(state["glue:db.t"]["b/t/x.parquet"], "e4");
  Json entry = BookmarkEntry(doc);
  EXPECT_EQ(entry["Run"], 2);
  EXPECT_EQ(entry["Version"], 2);
  EXPECT_EQ(entry["RunId"], "jr_2");
  EXPECT_EQ(entry["PreviousRunId"], "jr_1");
  EXPECT_EQ(Json::parse(entry["JobBookmark"].get<std::string>())["s3://b/in/"]["objects"], 3);
}

TEST(Bookmark, AChangedObjectIsReadAgainAfterItsEtagChanges) {
  Json doc = {{"JobName", "j"}};
  AdvanceBookmark(doc, "jr_1", 0, {{"s", {{"k", "old"}}}});
  AdvanceBookmark(doc, "jr_2", 0, {{"s", {{"k", "new"}}}});
  EXPECT_EQ(BookmarkState(doc)["s"]["k"], "new");  // the latest run's ETag wins
}

TEST(Bookmark, RewindKeepsRunsUpToTheGivenOne) {
  Json doc = {{"JobName", "j"}};
  AdvanceBookmark(doc, "jr_1", 0, {{"s", {{"a", "1"}}}});
  AdvanceBookmark(doc, "jr_2", 0, {{"s", {{"b", "2"}}}});
  AdvanceBookmark(doc, "jr_3", 0, {{"s", {{"c", "3"}}}});
  auto rewound = RewindBookmark(doc, "jr_2");
  ASSERT_TRUE(rewound.ok());
  BookmarkFiles state = BookmarkState(*rewound);
  EXPECT_EQ(state["s"].size(), 2u);
  EXPECT_FALSE(state["s"].contains("c"));
  EXPECT_EQ((*rewound)["Version"], 4);
  auto all = RewindBookmark(doc, "");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(BookmarkState(*all).empty());
  EXPECT_TRUE(absl::IsNotFound(RewindBookmark(doc, "jr_9").status()));
}

TEST(NothingToDo, OnlyTheMarkedStatusCounts) {
  EXPECT_FALSE(IsNothingToDo(absl::OutOfRangeError("x")));
  EXPECT_FALSE(IsNothingToDo(absl::OkStatus()));
}

}  // namespace
}  // namespace sluice
