#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/results.hpp"

namespace oceand {

// The newest raw results oceand mapped, per integration and kind: what a mapping dry run
// (POST /admin/integrations/<id>/dry-run) tries a mapping on when it is given no sample — Port's
// "test your mapping" with real recent events instead of made-up ones. Bounded: kPerKind items per
// kind, items over kMaxItemBytes not kept, at most kMaxKeys (integration, kind) pairs and
// kMaxTotalBytes in all (the oldest items of the kind being added go first). Memory only:
// samples are a convenience, not a record. Thread-safe.
class RawSamples {
 public:
  static constexpr size_t kPerKind = 100;
  static constexpr size_t kMaxItemBytes = 256 * 1024;
  static constexpr size_t kMaxKeys = 1024;
  static constexpr size_t kMaxTotalBytes = 32 << 20;  // all kept samples together

  void record(const std::string& integration, const std::string& kind, const RawResults& raw);
  // Oldest first, as updated/deleted items.
  RawResults samples(const std::string& integration, const std::string& kind) const;

 private:
  struct Item {
    std::string text;
    bool deleted = false;
  };
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::deque<Item>> kept_;
  size_t bytes_ = 0;
};

}  // namespace oceand
