#include "queue/crash_ledger.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "core/log.hpp"

namespace oceand {

namespace {

// The value of `key=` in a ledger line: digits or a word up to the next space, or a "quoted"
// string (the handler replaces quotes inside names, so the next quote ends it).
std::string field(const std::string& line, const std::string& key) {
  auto at = line.find(" " + key + "=");
  if (at == std::string::npos) return {};
  at += key.size() + 2;
  if (at < line.size() && line[at] == '"') {
    auto end = line.find('"', at + 1);
    return end == std::string::npos ? std::string() : line.substr(at + 1, end - at - 1);
  }
  auto end = line.find(' ', at);
  return line.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

std::string read_all(int fd) {
  std::string text;
  char buf[8192];
  ::lseek(fd, 0, SEEK_SET);
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > (16u << 20)) break;  // a ledger is a few lines; never read without end
  }
  return text;
}

}  // namespace

CrashLedger::CrashLedger(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0)
    throw std::runtime_error("cannot open crash ledger " + path_ + ": " + std::strerror(errno));
  std::string text = read_all(fd_);
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) break;  // a line cut short by the crash itself
    std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.rfind("crash ", 0) != 0) continue;
    std::string id_text = field(line, "event");
    uint64_t id = 0;
    auto [ptr, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
    if (ec != std::errc() || ptr != id_text.data() + id_text.size() || id == 0) continue;
    Entry& e = entries_[id];
    ++e.crashes;
    e.signal = field(line, "signal");
    e.integration = field(line, "integration");
    e.processor = field(line, "processor");
    e.plugin = field(line, "plugin");
  }
  size_ = entries_.size();
  for (const auto& [id, e] : entries_)
    OCEAND_LOG_WARN("crash") << "event " << id << " was running when oceand crashed " << e.crashes
                             << " time(s), last in plugin=" << e.plugin
                             << " integration=" << e.integration << " processor=" << e.processor
                             << " (" << e.signal << ")";
}

CrashLedger::~CrashLedger() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<CrashLedger::Entry> CrashLedger::find(uint64_t event_id) const {
  if (empty()) return std::nullopt;
  std::lock_guard lock(mutex_);
  auto it = entries_.find(event_id);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void CrashLedger::forget(uint64_t event_id) {
  if (empty()) return;
  std::lock_guard lock(mutex_);
  if (entries_.erase(event_id) == 0) return;
  size_ = entries_.size();
  rewrite_locked();
}

// Rare (an event that crashed once left the queue), so a plain rewrite of the few lines left.
void CrashLedger::rewrite_locked() {
  std::string text;
  for (const auto& [id, e] : entries_)
    for (unsigned i = 0; i < e.crashes; ++i)
      text += "crash event=" + std::to_string(id) + " signal=" + e.signal + " integration=\"" +
              e.integration + "\" processor=\"" + e.processor + "\" plugin=\"" + e.plugin + "\"\n";
  if (::ftruncate(fd_, 0) != 0) {
    OCEAND_LOG_WARN("crash") << path_ << ": cannot rewrite: " << std::strerror(errno);
    return;
  }
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::fdatasync(fd_);
}

}  // namespace oceand
