#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <string>

namespace oceand {

// Per-second rates of counters over about the last minute, from the totals seen each time it is
// asked (the status page asks on every view): no thread of its own, nothing kept beyond a minute.
// The first view has nothing to compare with and reports the rate since `since`.
class RateWindow {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RateWindow(Clock::time_point since = Clock::now()) : since_(since) {}

  // Records `totals` now and answers each counter's rate per second.
  std::map<std::string, double> rates(const std::map<std::string, double>& totals) {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    while (samples_.size() > 1 && now - samples_[1].at > std::chrono::seconds(60))
      samples_.pop_front();
    std::map<std::string, double> out;
    const Sample* base = samples_.empty() ? nullptr : &samples_.front();
    const double seconds = std::chrono::duration<double>(now - (base ? base->at : since_)).count();
    for (const auto& [name, total] : totals) {
      double before = 0;
      if (base)
        if (auto it = base->totals.find(name); it != base->totals.end()) before = it->second;
      out[name] = seconds > 0.5 ? (total - before) / seconds : 0;
    }
    if (samples_.empty() || now - samples_.back().at >= std::chrono::seconds(1))
      samples_.push_back({now, totals});
    if (samples_.size() > 120) samples_.pop_front();
    return out;
  }

 private:
  struct Sample {
    Clock::time_point at;
    std::map<std::string, double> totals;
  };
  std::mutex mutex_;
  Clock::time_point since_;
  std::deque<Sample> samples_;
};

}  // namespace oceand
