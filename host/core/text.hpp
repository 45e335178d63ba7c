#pragma once

#include <algorithm>
#include <cctype>
#include <string>

namespace oceand {

// ASCII lower-casing, for header names and configuration keys (never locale-dependent).
inline std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace oceand
