#include "core/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace oceand {

namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::mutex g_write_mutex;

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return "DEBUG";
    case LogLevel::info:
      return "INFO ";
    case LogLevel::warning:
      return "WARN ";
    case LogLevel::error:
      return "ERROR";
  }
  return "?";
}
}  // namespace

void Log::set_level(LogLevel level) {
  g_level.store(static_cast<int>(level));
}

bool Log::parse_level(std::string_view text, LogLevel& out) {
  if (text == "debug" || text == "DEBUG")
    out = LogLevel::debug;
  else if (text == "info" || text == "INFO")
    out = LogLevel::info;
  else if (text == "warning" || text == "WARNING" || text == "warn")
    out = LogLevel::warning;
  else if (text == "error" || text == "ERROR")
    out = LogLevel::error;
  else
    return false;
  return true;
}

bool Log::enabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void Log::write(LogLevel level, std::string_view component, std::string_view message) {
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t secs = system_clock::to_time_t(now);
  int millis = static_cast<int>(duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  std::string line;
  line.reserve(message.size() + component.size() + 48);
  line.append(stamp)
      .append(" ")
      .append(level_name(level))
      .append(" [")
      .append(component)
      .append("] ");
  // One record is one line: newlines in messages (plugin text, errors) are escaped.
  for (char c : message) {
    if (c == '\n')
      line.append("\\n");
    else if (c == '\r')
      line.append("\\r");
    else
      line.push_back(c);
  }
  line.push_back('\n');
  std::lock_guard lock(g_write_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace oceand
