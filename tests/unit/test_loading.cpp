// Loading: bad files are refused with one clear reason while a good plugin beside them serves.
#include <doctest/doctest.h>

#include "plugins/plugin_library.hpp"
#include "support/test_host.hpp"

using namespace oceand;
using namespace oceand::test;

TEST_CASE(
    "refused: truncated, not ELF, wrong ABI major, newer minor, no entry symbol, malformed "
    "descriptor") {
  // At start a bad file is refused and the rest serve.
  TestHost t({"scripted", "wrong_major", "newer_minor", "no_entry", "malformed"});
  auto gen = t.host().plugins().current();
  const uint64_t first = gen->number;

  // Two more made by hand: a reload that meets a new bad file keeps the running generation and
  // reports every file it found.
  std::string good = read_file(plugin_file("scripted"));
  write_file(t.dir() / "plugins" / "truncated.so", good.substr(0, good.size() / 2));
  write_file(t.dir() / "plugins" / "notelf.so", "this is not a shared library\n");
  auto report = t.host().reload();
  CHECK_FALSE(report.ok);
  CHECK(report.generation == first);
  CHECK(report.error.find("refused") != std::string::npos);
  CHECK(t.host().plugins().current()->number == first);

  Generation attempted;
  attempted.files = report.files;
  const auto* scripted = status_of(attempted, "scripted.so");
  REQUIRE(scripted);
  CHECK(scripted->state == "loaded");
  CHECK(scripted->name == "scripted");
  CHECK(scripted->abi_version == "1.1");
  CHECK(scripted->sha256.size() == 64);

  struct Expect {
    const char* file;
    const char* reason;
  } expected[] = {
      {"truncated.so", "truncated"},         {"notelf.so", "not an ELF"},
      {"wrong_major.so", "different major"}, {"newer_minor.so", "newer host"},
      {"no_entry.so", "no entry symbol"},    {"malformed.so", "malformed descriptor"},
  };
  for (const auto& e : expected) {
    CAPTURE(e.file);
    const auto* s = status_of(attempted, e.file);
    REQUIRE(s);
    CHECK(s->state == "refused");
    CHECK(s->error.find(e.reason) != std::string::npos);
  }
  CHECK(gen->plugins.size() == 1);

  // The good plugin serves.
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1})").status == 200);
  REQUIRE(t.wait_processed(1));
  CHECK(t.processed("scripted", "ok") == 1);

  auto admin = t.get("/admin/plugins");
  CHECK(admin.status == 200);
  CHECK(admin.body.find("\"state\":\"refused\"") != std::string::npos);
  CHECK(admin.body.find("\"last_reload\":{\"status\":\"error\"") != std::string::npos);
  CHECK(admin.body.find("notelf.so") != std::string::npos);

  // Files refused before, unchanged, do not block a reload.
  fs::remove(t.dir() / "plugins" / "truncated.so");
  fs::remove(t.dir() / "plugins" / "notelf.so");
  report = t.host().reload();
  CHECK(report.ok);
  CHECK(report.generation == first + 1);
}

TEST_CASE("plugins run from a private content-addressed copy") {
  TestHost t({"scripted"});
  auto gen = t.host().plugins().current();
  auto lib = gen->plugins.at("scripted");
  CHECK(fs::path(lib->private_copy()).filename() == lib->sha256() + ".so");
  CHECK(fs::path(lib->private_copy()).parent_path() == t.dir() / "cache");
  CHECK(PluginLibrary::sha256_of(read_file(lib->private_copy())) == lib->sha256());
  // Overwriting the original in place does not touch the running copy.
  write_file(t.dir() / "plugins" / "scripted.so", "garbage");
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1})").status == 200);
  REQUIRE(t.wait_processed(1));
  CHECK(t.processed("scripted", "ok") == 1);
}

TEST_CASE("check_descriptor names what is missing") {
  CHECK(check_descriptor(nullptr).find("no descriptor") != std::string::npos);
  ocean_plugin_descriptor d{};
  d.struct_size = sizeof d;
  d.abi_major = OCEAN_ABI_VERSION_MAJOR;
  d.name = "Bad Name";
  d.version = "1";
  CHECK(check_descriptor(&d).find("name") != std::string::npos);
  d.name = "good";
  CHECK(check_descriptor(&d).empty());
  ocean_processor_factory f{};
  f.struct_size = sizeof f;
  f.name = "P";
  f.route = "no-slash";
  d.processors = &f;
  d.processor_count = 1;
  CHECK(check_descriptor(&d).find("route") != std::string::npos);
  f.route = "/webhook";
  f.retry = ocean_retry_policy{sizeof(ocean_retry_policy), 3, 1.0, 30.0, 2.0};
  CHECK(check_descriptor(&d).find("no vtable") != std::string::npos);
}

TEST_CASE(
    "refused: retry delays that are not finite or exceed 24 h (1e308 was once retried at once)") {
  TestHost t({"huge_delay", "day_delay", "misbehaving"});
  auto gen = t.host().plugins().current();
  for (const char* file : {"huge_delay.so", "day_delay.so"}) {
    CAPTURE(file);
    const auto* s = status_of(*gen, file);
    REQUIRE(s);
    CHECK(s->state == "refused");
    CHECK(s->error.find("86400 seconds (24 h)") != std::string::npos);
  }
  const auto* fine = status_of(*gen, "misbehaving.so");
  REQUIRE(fine);
  CHECK(fine->state == "loaded");
}
