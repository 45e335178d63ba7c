#pragma once

#include <string>
#include <vector>

namespace oceand {

struct Integration;
struct ResourceMapping;
struct Event;

// What one handle_event call produced for one resource of the mapping.
struct RawResults {
  std::vector<std::string> updated;  // JSON objects as text
  std::vector<std::string> deleted;
};

struct ApplyOutcome {
  enum class Kind { applied, retry, failed };
  Kind kind = Kind::applied;
  std::string error;
  double retry_after_seconds = 0;

  static ApplyOutcome applied() { return {}; }
  static ApplyOutcome failed(std::string why) { return {Kind::failed, std::move(why), 0}; }
};

// Where processor results go: mapping to entities and applying them to the catalog. Called on
// worker threads, concurrently.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  virtual ApplyOutcome apply(const Integration& integration, const ResourceMapping& resource,
                             const Event& event, RawResults& results) = 0;
};

}  // namespace oceand
