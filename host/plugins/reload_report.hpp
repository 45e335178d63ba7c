#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plugins/generation.hpp"

namespace oceand {

// What one reload did (POST /admin/reload, SIGHUP, the status page), kept as the last one.
struct ReloadReport {
  bool ok = false;
  uint64_t generation = 0;  // serving after the reload (the old one when it failed)
  std::string error;
  // Start-only keys that changed and were not applied (start_only_changes).
  std::vector<std::string> ignored;
  int64_t at_ms = 0;   // Unix epoch, when it finished
  double seconds = 0;  // from the start of the reload to the switch (or the failure)
  std::vector<std::string> added, changed, removed;  // plugins, by name
  std::vector<PluginFileStatus> files;               // what the reload found in plugins.dir
};

}  // namespace oceand
