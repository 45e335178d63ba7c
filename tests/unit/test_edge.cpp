// The edge (issue 17) on the real oceand binary: what an attacker on the internet can send to
// /integration/... and what it must not be able to do.
#include <doctest/doctest.h>

#include <sched.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include <rapidjson/document.h>

#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>

#include "fakes/fake_github.hpp"
#include "ocean/sdk.hpp"
#include "support/oceand_process.hpp"

using namespace oceand;
using namespace oceand::test;

namespace {

const std::string kSecret = "edge-github-secret";

std::string corpus(const std::string& integration, const std::string& file) {
  std::string text = read_file(fs::path(OCEAN_CORPORA_DIR) / integration / file);
  REQUIRE_FALSE(text.empty());
  return text;
}

// The bundled GitHub plugin with a webhook secret, a queue of the given backend and the embedded
// catalog, against a fake GitHub API.
class GithubRig {
 public:
  // `extra_env`: OCEAN__... overrides given to the process.
  GithubRig(FakeGithub& github, const std::string& backend,
            const std::vector<std::string>& extra_env = {}) {
    const fs::path& d = dir_.path();
    fs::create_directories(d / "plugins");
    fs::copy_file(plugin_file("github"), d / "plugins" / "github.so");
    std::string yaml = "server: {host: 127.0.0.1, port: 0}\nlog_level: info\nbase_url: \"\"\n";
    yaml += "plugins: {dir: " + (d / "plugins").string() +
            ", cache_dir: " + (d / "cache").string() + "}\n";
    yaml += "queue: {backend: " + backend + ", path: " + queue_path().string() + "}\n";
    yaml += "port: {applier: local, local_db: " + (d / "entities.db").string() + "}\n";
    yaml += "integrations:\n  github:\n    plugin: github\n    mapping: " +
            std::string(OCEAN_SOURCE_DIR) + "/config/github/port-app-config.yaml\n" +
            "    config: {webhook_secret: " + kSecret + ", api_url: \"" + github.url() +
            "\", token: t}\n";
    write_file(d / "oceand.yaml", yaml);
    oceand_ = std::make_unique<ServingOceand>(d / "oceand.yaml", d / "oceand.log", extra_env);
  }

  ServingOceand& oceand() { return *oceand_; }
  fs::path queue_path() const { return dir_.path() / "queue.db"; }
  std::string log() const { return read_file(dir_.path() / "oceand.log"); }

  // As GitHub sends it; `secret` empty: unsigned.
  HttpResult send(const std::string& event, const std::string& body, const std::string& delivery,
                  const std::string& secret) {
    HeaderList headers = {{"Content-Type", "application/json"},
                          {"X-GitHub-Event", event},
                          {"X-GitHub-Delivery", delivery}};
    if (!secret.empty())
      headers.emplace_back("X-Hub-Signature-256", "sha256=" + ocean::hmac_sha256_hex(secret, body));
    return oceand_->post("/integration/github/webhook", body, headers);
  }
  double outcome(const std::string& outcome) {
    return oceand_->metric("oceand_events_processed_total",
                           {{"integration", "github"}, {"outcome", outcome}});
  }
  // Every event answered 200 was finished.
  bool drained() { return oceand_->metric("oceand_queue_depth") == 0; }

 private:
  TempDir dir_;
  std::unique_ptr<ServingOceand> oceand_;
};

// The example plugin and the embedded catalog (in var/); `queue`: the queue section. Returns the
// config file.
fs::path example_config(const fs::path& dir, const std::string& queue = "{backend: memory}") {
  fs::create_directories(dir / "plugins");
  if (!fs::exists(dir / "plugins" / "example.so"))
    fs::copy_file(plugin_file("example"), dir / "plugins" / "example.so");
  write_file(dir / "oceand.yaml",
             "server: {host: 127.0.0.1, port: 0}\nlog_level: info\nplugins: {dir: " +
                 (dir / "plugins").string() + ", cache_dir: " + (dir / "cache").string() +
                 "}\nqueue: " + queue +
                 "\nport: {applier: local, local_db: " + (dir / "var" / "entities.db").string() +
                 "}\nintegrations:\n  example:\n    plugin: example\n    mapping: " +
                 OCEAN_SOURCE_DIR + "/config/example/port-app-config.yaml\n");
  return dir / "oceand.yaml";
}

// Rows in the deliveries table of a queue file (read beside the running oceand: WAL readers do
// not block its writer).
int64_t recorded_deliveries(const fs::path& queue) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(queue.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* count = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM deliveries", -1, &count, nullptr) ==
          SQLITE_OK);
  REQUIRE(sqlite3_step(count) == SQLITE_ROW);
  int64_t n = sqlite3_column_int64(count, 0);
  sqlite3_finalize(count);
  sqlite3_close(db);
  return n;
}

}  // namespace

