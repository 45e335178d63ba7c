#include "core/log.hpp"

#include "core/text.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <ostream>
#include <set>
#include <unordered_map>
#include <vector>

namespace oceand {

namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::atomic<bool> g_json{false};
std::mutex g_write_mutex;

// Rate limiting (Log::write_limited): one window per key, the keys bounded.
struct LimitWindow {
  std::chrono::steady_clock::time_point started{};
  int lines = 0;
  uint64_t suppressed = 0;
  LogLevel level = LogLevel::warning;
  std::string component;
};
constexpr size_t kMaxLimitKeys = 4096;
std::mutex g_limit_mutex;
std::unordered_map<std::string, LimitWindow> g_limits;
std::chrono::steady_clock::time_point g_last_sweep{};
std::atomic<int64_t> g_limit_window_ms{10000};
std::atomic<bool> g_pending_suppressed{false};  // some window holds lines left out

std::string format_seconds(std::chrono::milliseconds window) {
  auto ms = window.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

std::string kv_text(std::string_view key, std::string_view value) {
  return std::string(key) + "=" + logfmt_value(value);
}

void append_escaped_controls(std::string& line, std::string_view message) {
  for (size_t i = 0; i < message.size(); ++i) {
    char ch = message[i];
    auto c = static_cast<unsigned char>(ch);
    // U+0080..U+009F (C1 controls, e.g. CSI) in UTF-8: terminals act on them too.
    if (c == 0xc2 && i + 1 < message.size() && static_cast<unsigned char>(message[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(message[i + 1]) <= 0x9f) {
      auto next = static_cast<unsigned char>(message[++i]);
      line.append("\\xc2\\x");
      append_hex(line, next);
      continue;
    }
    if (c >= 0x20 && c != 0x7f) {
      line.push_back(ch);
    } else if (c == '\n') {
      line.append("\\n");
    } else if (c == '\r') {
      line.append("\\r");
    } else if (c == '\t') {
      line.append("\\t");
    } else {
      line.append("\\x");
      append_hex(line, c);
    }
  }
}

// `text` as the inside of a JSON string: valid UTF-8 only (a broken sequence becomes U+FFFD), every
// control character (C0, DEL and C1) as \u00XX, so a line is one line and safe on a terminal.
void append_json_escaped(std::string& out, std::string_view text) {
  auto unicode_escape = [&](unsigned cp) {
    out.append("\\u00");
    append_hex(out, static_cast<unsigned char>(cp));
  };
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c == '\n') {
        out.append("\\n");
      } else if (c == '\t') {
        out.append("\\t");
      } else if (c == '\r') {
        out.append("\\r");
      } else if (c < 0x20 || c == 0x7f) {
        unicode_escape(c);
      } else {
        out.push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    // The length and smallest code point of a sequence led by c; 0: not a lead byte.
    size_t len = c >= 0xc2 && c <= 0xdf   ? 2
                 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4
                                          : 0;
    unsigned cp = len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    bool valid = len != 0 && i + len <= text.size();
    for (size_t k = 1; valid && k < len; ++k) {
      auto cont = static_cast<unsigned char>(text[i + k]);
      valid = (cont & 0xc0) == 0x80;
      cp = (cp << 6) | (cont & 0x3f);
    }
    valid = valid && !(len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) &&
            !(len == 4 && (cp < 0x10000 || cp > 0x10ffff));
    if (!valid) {
      out.append("\xef\xbf\xbd");  // U+FFFD
      ++i;
      continue;
    }
    if (cp >= 0x80 && cp <= 0x9f)
      unicode_escape(cp);
    else
      out.append(text.substr(i, len));
    i += len;
  }
}

// The key=value pairs of a logfmt message (values bare or double-quoted with \" and \\), in order;
// a key must start a word and look like one ([a-z_][a-z0-9_.-]*).
std::vector<std::pair<std::string, std::string>> logfmt_pairs(std::string_view message) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t i = 0;
  while (i < message.size()) {
    if (i > 0 && message[i - 1] != ' ') {
      ++i;
      continue;
    }
    size_t k = i;
    auto key_char = [&](size_t at, bool first) {
      char ch = message[at];
      return (ch >= 'a' && ch <= 'z') || ch == '_' ||
             (!first && ((ch >= '0' && ch <= '9') || ch == '.' || ch == '-'));
    };
    while (k < message.size() && key_char(k, k == i)) ++k;
    if (k == i || k >= message.size() || message[k] != '=') {
      i = k == i ? i + 1 : k;
      continue;
    }
    std::string key(message.substr(i, k - i));
    std::string value;
    size_t v = k + 1;
    if (v < message.size() && message[v] == '"') {
      ++v;
      while (v < message.size() && message[v] != '"') {
        if (message[v] == '\\' && v + 1 < message.size()) ++v;
        value.push_back(message[v++]);
      }
      ++v;  // the closing quote
    } else {
      while (v < message.size() && message[v] != ' ') value.push_back(message[v++]);
    }
    out.emplace_back(std::move(key), std::move(value));
    i = v;
  }
  return out;
}

const char* json_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warning:
      return "warning";
    case LogLevel::error:
      return "error";
  }
  return "?";
}

