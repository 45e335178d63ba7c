#pragma once

// The real oceand binary, started as ops start it, for tests that need a whole process: signals,
// SIGKILL, file descriptors and threads.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <regex>
#include <sstream>

#include "support/test_host.hpp"

extern char** environ;

namespace oceand::test {

class OceandProcess {
 public:
  OceandProcess(const std::vector<std::string>& args, const fs::path& log) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_APPEND, 0644);
    std::vector<char*> argv{const_cast<char*>(OCEAND_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    REQUIRE(posix_spawn(&pid_, OCEAND_BINARY, &actions, nullptr, argv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&actions);
  }
  ~OceandProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  // Exit status, or -1 when it did not exit within the deadline.
  int wait_exit(std::chrono::milliseconds deadline) {
    int status = 0;
    bool exited = wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, deadline);
    if (!exited) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void signal(int sig) { ::kill(pid_, sig); }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

inline int listening_port(const fs::path& log) {
  static const std::regex re("listening on [0-9.]+:([0-9]+)");
  std::smatch m;
  std::string text = read_file(log);
  return std::regex_search(text, m, re) ? std::stoi(m[1]) : 0;
}

// What /proc says about a process: open descriptors, threads, resident memory.
struct ProcessFootprint {
  size_t fds = 0;
  size_t threads = 0;
  size_t rss_kib = 0;
};

inline ProcessFootprint footprint(pid_t pid) {
  ProcessFootprint f;
  std::error_code ec;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec))
    ++f.fds;
  std::istringstream status(read_file("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) f.threads = std::stoul(line.substr(8));
    if (line.rfind("VmRSS:", 0) == 0) f.rss_kib = std::stoul(line.substr(6));
  }
  return f;
}

}  // namespace oceand::test
