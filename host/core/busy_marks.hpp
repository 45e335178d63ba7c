#pragma once

#include <cstdint>
#include <string>

namespace oceand {

// What each thread is running inside plugin code, kept where a fatal-signal handler can read it
// without locks or allocation. A plugin that crashes the process (segfault, abort, terminate)
// takes every thread with it; the handler names what every busy thread was running, writes it to
// the log, and appends one record per event to the crash ledger (processing/crash_ledger.hpp) so
// that the next start can count how often an event brought oceand down.
//
// The strings a mark points to must outlive it: they belong to the event job and the plugin
// generation the call pins, both alive for the length of the call.
class BusyMark {
 public:
  struct What {
    uint64_t event_id = 0;  // 0: not an event (a direct route, on_start)
    const std::string* integration = nullptr;
    const std::string* processor = nullptr;
    const std::string* plugin_file = nullptr;
    const char* hook = "";  // a string literal
  };
  explicit BusyMark(const What& what);
  ~BusyMark();
  BusyMark(const BusyMark&) = delete;
  BusyMark& operator=(const BusyMark&) = delete;

 private:
  int slot_;
  bool outer_;
};

// Installs handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT (std::terminate ends in
// abort). Each writes one log line per busy thread to stderr and, when `ledger_fd` >= 0, one
// ledger record per busy event; then it restores the default action and re-raises, so the exit
// status and core dump are the signal's as before. Call once, before workers start.
void install_fatal_signal_handlers(int ledger_fd);
// The ledger the handlers write to, changed when the queue is reopened (tests start several hosts).
void set_crash_ledger_fd(int ledger_fd);

}  // namespace oceand