TEST_CASE("edge: a forged delivery never suppresses the genuine one, in either order") {
  const std::string pr = corpus("github", "pull_request__opened.payload.json");
  const std::string star = R"({"action": "created", "starred_at": "2026-12-01T00:00:00Z"})";
  for (const char* backend : {"memory", "sqlite"}) {
    CAPTURE(backend);
    FakeGithub github;
    github.serve_payload(pr);
    GithubRig rig(github, backend);

    // Forged first, of another event type (the issue's unsigned `star`), the genuine right behind.
    CHECK(rig.send("star", star, "D1", "").status == 200);
    CHECK(rig.send("pull_request", pr, "D1", kSecret).status == 200);
    REQUIRE_MESSAGE(wait_until([&] { return rig.outcome("ok") == 1 && rig.drained(); }), rig.log());

    // Genuine first, a forged copy (wrong signature) right behind: the genuine is applied once.
    CHECK(rig.send("pull_request", pr, "D2", kSecret).status == 200);
    CHECK(rig.send("pull_request", pr, "D2", "not-the-secret").status == 200);
    REQUIRE_MESSAGE(wait_until([&] { return rig.outcome("ok") == 2 && rig.drained(); }), rig.log());

    // GitHub's redelivery of an authenticated delivery is processed once.
    CHECK(rig.send("pull_request", pr, "D2", kSecret).status == 200);
    REQUIRE(wait_until([&] { return rig.drained(); }));
    CHECK(rig.outcome("ok") == 2);
    CHECK(rig.oceand().metric("oceand_events_duplicate_total") >= 1);

    // A flood of unsigned deliveries is rejected and records no delivery id.
    for (int i = 0; i < 100; ++i)
      REQUIRE(rig.send("pull_request", pr, "forged-" + std::to_string(i), "").status == 200);
    REQUIRE(wait_until([&] { return rig.drained(); }));
    CHECK(rig.outcome("ok") == 2);
    CHECK(rig.outcome("rejected") >= 100);
    if (std::string(backend) == "sqlite") CHECK(recorded_deliveries(rig.queue_path()) == 2);
  }
}

TEST_CASE("edge: a secret from the environment arrives verbatim whatever its first character") {
  const std::string pr = corpus("github", "pull_request__opened.payload.json");
  FakeGithub github;
  github.serve_payload(pr);
  // Each of these would be YAML (a map, a list, an alias, a tag, a comment, null, a bool) if the
  // value were parsed; "{x}" used to be read as a map and dropped, and signatures went unchecked.
  const std::vector<std::string> secrets = {"{x}",   "[a, b]",     "*ref", "&anchor", "!tag",
                                            "#hash", "\"quoted\"", "null", "~",       "yes"};
  for (const auto& secret : secrets) {
    CAPTURE(secret);
    GithubRig rig(github, "memory",
                  {"OCEAN__INTEGRATIONS__GITHUB__CONFIG__WEBHOOK_SECRET=" + secret});
    CHECK(rig.send("pull_request", pr, "unsigned", "").status == 200);
    CHECK(rig.send("pull_request", pr, "file-secret", kSecret).status == 200);
    CHECK(rig.send("pull_request", pr, "env-secret", secret).status == 200);
    REQUIRE_MESSAGE(wait_until([&] { return rig.drained() && rig.outcome("ok") == 1; }), rig.log());
    CHECK(rig.outcome("rejected") == 2);
  }
}

TEST_CASE("edge: a secret that is not a string stops start with the key named") {
  TempDir dir;
  fs::create_directories(dir.path() / "plugins");
  for (const char* yaml :
       {"    config: {webhook_secret: {x: 1}}\n", "    config: {webhook_secret: [a]}\n",
        "    config: {webhook_secret: }\n"}) {
    CAPTURE(yaml);
    write_file(dir.path() / "oceand.yaml",
               "plugins: {dir: " + (dir.path() / "plugins").string() +
                   "}\nqueue: {backend: memory}\nintegrations:\n  github:\n" + yaml);
    for (bool check : {true, false}) {
      std::vector<std::string> args = {"--config", (dir.path() / "oceand.yaml").string()};
      if (check) args.push_back("--check");
      OceandProcess p(args, dir.path() / "oceand.log");
      CHECK(p.wait_exit(std::chrono::seconds(10)) != 0);
      CHECK(read_file(dir.path() / "oceand.log")
                .find("integrations.github.config.webhook_secret: a secret must be a string") !=
            std::string::npos);
    }
  }
}

