// The real oceand binary, as ops run it: start, serve the example plugin, stop on SIGTERM.
#include <doctest/doctest.h>

#include <signal.h>

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>

#include "support/oceand_process.hpp"

using namespace oceand;
using namespace oceand::test;

TEST_CASE("oceand serves the example plugin and stops cleanly on SIGTERM") {
  TempDir dir;
  fs::create_directories(dir.path() / "plugins");
  fs::copy_file(plugin_file("example"), dir.path() / "plugins" / "example.so");
  write_file(dir.path() / "oceand.yaml",
             "server: {host: 127.0.0.1, port: 0}\nqueue: {backend: memory}\n"
             "plugins: {dir: " +
                 (dir.path() / "plugins").string() +
                 ", cache_dir: " + (dir.path() / "cache").string() +
                 "}\nport: {local_db: " + (dir.path() / "entities.db").string() +
                 "}\nintegrations:\n  example:\n    mapping: " + OCEAN_SOURCE_DIR +
                 "/config/example/port-app-config.yaml\n");
  fs::path log = dir.path() / "oceand.log";
  OceandProcess oceand({"--config", (dir.path() / "oceand.yaml").string()}, log);
  int port = 0;
  REQUIRE(wait_until([&] { return (port = listening_port(log)) != 0; }));
  std::string base = "http://127.0.0.1:" + std::to_string(port);
  auto r = HttpClient::request(
      "POST", base + "/integration/example/webhook",
      {{"Content-Type", "application/x-www-form-urlencoded"}},  // what curl -d sends
      R"({"id": 42, "title": "hello"})", std::chrono::seconds(5));
  CHECK(r.status == 200);
  CHECK(r.body == R"({"status":"ok"})");
  REQUIRE(wait_until([&] { return read_file(log).find("outcome=ok") != std::string::npos; }));
  std::string text = read_file(log);
  CHECK(text.find("example event 42 for kind example") != std::string::npos);
  CHECK(
      text.find(
          "integration=example route=/webhook processor=ExampleProcessor outcome=ok attempts=1") !=
      std::string::npos);
  oceand.signal(SIGTERM);
  CHECK(oceand.wait_exit(std::chrono::seconds(10)) == 0);
  CHECK(read_file(log).find("stopped") != std::string::npos);
}

TEST_CASE("oceand --check reports refused plugins and exits non-zero") {
  TempDir dir;
  fs::create_directories(dir.path() / "plugins");
  fs::copy_file(plugin_file("example"), dir.path() / "plugins" / "example.so");
  write_file(dir.path() / "plugins" / "broken.so", "not a library");
  write_file(dir.path() / "oceand.yaml", "plugins: {dir: " + (dir.path() / "plugins").string() +
                                             ", cache_dir: " + (dir.path() / "cache").string() +
                                             "}\n");
  fs::path log = dir.path() / "check.log";
  OceandProcess check({"--check", "--config", (dir.path() / "oceand.yaml").string()}, log);
  CHECK(check.wait_exit(std::chrono::seconds(20)) == 1);
  std::string text = read_file(log);
  CHECK(text.find("plugin  ok       " + (dir.path() / "plugins" / "example.so").string() +
                  " (checked without running it)") != std::string::npos);
  CHECK(text.find("REFUSED") != std::string::npos);
  CHECK(text.find("broken.so: not an ELF shared library") != std::string::npos);
  // Nothing was run, so nothing was copied into the plugin cache.
  CHECK_FALSE(fs::exists(dir.path() / "cache"));

  fs::remove(dir.path() / "plugins" / "broken.so");
  OceandProcess ok({"--check", "--config", (dir.path() / "oceand.yaml").string()},
                   dir.path() / "ok.log");
  CHECK(ok.wait_exit(std::chrono::seconds(20)) == 0);
}

TEST_CASE("oceand refuses a bad configuration with a clear message") {
  TempDir dir;
  write_file(dir.path() / "oceand.yaml", "event_workers_count: -1\n");
  fs::path log = dir.path() / "bad.log";
  OceandProcess bad({"--config", (dir.path() / "oceand.yaml").string()}, log);
  CHECK(bad.wait_exit(std::chrono::seconds(20)) == 1);
  CHECK(read_file(log).find("configuration error: event_workers_count") != std::string::npos);
}

TEST_CASE("oceand names the address when its port is taken") {
  // Poco's exceptions say only their kind in what() ("Net Exception"); the log must say why.
  Poco::Net::ServerSocket taken(Poco::Net::SocketAddress("127.0.0.1", 0));
  TempDir dir;
  write_file(dir.path() / "oceand.yaml",
             "server: {host: 127.0.0.1, port: " + std::to_string(taken.address().port()) +
                 "}\nplugins: {dir: " + (dir.path() / "plugins").string() +
                 "}\nqueue: {backend: memory}\n");
  fs::path log = dir.path() / "taken.log";
  OceandProcess oceand({"--config", (dir.path() / "oceand.yaml").string()}, log);
  CHECK(oceand.wait_exit(std::chrono::seconds(20)) == 1);
  std::string text = read_file(log);
  CAPTURE(text);
  CHECK(text.find("fatal: Net Exception: Address already in use") != std::string::npos);
}