std::string json_line(const char* stamp, LogLevel level, std::string_view component,
                      std::string_view message) {
  std::string line;
  line.reserve(message.size() * 2 + 96);
  line.append("{\"time\":\"").append(stamp).append("\",\"level\":\"");
  line.append(json_level_name(level)).append("\",\"component\":\"");
  append_json_escaped(line, component);
  line.append("\",\"msg\":\"");
  append_json_escaped(line, message);
  line.push_back('"');
  // Fields come from the host's own lines, whose untrusted values kv() quotes; a plugin's message
  // is free text in which anyone could write "integration=other".
  if (component.rfind("plugin:", 0) == 0) return line.append("}\n");
  std::set<std::string> seen{"time", "level", "component", "msg"};
  for (auto& [key, value] : logfmt_pairs(message)) {
    if (seen.size() >= 36) break;
    if (!seen.insert(key).second) continue;  // the first one counts
    line.append(",\"").append(key).append("\":\"");
    append_json_escaped(line, value);
    line.push_back('"');
  }
  return line.append("}\n");
}

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

void Log::set_format(Format format) {
  g_json.store(format == Format::json);
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
  if (g_json.load(std::memory_order_relaxed)) {
    line = json_line(stamp, level, component, message);
  } else {
    line.reserve(message.size() + component.size() + 48);
    line.append(stamp)
        .append(" ")
        .append(level_name(level))
        .append(" [")
        .append(component)
        .append("] ");
    // One record is one line, and no byte of it can drive a terminal.
    append_escaped_controls(line, message);
    line.push_back('\n');
  }
  {
    std::lock_guard lock(g_write_mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }
  // Counts of a kind that fell silent ride on the next line of any kind.
  if (g_pending_suppressed.load(std::memory_order_relaxed)) flush_suppressed(false);
}

namespace {

struct Suppressed {
  LogLevel level;
  std::string component;
  std::string key;
  uint64_t lines;
};

// Under g_limit_mutex: the windows that ended (or every one, `everything`) with lines left out,
// taken from the table (`keep`'s own window stays: its next line reports it).
void take_overdue(std::chrono::steady_clock::time_point now, std::chrono::milliseconds window,
                  std::string_view keep, bool everything, std::vector<Suppressed>& out) {
  bool pending = false;
  for (auto it = g_limits.begin(); it != g_limits.end();) {
    const bool ended = everything || now - it->second.started >= window;
    if (!ended || it->first == keep) {
      pending |= it->second.suppressed > 0;
      ++it;
      continue;
    }
    if (it->second.suppressed > 0)
      out.push_back({it->second.level, it->second.component, it->first, it->second.suppressed});
    it = g_limits.erase(it);
  }
  g_pending_suppressed.store(pending, std::memory_order_relaxed);
}

thread_local bool t_reporting = false;  // a report's own line does not report again

void report(const std::vector<Suppressed>& taken, const std::string& window_text) {
  t_reporting = true;
  for (const auto& r : taken)
    Log::write(r.level, r.component,
               std::to_string(r.lines) + " similar line(s) suppressed in the last " + window_text +
                   " " + kv_text("key", r.key));
  t_reporting = false;
}

}  // namespace

void Log::flush_suppressed(bool everything) {
  if (t_reporting) return;
  const auto window = std::chrono::milliseconds(g_limit_window_ms.load());
  std::vector<Suppressed> taken;
  {
    std::lock_guard lock(g_limit_mutex);
    auto now = std::chrono::steady_clock::now();
    // At most once a second (a flood must not scan the table for every line), unless asked.
    if (!everything && now - g_last_sweep < std::min<std::chrono::steady_clock::duration>(
                                                window, std::chrono::seconds(1)))
      return;
    g_last_sweep = now;
    take_overdue(now, window, {}, everything, taken);
  }
  report(taken, format_seconds(window));
}

void Log::write_limited(LogLevel level, std::string_view component, std::string_view key,
                        std::string_view message) {
  using Clock = std::chrono::steady_clock;
  const auto window = std::chrono::milliseconds(g_limit_window_ms.load());
  const std::string window_text = format_seconds(window);
  std::vector<Suppressed> overdue;
  bool write_this = false;
  uint64_t left_out = 0;
  {
    std::lock_guard lock(g_limit_mutex);
    auto now = Clock::now();
    if (now - g_last_sweep >= std::min<Clock::duration>(window, std::chrono::seconds(1))) {
      g_last_sweep = now;
      take_overdue(now, window, key, false, overdue);
    }
    // A full table is emptied, its counts reported rather than lost.
    if (g_limits.size() >= kMaxLimitKeys && !g_limits.count(std::string(key)))
      take_overdue(now, window, {}, true, overdue);
    LimitWindow& w = g_limits[std::string(key)];
    if (w.lines == 0 && w.suppressed == 0) w.started = now;
    if (now - w.started >= window) {
      left_out = w.suppressed;
      w = LimitWindow{};
      w.started = now;
    }
    w.level = level;
    w.component = std::string(component);
    if (w.lines < kLimitBurst) {
      ++w.lines;
      write_this = true;
    } else {
      ++w.suppressed;
      g_pending_suppressed.store(true, std::memory_order_relaxed);
    }
  }
  report(overdue, window_text);
  if (!write_this) return;
  if (left_out == 0) {
    write(level, component, message);
    return;
  }
  write(level, component,
        std::string(message) + " (" + std::to_string(left_out) +
            " similar line(s) suppressed in the last " + window_text + ")");
}

void Log::set_limit_window(std::chrono::milliseconds window) {
  g_limit_window_ms.store(window.count());
  std::lock_guard lock(g_limit_mutex);
  g_limits.clear();
}

std::string logfmt_value(std::string_view value) {
  bool bare = !value.empty();
  for (unsigned char c : value)
    if (c <= 0x20 || c == '"' || c == '=' || c == '\\' || c >= 0x7f) {
      bare = false;
      break;
    }
  if (bare) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;  // control characters are escaped when the line is written
}

std::ostream& operator<<(std::ostream& out, const LogField& field) {
  return out << field.key << '=' << logfmt_value(field.value);
}

}  // namespace oceand
