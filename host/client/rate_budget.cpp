#include "client/rate_budget.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>

namespace oceand {
namespace {

std::optional<long long> digits(const std::string& value, size_t max_len = 18) {
  if (value.empty() || value.size() > max_len) return std::nullopt;
  long long n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

// A probe answers within its own HTTP timeout; this only keeps a lost answer from holding the
// budget's other callers forever.
constexpr auto kProbeWaitLimit = std::chrono::seconds(60);

// A window is taken to open a second after the reset the API announces: resets are whole seconds,
// and a clock a little ahead of the API's (or an API counting with a coarser clock) would
// otherwise spend the next window's calls in the one that is still closed.
constexpr auto kResetMargin = std::chrono::seconds(1);

}  // namespace

std::optional<RateBudgets::Clock::time_point> RateBudgets::parse_reset(const std::string& value) {
  if (auto epoch = digits(value, 12)) return Clock::from_time_t(static_cast<std::time_t>(*epoch));
  // Jira: 2024-06-01T12:00Z, 2024-06-01T12:00:30Z or with fractions of a second.
  if (value.size() < 17 || value.size() > 40 || value.back() != 'Z') return std::nullopt;
  auto num = [&](size_t at, size_t len) { return digits(value.substr(at, len), len); };
  auto y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2);
  if (!y || !mo || !d || !h || !mi || value[4] != '-' || value[7] != '-' || value[10] != 'T' ||
      value[13] != ':')
    return std::nullopt;
  long long s = 0;
  if (value[16] == ':') {
    auto sec = num(17, 2);
    if (!sec) return std::nullopt;
    s = *sec;
  } else if (value[16] != 'Z') {
    return std::nullopt;
  }
  if (*mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 || *mi > 59 || s > 60)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = static_cast<int>(*y - 1900);
  tm.tm_mon = static_cast<int>(*mo - 1);
  tm.tm_mday = static_cast<int>(*d);
  tm.tm_hour = static_cast<int>(*h);
  tm.tm_min = static_cast<int>(*mi);
  tm.tm_sec = static_cast<int>(s);
  return Clock::from_time_t(timegm(&tm));
}

RateBudgets::Admission RateBudgets::admit(const std::string& key) {
  std::unique_lock lock(mutex_);
  Budget& b = budgets_[key];
  const auto probe_deadline = Clock::now() + kProbeWaitLimit;
  for (;;) {
    const auto now = Clock::now();
    // What holds the call, if anything: a Retry-After, an exhausted window, or a probe's answer.
    Clock::time_point until{};
    if (b.blocked_until > now) {
      until = b.blocked_until;
    } else {
      if (b.state == State::tracked && now >= b.reset + kResetMargin) b.state = State::unknown;
      if (b.state == State::untracked) break;
      if (b.state == State::unknown) {
        if (!b.probing || now >= probe_deadline) {
          b.probing = true;
          ++b.in_flight;
          return Admission{true, 0, true};
        }
        changed_.wait_until(lock, probe_deadline);
        continue;
      }
      if (b.remaining > 0) {
        --b.remaining;
        break;
      }
      until = b.reset + kResetMargin;
    }
    if (until - now > max_block_) {
      auto seconds = std::chrono::duration<double>(until - now).count();
      return Admission{false, std::max(1.0, std::ceil(seconds)), false};
    }
    changed_.wait_until(lock, until);
  }
  ++b.in_flight;
  return Admission{};
}

void RateBudgets::settle(const std::string& key, const Admission& admission,
                         const HttpResult& result) {
  if (!admission.sent) return;
  {
    std::lock_guard lock(mutex_);
    Budget& b = budgets_[key];
    if (b.in_flight > 0) --b.in_flight;
    if (admission.probe) b.probing = false;
    const auto now = Clock::now();
    auto remaining = digits(result.header("x-ratelimit-remaining"));
    auto reset = parse_reset(result.header("x-ratelimit-reset"));
    if (remaining && reset) {
      // The calls still in flight were reserved but may not have been counted by the API yet.
      long long left = std::max(0LL, *remaining - b.in_flight);
      if (b.state != State::tracked || *reset > b.reset) {
        if (*reset > now) {
          b.state = State::tracked;
          b.reset = *reset;
          b.remaining = left;
        }
      } else if (*reset == b.reset) {
        b.remaining = std::min(b.remaining, left);
      }  // an answer from an earlier window says nothing about this one
    } else if (result.status != 0 && b.state == State::unknown) {
      b.state = State::untracked;  // this API does not announce its limits
    }
    if ((result.status == 429 || result.status == 403)) {
      if (auto after = digits(result.header("retry-after"), 9))
        b.blocked_until = std::max(b.blocked_until, now + std::chrono::seconds(*after));
    }
  }
  changed_.notify_all();
}

std::optional<long long> RateBudgets::remaining(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = budgets_.find(key);
  if (it == budgets_.end() || it->second.state != State::tracked) return std::nullopt;
  return it->second.remaining;
}

}  // namespace oceand
