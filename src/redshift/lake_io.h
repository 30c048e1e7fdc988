#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "redshift/lexer.h"

// Pieces COPY and UNLOAD share: reading their option lists and finding files in the lake.
namespace sluice {
class ObjectStore;
}

namespace sluice::redshift {

// A cursor over a statement's tokens.
class TokenCursor {
 public:
  explicit TokenCursor(const std::vector<Token>& t, size_t at = 0) : t_(t), at_(at) {}
  bool done() const { return at_ >= t_.size(); }
  const Token& peek(size_t ahead = 0) const;
  bool Accept(std::string_view word);  // consumes a matching word
  bool AcceptSymbol(std::string_view s);
  const Token& Next() { return done() ? end_ : t_[at_++]; }
  size_t at() const { return at_; }
  void set_at(size_t at) { at_ = at; }
  // A string literal's value; error naming `what` otherwise.
  absl::StatusOr<std::string> String(std::string_view what);
  absl::StatusOr<int64_t> Integer(std::string_view what);

 private:
  const std::vector<Token>& t_;
  size_t at_;
  Token end_{TokenKind::kSymbol, "", 0};
};

// One object of the lake: its key, size and the absolute path of its committed bytes.
struct LakeObject {
  std::string bucket, key, path;
  uint64_t size = 0;
};

// s3://bucket/rest -> bucket, rest.
absl::StatusOr<std::pair<std::string, std::string>> SplitS3Uri(const std::string& uri);

// Every committed object whose key begins with `prefix` (as Redshift COPY matches), in key
// order. Error NoSuchBucket as Redshift words it.
absl::StatusOr<std::vector<LakeObject>> ListPrefix(ObjectStore& store, const std::string& bucket,
                                                   const std::string& prefix);

// Redshift DATEFORMAT/TIMEFORMAT ('YYYY-MM-DD HH24:MI:SS') -> strptime ('%Y-%m-%d %H:%M:%S').
std::string StrptimeFormat(const std::string& redshift_format);

}  // namespace sluice::redshift
