#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace oceand {

enum class LogLevel { debug = 0, info = 1, warning = 2, error = 3 };

// Process-wide log: one line per record on stderr, written whole under a lock so lines from
// different threads never interleave.
class Log {
 public:
  static void set_level(LogLevel level);
  static bool parse_level(std::string_view text, LogLevel& out);
  static bool enabled(LogLevel level);
  static void write(LogLevel level, std::string_view component, std::string_view message);
};

// Builds a message with << and writes it when the statement ends:
//   LOG_INFO("queue") << "opened " << path;
class LogLine {
 public:
  LogLine(LogLevel level, std::string_view component) : level_(level), component_(component) {}
  ~LogLine() { Log::write(level_, component_, stream_.str()); }
  template <class T>
  LogLine& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  LogLevel level_;
  std::string_view component_;
  std::ostringstream stream_;
};

}  // namespace oceand

#define OCEAN_LOG(level, component)     \
  if (!::oceand::Log::enabled(level)) { \
  } else                                \
    ::oceand::LogLine(level, component)
#define LOG_DEBUG(component) OCEAN_LOG(::oceand::LogLevel::debug, component)
#define LOG_INFO(component) OCEAN_LOG(::oceand::LogLevel::info, component)
#define LOG_WARN(component) OCEAN_LOG(::oceand::LogLevel::warning, component)
#define LOG_ERROR(component) OCEAN_LOG(::oceand::LogLevel::error, component)
