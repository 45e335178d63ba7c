#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace oceand {

// How often each queued event was running when a plugin crashed the process. The fatal-signal
// handler (core/busy_marks.hpp) appends one line per busy event to the file; a later start reads
// them back, so an event that keeps crashing oceand is dead-lettered (reason "crashed") instead of
// crash-looping it. The file sits beside the durable queue (`<queue.path>.crashes`, mode 0600):
//
//   crash event=17 signal=SIGSEGV integration="github" processor="PushProcessor" plugin="gh.so"
//
// Lines that cannot be read are skipped: the ledger only ever makes oceand more careful.
class CrashLedger {
 public:
  struct Entry {
    unsigned crashes = 0;
    std::string signal, integration, processor, plugin;  // of the latest crash
  };

  // Opens (creating) the file and reads what earlier processes wrote. Throws std::runtime_error
  // naming the file when it cannot be opened.
  explicit CrashLedger(std::string path);
  ~CrashLedger();
  CrashLedger(const CrashLedger&) = delete;
  CrashLedger& operator=(const CrashLedger&) = delete;

  // The descriptor the signal handler appends to (O_APPEND).
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  std::optional<Entry> find(uint64_t event_id) const;
  // The event left the queue (processed or dead-lettered): its lines are dropped from the file.
  void forget(uint64_t event_id);
  bool empty() const { return size_.load(std::memory_order_relaxed) == 0; }

 private:
  void rewrite_locked();

  std::string path_;
  int fd_ = -1;
  mutable std::mutex mutex_;
  std::map<uint64_t, Entry> entries_;
  std::atomic<size_t> size_{0};
};

}  // namespace oceand
