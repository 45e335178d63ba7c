#pragma once

#include <functional>
#include <string>
#include <vector>

namespace oceand {

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
  // A retry that spends neither the processor's retries nor the event's deadline: the store that
  // says who may apply (a shared queue) cannot be reached; the event waits for it.
  bool store_wait = false;
  // Likewise: a call was held back by the plugin's rate-limit budget (host/client/rate_budget.hpp);
  // the event runs again when the API's window allows, however long that takes.
  bool rate_budget_wait = false;

  static ApplyOutcome applied() { return {}; }
  static ApplyOutcome retry(std::string why, double after_seconds = 0) {
    return {Kind::retry, std::move(why), after_seconds};
  }
  static ApplyOutcome failed(std::string why) { return {Kind::failed, std::move(why), 0}; }
  static ApplyOutcome wait_for_store(std::string why, double after_seconds) {
    return {Kind::retry, std::move(why), after_seconds, true};
  }
};

using ApplyDone = std::function<void(ApplyOutcome)>;

}  // namespace oceand
