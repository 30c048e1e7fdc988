#include "pgwire/query_text.h"

#include <gtest/gtest.h>

namespace sluice::pgwire {
namespace {

TEST(IsEmptyQuery, OnlyWhitespaceSemicolonsAndComments) {
  EXPECT_TRUE(IsEmptyQuery(""));
  EXPECT_TRUE(IsEmptyQuery(" ;\n; -- nothing\n /* still nothing */ "));
  EXPECT_FALSE(IsEmptyQuery("SELECT 1"));
  EXPECT_FALSE(IsEmptyQuery("'unterminated"));
}

TEST(CountParameters, IgnoresLiteralsIdentifiersAndComments) {
  EXPECT_EQ(CountParameters("SELECT 1"), 0u);
  EXPECT_EQ(CountParameters("SELECT $1, $3"), 3u);
  EXPECT_EQ(CountParameters("SELECT '$5', \"$6\", $2 -- $7\n /* $8 */"), 2u);
  EXPECT_EQ(CountParameters("SELECT $$ $9 $$, $tag$ $9 $tag$, $1"), 1u);
  EXPECT_EQ(CountParameters("SELECT E'\\' $4', $2"), 2u);
  EXPECT_EQ(CountParameters("SELECT a$1 FROM t"), 0u);
}

TEST(RewriteQuery, DropsPgCatalogQualifiersOfOperatorsAndCasts) {
  EXPECT_EQ(RewriteQuery("WHERE c.relname OPERATOR(pg_catalog.~) '^(t)$'"), "WHERE c.relname  ~  '^(t)$'");
  EXPECT_EQ(RewriteQuery("SELECT x::pg_catalog.regtype::pg_catalog.text"), "SELECT x::regtype::text");
  // Inside literals nothing changes.
  EXPECT_EQ(RewriteQuery("SELECT 'OPERATOR(pg_catalog.~)', '::pg_catalog.text'"),
            "SELECT 'OPERATOR(pg_catalog.~)', '::pg_catalog.text'");
  EXPECT_EQ(RewriteQuery("SELECT 1"), "SELECT 1");
}

}  // namespace
}  // namespace sluice::pgwire
