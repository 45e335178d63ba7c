#pragma once

#include <chrono>
#include <sstream>
#include <string>
#include <string_view>

namespace oceand {

enum class LogLevel { debug = 0, info = 1, warning = 2, error = 3 };

// Process-wide log: one line per record on stderr, written whole under a lock so lines from
// different threads never interleave. Every control character in a message is escaped (\n, \t,
// \x1b, ...), so text from a sender or a plugin can neither forge a line nor drive a terminal.
class Log {
 public:
  static void set_level(LogLevel level);
  // text: "<time> <LEVEL> [component] message"; json: one object per line with time, level,
  // component, msg, and each key=value pair of the message as a field of its own.
  enum class Format { text, json };
  static void set_format(Format format);
  static bool parse_level(std::string_view text, LogLevel& out);
  static bool enabled(LogLevel level);
  static void write(LogLevel level, std::string_view component, std::string_view message);
  // The same, at most kLimitBurst lines per `key` in each kLimitWindow; the lines left out are
  // counted and reported once the window has passed ("... N similar line(s) suppressed").
  static void write_limited(LogLevel level, std::string_view component, std::string_view key,
                            std::string_view message);
  // Reports the lines left out in windows that ended (all of them with `everything`, as at
  // shutdown). Runs by itself on the next line written after a window ends.
  static void flush_suppressed(bool everything);
  static constexpr int kLimitBurst = 10;
  // 10 s; tests shorten it.
  static void set_limit_window(std::chrono::milliseconds window);
};

// A logfmt value: bare when it is a plain token, otherwise double-quoted with \" and \\ escaped
// (and control characters, as everywhere). Empty values are "".
std::string logfmt_value(std::string_view value);

// `key=value` for a LogLine, the value as logfmt_value writes it: << kv("error", message).
struct LogField {
  std::string_view key;
  std::string_view value;
};
inline LogField kv(std::string_view key, std::string_view value) {
  return {key, value};
}
std::ostream& operator<<(std::ostream& out, const LogField& field);

// Builds a message with << and writes it when the statement ends:
//   OCEAND_LOG_INFO("queue") << "opened " << path;
class LogLine {
 public:
  LogLine(LogLevel level, std::string_view component) : level_(level), component_(component) {}
  // Rate-limited by `key` (Log::write_limited).
  LogLine(LogLevel level, std::string_view component, std::string key)
      : level_(level), component_(component), key_(std::move(key)) {}
  ~LogLine() {
    if (key_.empty())
      Log::write(level_, component_, stream_.str());
    else
      Log::write_limited(level_, component_, key_, stream_.str());
  }
  template <class T>
  LogLine& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  LogLevel level_;
  std::string_view component_;
  std::string key_;
  std::ostringstream stream_;
};

// Turns a finished LogLine expression into void, so both arms of the macros' ?: agree. `&` binds
// looser than `<<`: every << of the statement reaches the line first.
struct LogVoidify {
  void operator&(const LogLine&) const {}
};

}  // namespace oceand

// The log macros. `OCEAND_` keeps them apart from <syslog.h>'s LOG_INFO and friends and from the
// ABI's OCEAN_LOG_* levels. The whole statement is one expression (no if/else), so it can be the
// body of an unbraced `if` without an ambiguous `else`; when the level is off, nothing after the
// macro is evaluated.
#define OCEAND_LOG(level, component)                    \
  !::oceand::Log::enabled(level) ? static_cast<void>(0) \
                                 : ::oceand::LogVoidify() & ::oceand::LogLine(level, component)
#define OCEAND_LOG_DEBUG(component) OCEAND_LOG(::oceand::LogLevel::debug, component)
#define OCEAND_LOG_INFO(component) OCEAND_LOG(::oceand::LogLevel::info, component)
#define OCEAND_LOG_WARN(component) OCEAND_LOG(::oceand::LogLevel::warning, component)
#define OCEAND_LOG_ERROR(component) OCEAND_LOG(::oceand::LogLevel::error, component)
// Lines a sender or a plugin can repeat at will (one per forged delivery, per failing event):
// rate-limited per `key`, which names what repeats (e.g. the integration and the reason).
#define OCEAND_LOG_LIMITED(level, component, key) \
  !::oceand::Log::enabled(level)                  \
      ? static_cast<void>(0)                      \
      : ::oceand::LogVoidify() & ::oceand::LogLine(level, component, key)
#define OCEAND_LOG_INFO_LIMITED(component, key) \
  OCEAND_LOG_LIMITED(::oceand::LogLevel::info, component, key)
#define OCEAND_LOG_WARN_LIMITED(component, key) \
  OCEAND_LOG_LIMITED(::oceand::LogLevel::warning, component, key)
#define OCEAND_LOG_ERROR_LIMITED(component, key) \
  OCEAND_LOG_LIMITED(::oceand::LogLevel::error, component, key)
