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

  struct Rates {
    std::map<std::string, double> per_second;
    double seconds = 0;  // the window they were measured over
  };

  // Records `totals` now and answers each counter's rate per second, over the last minute when
  // an earlier view falls in it, else since the newest earlier view (or since `since`).
  Rates rates(const std::map<std::string, double>& totals) {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    const auto minute = std::chrono::seconds(60);
    // Keep the newest sample older than a minute only while nothing younger exists.
    while (samples_.size() > 1 && now - samples_[1].at >= minute) samples_.pop_front();
    const Sample* base = nullptr;
    for (const auto& sample : samples_)
      if (now - sample.at >= std::chrono::seconds(1)) {
        base = &sample;
        break;
      }
    Rates out;
    out.seconds = std::chrono::duration<double>(now - (base ? base->at : since_)).count();
    for (const auto& [name, total] : totals) {
      double before = 0;
      if (base)
        if (auto it = base->totals.find(name); it != base->totals.end()) before = it->second;
      out.per_second[name] = out.seconds > 0 ? (total - before) / out.seconds : 0;
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
