#include "http/rest_json.h"

#include <algorithm>

#include "base/strings.h"

namespace sluice {

RestRouter::RestRouter(std::vector<RestOperation> operations) {
  for (auto& op : operations) {
    Compiled c;
    std::string uri = op.uri;
    if (auto q = uri.find('?'); q != std::string::npos) {
      std::string query = uri.substr(q + 1);
      uri.resize(q);
      auto eq = query.find('=');
      c.query_name = query.substr(0, eq);
      c.query_value = eq == std::string::npos ? "" : query.substr(eq + 1);
    }
    for (auto s : Split(uri, '/', /*skip_empty=*/true)) c.segments.emplace_back(s);
    c.op = std::move(op);
    ops_.push_back(std::move(c));
  }
  // Templates with a required query parameter are tried first.
  std::stable_sort(ops_.begin(), ops_.end(),
                   [](const Compiled& a, const Compiled& b) { return !a.query_name.empty() && b.query_name.empty(); });
}

bool RestRouter::MatchPath(const Compiled& c, const std::vector<std::string_view>& path,
                           std::map<std::string, std::string>* labels) {
  size_t i = 0;
  for (size_t s = 0; s < c.segments.size(); ++s) {
    const std::string& seg = c.segments[s];
    bool label = seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
    if (label && seg[seg.size() - 2] == '+') {
      // Greedy: the rest of the path (at least one segment), slashes kept.
      if (i >= path.size() || s + 1 != c.segments.size()) return false;
      std::vector<std::string_view> rest(path.begin() + static_cast<long>(i), path.end());
      (*labels)[seg.substr(1, seg.size() - 3)] = UriDecode(Join(rest, "/"));
      return true;
    }
    if (i >= path.size()) return false;
    if (label) {
      (*labels)[seg.substr(1, seg.size() - 2)] = UriDecode(path[i]);
    } else if (seg != path[i]) {
      return false;
    }
    ++i;
  }
  return i == path.size();
}

std::optional<RestMatch> RestRouter::Match(const HttpRequest& req, bool* path_matched) const {
  std::vector<std::string_view> path = Split(req.path, '/', /*skip_empty=*/true);
  if (path_matched) *path_matched = false;
  for (const auto& c : ops_) {
    if (!c.query_name.empty()) {
      const std::string* v = req.Query(c.query_name);
      if (!v || (!c.query_value.empty() && *v != c.query_value)) continue;
    }
    RestMatch m;
    if (!MatchPath(c, path, &m.labels)) continue;
    if (c.op.method != req.method) {
      if (path_matched) *path_matched = true;
      continue;
    }
    m.operation = &c.op;
    return m;
  }
  return std::nullopt;
}

}  // namespace sluice