TEST_CASE("edge: the example plugin's direct route writes the catalog only when signed") {
  TempDir dir;
  const fs::path& d = dir.path();
  example_config(d);
  const std::string body = R"({"upsert": [{"id": "direct-1"}]})";
  auto items = [&](ServingOceand& o, const std::string& secret) {
    HeaderList headers{{"Content-Type", "application/json"}};
    if (!secret.empty())
      headers.emplace_back("X-Hub-Signature-256", "sha256=" + ocean::hmac_sha256_hex(secret, body));
    return o.post("/integration/example/items", body, headers).status;
  };
  {
    // The shipped shape: no secret. The route is off.
    ServingOceand o(d / "oceand.yaml", d / "off.log");
    CHECK(items(o, "") == 403);
    CHECK(o.get("/api/entities/example/direct-1").status == 404);
  }
  ServingOceand o(d / "oceand.yaml", d / "on.log",
                  {"OCEAN__INTEGRATIONS__EXAMPLE__CONFIG__WEBHOOK_SECRET=direct-secret"});
  CHECK(items(o, "") == 401);
  CHECK(items(o, "guess") == 401);
  CHECK(o.get("/api/entities/example/direct-1").status == 404);
  CHECK(items(o, "direct-secret") == 200);
  CHECK(o.get("/api/entities/example/direct-1").status == 200);
}

namespace {

// One request on a fresh connection; everything the server answered until it closed.
std::string exchange(int port, const std::string& request) {
  Poco::Net::StreamSocket socket(
      Poco::Net::SocketAddress("127.0.0.1", static_cast<uint16_t>(port)));
  socket.setReceiveTimeout(Poco::Timespan(10, 0));
  socket.sendBytes(request.data(), static_cast<int>(request.size()));
  std::string out;
  char buffer[4096];
  for (;;) {
    int n = socket.receiveBytes(buffer, sizeof buffer);
    if (n <= 0) return out;
    out.append(buffer, static_cast<size_t>(n));
  }
}

}  // namespace

TEST_CASE("edge: HTTP nits: Host, Expect, entity pages past the end, identifiers with '/'") {
  TempDir dir;
  const fs::path& d = dir.path();
  example_config(d);
  ServingOceand o(d / "oceand.yaml", d / "oceand.log");
  auto status_of = [](const std::string& answer) { return answer.substr(0, 12); };

  CHECK(status_of(exchange(o.port(), "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")) ==
        "HTTP/1.1 400");
  CHECK(status_of(exchange(
            o.port(), "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n")) ==
        "HTTP/1.1 400");
  CHECK(status_of(exchange(o.port(), "GET /health HTTP/1.0\r\n\r\n")) == "HTTP/1.0 200");
  CHECK(status_of(exchange(o.port(),
                           "POST /integration/example/webhook HTTP/1.1\r\nHost: t\r\n"
                           "Expect: the-moon\r\nContent-Length: 9\r\n\r\n{\"id\": 1}")) ==
        "HTTP/1.1 417");
  CHECK(o.metric("oceand_events_received_total") == 0);

  CHECK(o.post("/integration/example/webhook", R"({"id": "team/service"})", {}).status == 200);
  CHECK(o.post("/integration/example/webhook", R"({"id": "plain"})", {}).status == 200);
  REQUIRE(wait_until([&] { return o.get("/api/entities/example/plain").status == 200; }));
  REQUIRE(wait_until([&] { return o.get("/api/entities/example/team%2Fservice").status == 200; }));
  auto slash = o.get("/api/entities/example/team%2Fservice");
  CHECK(slash.body.find(R"("identifier":"team/service")") != std::string::npos);
  CHECK(o.get("/api/entities/example/team/service").status == 404);

  for (const char* offset :
       {"2", "1000", "9223372036854775808", "18446744073709551615", "99999999999999999999999999"}) {
    CAPTURE(offset);
    auto page = o.get(std::string("/api/entities?blueprint=example&offset=") + offset);
    CHECK(page.status == 200);
    CHECK(page.body.find(R"("total":2,"entities":[])") != std::string::npos);
  }
  CHECK(o.get("/api/entities?blueprint=example&offset=-1").status == 400);
}

