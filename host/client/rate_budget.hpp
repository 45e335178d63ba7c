#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "client/http_client.hpp"

namespace oceand {

// The rate limits third-party APIs announce, shared by every worker that spends the same budget
// (a GitHub token or installation, a Jira site): ocean_http_request.rate_limit_key names it. What
// a budget knows comes from the answers: X-RateLimit-Remaining and X-RateLimit-Reset (Unix
// seconds, or an ISO 8601 UTC time as Jira sends it) give the calls left in the window; a
// Retry-After on a 429 or 403 (GitHub's secondary limits) holds every call for that long.
//
// A call reserves one of the calls left before it is sent, so 32 workers never send more than the
// window allows; while nothing is known (the first call, or a window that has just reset) one call
// goes out as a probe and the others wait for its answer. A call that would wait longer than
// `max_block` is not sent: the caller answers it as a 429 with Retry-After, and the event runs
// again once the window resets (without spending a retry — docs/plugin-authoring.md).
class RateBudgets {
 public:
  using Clock = std::chrono::system_clock;

  explicit RateBudgets(std::chrono::milliseconds max_block = std::chrono::seconds(2))
      : max_block_(max_block) {}

  struct Admission {
    bool sent = true;  // false: held back, `wait_seconds` until the budget allows it
    double wait_seconds = 0;
    bool probe = false;  // the one call in flight while the budget is unknown
  };

  // Reserves a call of budget `key` (plugin-scoped by the caller), waiting up to max_block.
  Admission admit(const std::string& key);
  // What the answer to an admitted call says about the budget; `result` may be a failure.
  void settle(const std::string& key, const Admission& admission, const HttpResult& result);

  // For tests and /metrics: the calls known to be left, or nullopt when not tracked.
  std::optional<long long> remaining(const std::string& key);

  // Parses X-RateLimit-Reset: Unix seconds, or "YYYY-MM-DDTHH:MM[:SS[.fff]]Z".
  static std::optional<Clock::time_point> parse_reset(const std::string& value);

 private:
  enum class State { unknown, tracked, untracked };
  struct Budget {
    State state = State::unknown;
    long long remaining = 0;
    Clock::time_point reset{};
    Clock::time_point blocked_until{};  // Retry-After
    int in_flight = 0;
    bool probing = false;
  };

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, Budget> budgets_;
  std::chrono::milliseconds max_block_;
};

}  // namespace oceand
