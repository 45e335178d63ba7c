#pragma once

// The real oceand binary, started as ops start it, for tests that need a whole process: signals,
// SIGKILL, file descriptors and threads.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <cmath>
#include <regex>
#include <sstream>

#include "support/test_host.hpp"

extern char** environ;

namespace oceand::test {

class OceandProcess {
 public:
  // `extra_env`: NAME=value entries added to this process's environment for the child.
  OceandProcess(const std::vector<std::string>& args, const fs::path& log,
                const std::vector<std::string>& extra_env = {}) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_APPEND, 0644);
    std::vector<char*> argv{const_cast<char*>(OCEAND_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (char** e = environ; e && *e; ++e) envp.push_back(*e);
    // The admin listener on an ephemeral port unless the test says otherwise, so that tests run
    // side by side.
    env_ = extra_env;
    if (std::none_of(env_.begin(), env_.end(),
                     [](const std::string& e) { return e.rfind("OCEAN__ADMIN__LISTEN=", 0) == 0; }))
      env_.push_back("OCEAN__ADMIN__LISTEN=127.0.0.1:0");
    for (const auto& e : env_) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    REQUIRE(posix_spawn(&pid_, OCEAND_BINARY, &actions, nullptr, argv.data(), envp.data()) == 0);
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
  std::vector<std::string> env_;
};

inline int listening_port(const fs::path& log) {
  static const std::regex re("\\] listening on [0-9.]+:([0-9]+)");
  std::smatch m;
  std::string text = read_file(log);
  return std::regex_search(text, m, re) ? std::stoi(m[1]) : 0;
}

inline int admin_listening_port(const fs::path& log) {
  static const std::regex re("admin listening on [^ \\n]+:([0-9]+)");
  std::smatch m;
  std::string text = read_file(log);
  return std::regex_search(text, m, re) ? std::stoi(m[1]) : 0;
}

// An oceand started on `config`, once it listens (its log says where; the log must be info or
// finer, and a new file for each start so that an older "listening on" is not read).
class ServingOceand {
 public:
  ServingOceand(const fs::path& config, const fs::path& log,
                const std::vector<std::string>& extra_env = {})
      : process_({"--config", config.string()}, log, extra_env) {
    REQUIRE_MESSAGE(wait_until([&] { return (port_ = listening_port(log)) != 0; }), read_file(log));
    // The admin listener's line follows the main one's (or says there is none).
    REQUIRE_MESSAGE(wait_until([&] {
                      return (admin_port_ = admin_listening_port(log)) != 0 ||
                             read_file(log).find("no admin listener") != std::string::npos;
                    }),
                    read_file(log));
  }
  OceandProcess& process() { return process_; }
  int port() const { return port_; }
  int admin_port() const { return admin_port_; }
  // /admin/* and /api/* go to the admin listener (where loopback needs no token), the rest to
  // the main one; main_url() reaches the main listener whatever the path.
  std::string url(const std::string& path) const {
    bool admin = path.rfind("/admin/", 0) == 0 || path.rfind("/api/", 0) == 0;
    return "http://127.0.0.1:" + std::to_string(admin && admin_port_ ? admin_port_ : port_) + path;
  }
  std::string main_url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  HttpResult post(const std::string& path, const std::string& body, const HeaderList& headers) {
    return HttpClient::request("POST", url(path), headers, body, std::chrono::seconds(10));
  }
  HttpResult get(const std::string& path) {
    return HttpClient::request("GET", url(path), {}, "", std::chrono::seconds(10));
  }
  double metric(const std::string& name,
                const std::vector<std::pair<std::string, std::string>>& labels = {});

 private:
  OceandProcess process_;
  int port_ = 0;
  int admin_port_ = 0;
};

// Sum of the samples of `name` in Prometheus text whose labels include every one of `labels`
// (a process under test is only reachable through /metrics).
inline double prometheus_sum(const std::string& text, const std::string& name,
                             const std::vector<std::pair<std::string, std::string>>& labels = {}) {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t name_end = line.find_first_of("{ ");
    if (name_end == std::string::npos || line.compare(0, name_end, name) != 0 ||
        name_end != name.size())
      continue;
    size_t value_at = line.rfind(' ');
    std::string label_text = line.substr(name_end, value_at - name_end);
    bool all = true;
    for (const auto& [k, v] : labels)
      all = all && label_text.find(k + "=\"" + v + "\"") != std::string::npos;
    if (all) sum += std::stod(line.substr(value_at + 1));
  }
  return sum;
}

// NaN when /metrics does not answer, so a comparison with it fails.
inline double ServingOceand::metric(
    const std::string& name, const std::vector<std::pair<std::string, std::string>>& labels) {
  HttpResult r = get("/metrics");
  return r.status == 200 ? prometheus_sum(r.body, name, labels) : std::nan("");
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
