#include "core/busy_marks.hpp"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

namespace oceand {

namespace {

// Slots are handed out to threads once and never given back: a thread that ends leaves its slot
// empty. 1,024 covers the workers, dispatcher, HTTP and start threads with room for abandoned ones;
// a thread past that simply is not reported.
constexpr int kSlots = 1024;

struct Slot {
  std::atomic<uint64_t> event_id{0};
  std::atomic<const std::string*> integration{nullptr};
  std::atomic<const std::string*> processor{nullptr};
  std::atomic<const std::string*> plugin_file{nullptr};
  std::atomic<const char*> hook{nullptr};
  std::atomic<bool> busy{false};
};

Slot g_slots[kSlots];
std::atomic<int> g_next_slot{0};
std::atomic<int> g_ledger_fd{-1};
thread_local int t_slot = -2;  // -2: none yet, -1: none left

int my_slot() {
  if (t_slot == -2) {
    int n = g_next_slot.fetch_add(1, std::memory_order_relaxed);
    t_slot = n < kSlots ? n : -1;
  }
  return t_slot;
}

// --- async-signal-safe output: fixed buffers, write(2), no allocation or locks ---

struct Out {
  char buf[1024];
  size_t len = 0;
  void add(const char* s, size_t n) {
    for (size_t i = 0; i < n && len < sizeof buf - 1; ++i) {
      char c = s[i];
      // Names come from config and plugins: keep the line one line, and logfmt-safe.
      if (c == '\n' || c == '\r' || c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
        c = '?';
      buf[len++] = c;
    }
  }
  void add(const char* s) { add(s, s ? strlen(s) : 0); }
  // Our own literal text, quotes included (add() would mask them).
  void literal(const char* s) {
    for (; *s && len < sizeof buf - 1; ++s) buf[len++] = *s;
  }
  void add(const std::string* s) {
    if (s)
      add(s->data(), s->size());
    else
      add("-");
  }
  void add(uint64_t v) {
    char digits[24];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v && n < 24);
    while (n) add(&digits[--n], 1);
  }
  void flush(int fd) {
    buf[len++] = '\n';
    size_t done = 0;
    while (done < len) {
      ssize_t w = ::write(fd, buf + done, len - done);
      if (w <= 0) break;
      done += static_cast<size_t>(w);
    }
    len = 0;
  }
};

const char* signal_name(int sig) {
  switch (sig) {
    case SIGSEGV:
      return "SIGSEGV";
    case SIGBUS:
      return "SIGBUS";
    case SIGILL:
      return "SIGILL";
    case SIGFPE:
      return "SIGFPE";
    case SIGABRT:
      return "SIGABRT";
    default:
      return "signal";
  }
}

std::atomic<bool> g_in_handler{false};

void on_fatal_signal(int sig) {
  if (!g_in_handler.exchange(true)) {
    int reported = 0;
    int used = g_next_slot.load(std::memory_order_relaxed);
    if (used > kSlots) used = kSlots;
    const int ledger = g_ledger_fd.load(std::memory_order_relaxed);
    for (int i = 0; i < used; ++i) {
      Slot& s = g_slots[i];
      if (!s.busy.load(std::memory_order_acquire)) continue;
      ++reported;
      Out line;
      line.add("ERROR [crash] fatal ");
      line.add(signal_name(sig));
      line.add(" while a thread ran plugin=");
      line.add(s.plugin_file.load());
      line.add(" integration=");
      line.add(s.integration.load());
      line.add(" processor=");
      line.add(s.processor.load());
      line.add(" hook=");
      line.add(s.hook.load());
      line.add(" event=");
      line.add(s.event_id.load());
      line.flush(STDERR_FILENO);
      if (ledger >= 0 && s.event_id.load() != 0) {
        Out record;
        record.add("crash event=");
        record.add(s.event_id.load());
        record.add(" signal=");
        record.add(signal_name(sig));
        record.literal(" integration=\"");
        record.add(s.integration.load());
        record.literal("\" processor=\"");
        record.add(s.processor.load());
        record.literal("\" plugin=\"");
        record.add(s.plugin_file.load());
        record.literal("\"");
        record.flush(ledger);
      }
    }
    if (reported == 0) {
      Out line;
      line.add("ERROR [crash] fatal ");
      line.add(signal_name(sig));
      line.add(" while no thread ran plugin code");
      line.flush(STDERR_FILENO);
    }
    if (ledger >= 0) ::fdatasync(ledger);
  }
  // Default action, then the same signal again: the exit status and core dump stay the signal's.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
  ::raise(sig);
}

}  // namespace

BusyMark::BusyMark(const What& what) : slot_(my_slot()), outer_(false) {
  if (slot_ < 0) return;
  Slot& s = g_slots[slot_];
  // A hook that calls back into the host which calls a plugin again (register_raw from a handler)
  // keeps the outer mark: the outer event is what was running.
  if (s.busy.load(std::memory_order_relaxed)) return;
  outer_ = true;
  s.event_id.store(what.event_id, std::memory_order_relaxed);
  s.integration.store(what.integration, std::memory_order_relaxed);
  s.processor.store(what.processor, std::memory_order_relaxed);
  s.plugin_file.store(what.plugin_file, std::memory_order_relaxed);
  s.hook.store(what.hook, std::memory_order_relaxed);
  s.busy.store(true, std::memory_order_release);
}

BusyMark::~BusyMark() {
  if (slot_ >= 0 && outer_) g_slots[slot_].busy.store(false, std::memory_order_release);
}

void install_fatal_signal_handlers(int ledger_fd) {
  g_ledger_fd.store(ledger_fd);
  struct sigaction sa {};
  sa.sa_handler = &on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  // SA_ONSTACK: a stack overflow in a plugin still gets its line (each thread that wants it sets
  // an alternate stack; without one the handler runs on the thread's stack as before).
  sa.sa_flags = SA_ONSTACK;
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) ::sigaction(sig, &sa, nullptr);
}

void set_crash_ledger_fd(int ledger_fd) {
  g_ledger_fd.store(ledger_fd);
}

}  // namespace oceand
