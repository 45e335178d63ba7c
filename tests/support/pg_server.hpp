#pragma once

// A real PostgreSQL server of the test's own: initdb into a temporary directory and pg_ctl on a
// free loopback port. PostgreSQL refuses to run as root, so under root (CI) both run as the
// unprivileged user `nobody` (runuser), which owns the data directory.

#include <pwd.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <Poco/Net/ServerSocket.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "queue/pg_connection.hpp"
#include "support/test_host.hpp"

extern char** environ;

namespace oceand::test {

class PgServer {
 public:
  PgServer() {
    bin_ = find_bindir();
    REQUIRE_MESSAGE(!bin_.empty(),
                    "no PostgreSQL server under /usr/lib/postgresql (scripts/setup "
                    "installs the postgresql package)");
    // Under root the server runs as nobody, who must reach the directory: /tmp, not a TMPDIR that
    // may be root's own.
    fs::path base = ::geteuid() == 0 ? fs::path("/tmp") : fs::temp_directory_path();
    std::string pattern = (base / "oceand-pg-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    dir_ = pattern;
    ::chmod(dir_.c_str(), 0755);  // nobody must reach the data directory inside
    data_ = dir_ / "data";
    fs::create_directories(data_);
    if (::geteuid() == 0) {
      struct passwd* nobody = ::getpwnam("nobody");
      REQUIRE(nobody != nullptr);
      REQUIRE(::chown(data_.c_str(), nobody->pw_uid, nobody->pw_gid) == 0);
    }
    {
      Poco::Net::ServerSocket probe(Poco::Net::SocketAddress("127.0.0.1", 0));
      port_ = probe.address().port();
    }
    REQUIRE(run({(bin_ / "initdb").string(), "-D", data_.string(), "--auth=trust", "-U", "oceand",
                 "-E", "UTF8", "--no-sync"}) == 0);
    start();
  }
  ~PgServer() {
    run({(bin_ / "pg_ctl").string(), "-D", data_.string(), "-m", "immediate", "-w", "stop"});
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  // fsync off: these servers live as long as a test; a process crash (not a power loss) is what
  // the tests inflict, and their commits survive that.
  void start() {
    REQUIRE(run({(bin_ / "pg_ctl").string(), "-D", data_.string(), "-l",
                 (data_ / "server.log").string(), "-w", "-t", "30", "-o",
                 "-p " + std::to_string(port_) + " -c listen_addresses=127.0.0.1 -k " +
                     data_.string() + " -c fsync=off -c max_connections=200",
                 "start"}) == 0);
  }
  void stop() {
    REQUIRE(run({(bin_ / "pg_ctl").string(), "-D", data_.string(), "-m", "fast", "-w", "stop"}) ==
            0);
  }
  // A database of its own for one test (the server's default one is "postgres").
  std::string url(const std::string& database = "postgres") const {
    return "postgresql://oceand@127.0.0.1:" + std::to_string(port_) + "/" + database;
  }
  PgRows sql(const std::string& statement, const std::vector<PgParam>& params = {}) {
    PgConnection conn(url());
    return conn.exec(statement, params);
  }
  std::string log() const { return read_file(data_ / "server.log"); }

 private:
  static fs::path find_bindir() {
    std::vector<fs::path> found;
    std::error_code ec;
    for (auto it = fs::directory_iterator("/usr/lib/postgresql", ec);
         !ec && it != fs::directory_iterator(); it.increment(ec))
      if (fs::exists(it->path() / "bin" / "initdb")) found.push_back(it->path() / "bin");
    std::sort(found.begin(), found.end());
    return found.empty() ? fs::path() : found.back();
  }
  // Runs a server command (as nobody under root); its exit status.
  int run(std::vector<std::string> args) {
    if (::geteuid() == 0) args.insert(args.begin(), {"/usr/sbin/runuser", "-u", "nobody", "--"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    std::string out = (dir_ / "commands.log").string();
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    // The server's cwd must be readable by nobody.
    posix_spawn_file_actions_addchdir_np(&actions, dir_.c_str());
    pid_t pid = 0;
    int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return -1;
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  fs::path bin_, dir_, data_;
  int port_ = 0;
};

}  // namespace oceand::test
