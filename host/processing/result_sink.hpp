#pragma once

#include <functional>
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
  static ApplyOutcome retry(std::string why, double after_seconds = 0) {
    return {Kind::retry, std::move(why), after_seconds};
  }
  static ApplyOutcome failed(std::string why) { return {Kind::failed, std::move(why), 0}; }
};

using ApplyDone = std::function<void(ApplyOutcome)>;

// Where processor results go: mapping to entities and applying them to the catalog. Called on
// worker threads, concurrently. `integration` and `resource` are valid only during the call;
// `done` is called exactly once, from any thread, possibly before apply returns, once every
// entity is applied or has finally failed. Applying waits off the worker, so a worker never idles
// while Port answers.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  virtual void apply(const Integration& integration, const ResourceMapping& resource,
                     const Event& event, RawResults results, ApplyDone done) = 0;
};

}  // namespace oceand