TEST_CASE("edge: logs are safe to parse: escaped, quoted, and an unsigned flood rate-limited") {
  const std::string pr = corpus("github", "pull_request__opened.payload.json");
  FakeGithub github;
  github.serve_payload(pr);
  GithubRig rig(github, "memory");
  // A delivery id with a terminal escape and quotes, as a sender may send it.
  const std::string hostile = "d\x1b[2J\"quoted\" id";
  CHECK(rig.send("pull_request", pr, hostile, kSecret).status == 200);
  REQUIRE(wait_until([&] { return rig.outcome("ok") == 1; }));
  for (int i = 0; i < 200; ++i)
    REQUIRE(rig.send("pull_request", pr, "flood-" + std::to_string(i), "").status == 200);
  REQUIRE(wait_until([&] { return rig.drained() && rig.outcome("rejected") == 200; }));

  std::string log = rig.log();
  CHECK(log.find('\x1b') == std::string::npos);
  CHECK(log.find(R"(delivery="d\x1b[2J\"quoted\" id")") != std::string::npos);
  auto lines_with = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
    return n;
  };
  // 200 forged deliveries: the engine's and the plugin's warnings stay within the burst.
  CHECK(lines_with("authentication_failed, dropped") <= 10);
  CHECK(lines_with("X-Hub-Signature-256 on delivery") <= 10);
  CHECK(lines_with("outcome=rejected") == 200);  // one finish line per event stays (INFO)
}

namespace {

// A plugins directory with the misbehaving plugin (whose constructor can leave a mark) and an
// oceand.yaml serving it; `plugins_yaml`: more keys of `plugins:`.
struct PluginDirRig {
  TempDir dir;
  fs::path plugins = dir.path() / "plugins";
  fs::path config = dir.path() / "oceand.yaml";
  explicit PluginDirRig(const std::string& plugins_yaml = "") {
    fs::create_directories(plugins);
    fs::permissions(plugins, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                 fs::perms::others_read | fs::perms::others_exec);
    fs::copy_file(plugin_file("misbehaving"), plugins / "misbehaving.so");
    write_file(config, "server: {host: 127.0.0.1, port: 0}\nlog_level: info\nplugins: {dir: " +
                           plugins.string() + ", cache_dir: " + (dir.path() / "cache").string() +
                           (plugins_yaml.empty() ? "" : ", " + plugins_yaml) +
                           "}\nqueue: {backend: memory}\nport: {local_db: " +
                           (dir.path() / "entities.db").string() + "}\n");
  }
  // The state and error /admin/plugins shows for `file`.
  std::pair<std::string, std::string> state_of(ServingOceand& o, const std::string& file) {
    rapidjson::Document d;
    d.Parse(o.get("/admin/plugins").body.c_str());
    REQUIRE(d.IsObject());
    for (const auto& f : d["plugins"].GetArray())
      if (fs::path(f["file"].GetString()).filename() == file)
        return {f["state"].GetString(), f.HasMember("error") ? f["error"].GetString() : ""};
    return {"absent", ""};
  }
};

}  // namespace

TEST_CASE("edge: plugins are trusted only as ops trust them (strict modes)") {
  SUBCASE("a file writable by others is refused; strict_modes: false is the escape hatch") {
    PluginDirRig rig;
    fs::permissions(rig.plugins / "misbehaving.so", fs::perms::others_write, fs::perm_options::add);
    {
      ServingOceand o(rig.config, rig.dir.path() / "strict.log");
      auto [state, error] = rig.state_of(o, "misbehaving.so");
      CHECK(state == "refused");
      CHECK(error.find("writable by others") != std::string::npos);
    }
    PluginDirRig lax("strict_modes: false");
    fs::permissions(lax.plugins / "misbehaving.so", fs::perms::others_write, fs::perm_options::add);
    ServingOceand o(lax.config, lax.dir.path() / "lax.log");
    CHECK(lax.state_of(o, "misbehaving.so").first == "loaded");
  }
  SUBCASE("a directory writable by its group refuses every file in it") {
    PluginDirRig rig;
    fs::permissions(rig.plugins, fs::perms::group_write, fs::perm_options::add);
    ServingOceand o(rig.config, rig.dir.path() / "oceand.log");
    auto [state, error] = rig.state_of(o, "misbehaving.so");
    CHECK(state == "refused");
    CHECK(error.find("plugins.dir " + rig.plugins.string() + " is writable by its group") !=
          std::string::npos);
  }
  SUBCASE("a file owned by another user is refused") {
    if (::geteuid() != 0) return;  // only root can give a file away
    PluginDirRig rig;
    REQUIRE(::chown((rig.plugins / "misbehaving.so").c_str(), 65534, 65534) == 0);
    ServingOceand o(rig.config, rig.dir.path() / "oceand.log");
    auto [state, error] = rig.state_of(o, "misbehaving.so");
    CHECK(state == "refused");
    CHECK(error.find("owned by uid 65534") != std::string::npos);
  }
  SUBCASE("a symlink out of plugins.dir is refused, one inside it is followed") {
    PluginDirRig rig;
    TempDir elsewhere;
    fs::copy_file(plugin_file("example"), elsewhere.path() / "example.so");
    fs::create_symlink(elsewhere.path() / "example.so", rig.plugins / "example.so");
    fs::create_directories(rig.plugins / "store");
    fs::rename(rig.plugins / "misbehaving.so", rig.plugins / "store" / "misbehaving-1.0");
    fs::create_symlink("store/misbehaving-1.0", rig.plugins / "misbehaving.so");
    ServingOceand o(rig.config, rig.dir.path() / "oceand.log");
    auto [state, error] = rig.state_of(o, "example.so");
    CHECK(state == "refused");
    CHECK(error.find("a symlink resolving outside plugins.dir") != std::string::npos);
    CHECK(rig.state_of(o, "misbehaving.so").first == "loaded");
  }
  SUBCASE("a large file that is not ELF is refused from its first bytes") {
    PluginDirRig rig;
    // 600 MB, sparse: refused as "not an ELF" (its header), not as too large (its whole size).
    {
      std::ofstream big(rig.plugins / "huge.so", std::ios::binary);
      big << "#!/bin/sh\n";
    }
    fs::resize_file(rig.plugins / "huge.so", 600ull << 20);
    ServingOceand o(rig.config, rig.dir.path() / "oceand.log");
    auto [state, error] = rig.state_of(o, "huge.so");
    CHECK(state == "refused");
    CHECK(error == "not an ELF shared library");
    CHECK(rig.state_of(o, "misbehaving.so").first == "loaded");
  }
}

TEST_CASE("edge: --check runs no plugin code and writes nothing") {
  PluginDirRig rig;
  const fs::path mark = rig.dir.path() / "constructed";
  const std::string env = "OCEAN_TEST_CONSTRUCTOR_MARK=" + mark.string();
  ::setenv("OCEAN_TEST_CONSTRUCTOR_MARK", mark.c_str(), 1);
  OceandProcess check({"--check", "--config", rig.config.string()}, rig.dir.path() / "check.log");
  int status = check.wait_exit(std::chrono::seconds(20));
  std::string out = read_file(rig.dir.path() / "check.log");
  CHECK_MESSAGE(status == 0, out);
  CHECK(out.find("misbehaving.so (checked without running it)") != std::string::npos);
  CHECK_FALSE(fs::exists(mark));
  CHECK_FALSE(fs::exists(rig.dir.path() / "cache"));
  // The mark does work: a real start runs the constructor.
  {
    ServingOceand o(rig.config, rig.dir.path() / "start.log");
    CHECK(fs::exists(mark));
  }
  ::unsetenv("OCEAN_TEST_CONSTRUCTOR_MARK");
}

namespace {

std::string numbered_item(int n) {
  return R"({"id": )" + std::to_string(n) + R"(, "title": ")" + std::string(20000, 'x') + "\"}";
}

fs::perms mode_of(const fs::path& p) {
  return fs::status(p).permissions() & fs::perms::mask;
}

// A small tmpfs, unmounted when it goes; `mounted` is false where mounting is not allowed.
struct SmallDisk {
  fs::path at;
  bool mounted = false;
  SmallDisk(const fs::path& where, const std::string& size) : at(where) {
    fs::create_directories(at);
    mounted = ::system(("mount -t tmpfs -o size=" + size + " tmpfs " + at.string() + " 2>/dev/null")
                           .c_str()) == 0;
  }
  ~SmallDisk() {
    if (mounted) (void)::system(("umount -l " + at.string()).c_str());
  }
};

}  // namespace

