#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace oceand {

// One or more problems found in the configuration, each naming its key (what() joins them with
// "; "): an operator fixes every mistake in one round, not one per restart.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& problem)
      : std::runtime_error(problem), problems_{problem} {}
  explicit ConfigError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

}  // namespace oceand
