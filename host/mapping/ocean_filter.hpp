#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace oceand {

// Ocean's `_format_filter`: mappings are YAML, where jq's double quotes are awkward, so Ocean turns
// a single quote that opens a word (at the start, or after whitespace, and not before whitespace
// or ") or closes one (not after whitespace or ", and before whitespace or the end) into a double
// quote: `.org + '/' + .repo` is `.org + "/" + .repo`. The scan follows the regular expression
// `(^|\s)'(?!\s|")|(?<!\s|")'(\s|$)` replaced by `\1"\2` left to right, matches not overlapping,
// so the same quirks hold (in `'a' 'b'` the third quote stays).
inline std::string ocean_quotes(std::string_view s) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  const size_t n = s.size();
  std::string out;
  out.reserve(n);
  size_t p = 0;
  while (p < n) {
    // (^|\s)'(?!\s|")
    auto opens_at = [&](size_t q) {
      return q < n && s[q] == '\'' && !(q + 1 < n && (space(s[q + 1]) || s[q + 1] == '"'));
    };
    if (p == 0 && opens_at(0)) {
      out += '"';
      p = 1;
      continue;
    }
    if (space(s[p]) && opens_at(p + 1)) {
      out += s[p];
      out += '"';
      p += 2;
      continue;
    }
    // (?<!\s|")'(\s|$)
    if (s[p] == '\'' && !(p > 0 && (space(s[p - 1]) || s[p - 1] == '"')) &&
        (p + 1 == n || space(s[p + 1]))) {
      out += '"';
      if (p + 1 < n) out += s[p + 1];
      p += 2;
      continue;
    }
    out += s[p++];
  }
  return out;
}

}  // namespace oceand
