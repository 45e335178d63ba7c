#include "core/config_error.hpp"

#include <utility>

namespace oceand {

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error([&] {
        std::string joined;
        for (const auto& p : problems) joined += (joined.empty() ? "" : "; ") + p;
        return joined;
      }()),
      problems_(std::move(problems)) {}

}  // namespace oceand