TEST_CASE("edge: files oceand creates are its user's only; a damaged queue file stops start") {
  TempDir dir;
  const fs::path queue = dir.path() / "var" / "queue.db";
  const fs::path config =
      example_config(dir.path(), "{backend: sqlite, path: " + queue.string() + "}");
  {
    ServingOceand o(config, dir.path() / "first.log");
    for (int i = 0; i < 40; ++i)
      REQUIRE(o.post("/integration/example/webhook", numbered_item(i), {}).status == 200);
    REQUIRE(wait_until([&] { return o.metric("oceand_queue_depth") == 0; }));
    for (const fs::path& file :
         {queue, fs::path(queue.string() + "-wal"), fs::path(queue.string() + ".lock"),
          dir.path() / "var" / "entities.db"}) {
      CAPTURE(file);
      CHECK(mode_of(file) == (fs::perms::owner_read | fs::perms::owner_write));
    }
    CHECK(mode_of(dir.path() / "var") == fs::perms::owner_all);
    CHECK(mode_of(dir.path() / "cache") == fs::perms::owner_all);
    o.process().signal(SIGTERM);
    REQUIRE(o.process().wait_exit(std::chrono::seconds(20)) == 0);
  }
  // Every page but the first (the header and the schema) overwritten. The file is small: once the
  // queue drained, its free pages were given back.
  {
    const auto size = fs::file_size(queue);
    REQUIRE(size >= 4 * 4096);
    std::fstream f(queue, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);
    std::string garbage(size - 4096, '\x5a');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  OceandProcess damaged({"--config", config.string()}, dir.path() / "damaged.log");
  CHECK(damaged.wait_exit(std::chrono::seconds(20)) == 1);
  std::string log = read_file(dir.path() / "damaged.log");
  CHECK(log.find("queue.path " + queue.string()) != std::string::npos);
  CHECK(log.find("listening on") == std::string::npos);
}

TEST_CASE("edge: a queue file deleted while running is noticed: 503, /ready 503, one ERROR") {
  TempDir dir;
  const fs::path queue = dir.path() / "var" / "queue.db";
  ServingOceand o(example_config(dir.path(), "{backend: sqlite, path: " + queue.string() + "}"),
                  dir.path() / "oceand.log");
  REQUIRE(o.post("/integration/example/webhook", numbered_item(1), {}).status == 200);
  fs::remove(queue);
  // Never a 200 for an event that is not stored: the very next delivery is refused.
  auto refused = o.post("/integration/example/webhook", numbered_item(2), {});
  CHECK(refused.status == 503);
  CHECK(refused.header("retry-after") == "5");
  REQUIRE(wait_until([&] { return o.get("/ready").status == 503; }, std::chrono::seconds(5)));
  CHECK(o.get("/ready").body.find("was deleted or replaced") != std::string::npos);
  for (int i = 3; i < 10; ++i)
    CHECK(o.post("/integration/example/webhook", numbered_item(i), {}).status == 503);
  std::string log = read_file(dir.path() / "oceand.log");
  size_t errors = 0;
  for (size_t at = log.find("was deleted or replaced while oceand ran"); at != std::string::npos;
       at = log.find("was deleted or replaced while oceand ran", at + 1))
    ++errors;
  CHECK(errors == 1);
  CHECK(o.metric("oceand_ingress_rejected_total", {{"reason", "queue_unavailable"}}) >= 8);
}

TEST_CASE("edge: a full disk answers 503 disk_full and turns /ready 503 until space returns") {
  TempDir dir;
  SmallDisk disk(dir.path() / "small", "6m");
  if (!disk.mounted) {
    MESSAGE("cannot mount a tmpfs here (not root?): the full-disk case is not run");
    return;
  }
  // Most of the small disk taken by another file, so a few events fill the rest.
  {
    std::ofstream filler(disk.at / "filler", std::ios::binary);
    std::string mb(1 << 20, 'f');
    for (int i = 0; i < 4; ++i) filler.write(mb.data(), static_cast<std::streamsize>(mb.size()));
  }
  ServingOceand o(example_config(dir.path(), "{backend: sqlite, path: " +
                                                 (disk.at / "queue.db").string() + "}"),
                  dir.path() / "oceand.log");
  int status = 200, sent = 0;
  HttpResult last;
  while (status == 200 && sent < 400) {
    last = o.post("/integration/example/webhook", numbered_item(sent++), {});
    status = last.status;
  }
  REQUIRE_MESSAGE(status == 503, read_file(dir.path() / "oceand.log"));
  CHECK(last.body.find("disk") != std::string::npos);
  CHECK(o.metric("oceand_ingress_rejected_total", {{"reason", "disk_full"}}) >= 1);
  auto ready = o.get("/ready");
  CHECK(ready.status == 503);
  CHECK(ready.body.find("is full") != std::string::npos);
  // Space comes back: within seconds /ready is 200 again and deliveries are stored.
  fs::remove(disk.at / "filler");
  REQUIRE(wait_until([&] { return o.get("/ready").status == 200; }, std::chrono::seconds(10)));
  CHECK(o.post("/integration/example/webhook", numbered_item(1000), {}).status == 200);
}

namespace {

// A client connection that sends what it is told and reads what comes back, with a receive
// timeout so that a server that never answers fails the test instead of hanging it.
Poco::Net::StreamSocket connect_to(int port) {
  Poco::Net::StreamSocket s(Poco::Net::SocketAddress("127.0.0.1", static_cast<uint16_t>(port)));
  s.setReceiveTimeout(Poco::Timespan(10, 0));
  return s;
}

std::string read_to_close(Poco::Net::StreamSocket& s) {
  std::string out;
  char buffer[4096];
  try {
    for (int n; (n = s.receiveBytes(buffer, sizeof buffer)) > 0;)
      out.append(buffer, static_cast<size_t>(n));
  } catch (const Poco::Exception&) {
    out += "<timeout or reset>";
  }
  return out;
}

}  // namespace

TEST_CASE("edge: thousands of idle and trickling connections hold no thread and deny no one") {
  const std::string pr = corpus("github", "pull_request__opened.payload.json");
  FakeGithub github;
  github.serve_payload(pr);
  GithubRig rig(github, "memory");
  const int port = rig.oceand().port();
  const pid_t pid = rig.oceand().process().pid();
  const size_t threads_before = footprint(pid).threads;

  // 2,000 that never send a byte, 200 that send a request's head a byte at a time.
  std::vector<Poco::Net::StreamSocket> idle, trickling;
  for (int i = 0; i < 2000; ++i) idle.push_back(connect_to(port));
  const std::string head = "POST /integration/github/webhook HTTP/1.1\r\nHost: t\r\nX-Slow: ";
  for (int i = 0; i < 200; ++i) trickling.push_back(connect_to(port));
  std::atomic<bool> done{false};
  std::thread trickle([&] {
    for (size_t at = 0; !done; ++at) {
      for (auto& s : trickling) {
        try {
          s.sendBytes(at < head.size() ? &head[at] : "a", 1);
        } catch (const Poco::Exception&) {
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the slowness under test
    }
  });
  // Every one of them is accepted and held open by oceand...
  REQUIRE(wait_until([&] { return footprint(pid).fds >= 2200; }));

  // ...and everyone else is served: probes, and signed webhooks that are processed.
  for (int i = 0; i < 20; ++i) {
    CAPTURE(i);
    CHECK(rig.oceand().get("/health").status == 200);
    CHECK(rig.oceand().get("/ready").status == 200);
  }
  for (int i = 0; i < 5; ++i)
    CHECK(rig.send("pull_request", pr, "slow-" + std::to_string(i), kSecret).status == 200);
  CHECK_MESSAGE(wait_until([&] { return rig.outcome("ok") == 5; }), rig.log());
  // Connections cost no thread: 2,200 of them left the thread count where it was, give or take
  // the handler threads the requests above started.
  CHECK(footprint(pid).threads < threads_before + 80);
  done = true;
  trickle.join();
}

TEST_CASE("edge: a connection over server.max_connections gets 503 and Retry-After at once") {
  TempDir dir;
  const fs::path& d = dir.path();
  example_config(d);
  ServingOceand o(d / "oceand.yaml", d / "oceand.log", {"OCEAN__SERVER__MAX_CONNECTIONS=20"});
  std::vector<Poco::Net::StreamSocket> held;
  // Accepted in the order they connect: the 21st is the one over the cap.
  for (int i = 0; i < 20; ++i) held.push_back(connect_to(o.port()));
  auto excess = connect_to(o.port());
  const std::string probe = "GET /health HTTP/1.1\r\nHost: t\r\n\r\n";
  excess.sendBytes(probe.data(), static_cast<int>(probe.size()));
  std::string answer = read_to_close(excess);
  CHECK(answer.rfind("HTTP/1.1 503", 0) == 0);
  CHECK(answer.find("Retry-After: 1") != std::string::npos);
  CHECK(answer.find("too many connections") != std::string::npos);
  CHECK(read_file(d / "oceand.log").find("server.max_connections (20) are open") !=
        std::string::npos);
  // The admin listener has its own connections: operators still get in.
  CHECK(o.get("/admin/plugins").status == 200);
}

TEST_CASE("edge: server.idle_timeout_seconds and server.request_timeout_seconds end slow clients") {
  TempDir dir;
  const fs::path& d = dir.path();
  example_config(d);
  ServingOceand o(
      d / "oceand.yaml", d / "oceand.log",
      {"OCEAN__SERVER__IDLE_TIMEOUT_SECONDS=1", "OCEAN__SERVER__REQUEST_TIMEOUT_SECONDS=2"});
  // Silent: closed without an answer once idle for a second.
  auto silent = connect_to(o.port());
  CHECK(read_to_close(silent).empty());

  // Trickling a byte every 100 ms: each byte is activity, so only the request deadline ends it.
  auto slow = connect_to(o.port());
  std::atomic<bool> done{false};
  std::thread trickle([&] {
    const std::string head = "POST /integration/example/webhook HTTP/1.1\r\nHost: t\r\nX-A: ";
    for (size_t at = 0; !done; ++at) {
      try {
        slow.sendBytes(at < head.size() ? &head[at] : "a", 1);
      } catch (const Poco::Exception&) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the slowness under test
    }
  });
  std::string answer = read_to_close(slow);
  done = true;
  trickle.join();
  CHECK(answer.rfind("HTTP/1.1 408", 0) == 0);
  CHECK(read_file(d / "oceand.log").find("status=408") != std::string::npos);
}

namespace {

struct ThreadPriority {
  std::string name;
  int nice;
  int policy;  // SCHED_OTHER 0, SCHED_IDLE 5
};

// Each thread's name, nice value and scheduling policy, from /proc/<pid>/task.
std::vector<ThreadPriority> thread_priorities(pid_t pid) {
  std::vector<ThreadPriority> out;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    // Name and nice from one read of `stat`: read apart, a worker starting between the two reads
    // showed its creator's name ("oceand") with its own lowered priority.
    std::string stat = read_file(task.path() / "stat");
    size_t open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) continue;
    std::string name = stat.substr(open + 1, close - open - 1);
    // After "(comm) ": fields 3..; nice is field 19, policy field 41.
    std::istringstream rest(stat.substr(close + 2));
    std::string field, nice;
    for (int i = 3; i <= 41; ++i) {
      rest >> field;
      if (i == 19) nice = field;
    }
    out.push_back({name, std::stoi(nice), std::stoi(field)});
  }
  return out;
}

}  // namespace

TEST_CASE(
    "edge: ingress outranks processing: workers run at event_workers_nice and "
    "event_workers_policy") {
  struct Case {
    const char* nice;
    const char* policy;
  };
  for (Case c : {Case{"", ""}, Case{"0", ""}, Case{"15", "normal"}, Case{"", "idle"}}) {
    CAPTURE(c.nice);
    CAPTURE(c.policy);
    TempDir dir;
    const fs::path& d = dir.path();
    example_config(d);
    std::vector<std::string> env;
    if (*c.nice) env.push_back(std::string("OCEAN__EVENT_WORKERS_NICE=") + c.nice);
    if (*c.policy) env.push_back(std::string("OCEAN__EVENT_WORKERS_POLICY=") + c.policy);
    ServingOceand o(d / "oceand.yaml", d / "oceand.log", env);
    const int nice = *c.nice ? std::stoi(c.nice) : 10;  // the default
    const int policy =
        std::string(c.policy) == "normal" ? SCHED_OTHER : SCHED_IDLE;  // default idle
    // A worker names itself a moment before it lowers its priority: wait for every one to have.
    auto workers_lowered = [&] {
      int workers = 0;
      for (const auto& t : thread_priorities(o.process().pid())) {
        if (t.name != "worker" && t.name != "dispatcher") continue;
        if (t.nice != nice || t.policy != policy) return false;
        ++workers;
      }
      return workers > 1;
    };
    CHECK(wait_until(workers_lowered));
    int loops = 0, watchdogs = 0;
    for (const auto& t : thread_priorities(o.process().pid())) {
      CAPTURE(t.name);
      // The committer and the jq watchdog (which stops runaway mappings) keep the normal policy
      // too: the watchdog is started by the host, not by the first worker that maps.
      const bool helper = t.name == "committer" || t.name == "jq-watchdog";
      if (t.name == "http-io" || t.name == "admin-http-io" || t.name == "oceand" || helper) {
        if (!helper) ++loops;
        if (t.name == "jq-watchdog") ++watchdogs;
        CHECK(t.nice == 0);
        CHECK(t.policy == SCHED_OTHER);
      }
    }
    CHECK(loops >= 2);
    CHECK(watchdogs == 1);
  }
}
