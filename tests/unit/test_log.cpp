// The log (host/core/log.cpp): lines safe to parse whatever a sender or a plugin put in them, and
// repeated lines rate-limited with a count of what was left out.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "core/log.hpp"
#include "support/test_host.hpp"

using namespace oceand;
using namespace oceand::test;
using namespace std::chrono_literals;

namespace {

// Everything written to stderr while it lives.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    saved_ = ::dup(2);
    int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrCapture() { restore(); }
  std::string text() {
    restore();
    return read_file(file_);
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  TempDir dir_;
  fs::path file_ = dir_.path() / "stderr.txt";
  int saved_ = -1;
};

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("log: control characters are escaped and values logfmt-quoted") {
  CHECK(logfmt_value("plain-token_1.2:3/x@y") == "plain-token_1.2:3/x@y");
  CHECK(logfmt_value("") == R"("")");
  CHECK(logfmt_value("two words") == R"("two words")");
  CHECK(logfmt_value(R"(say "hi" \o/)") == R"("say \"hi\" \\o/")");
  CHECK(logfmt_value("a=b") == R"("a=b")");

  StderrCapture capture;
  OCEAND_LOG_WARN("test") << "event 1 " << kv("delivery", "d\x1b[31mred\r\nINFO [engine] forged")
                          << " " << kv("error", "he said \"no\"\tthen\x7f left");
  std::string text = capture.text();
  CHECK(count(text, "\n") == 1);  // one record, one line
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find('\x7f') == std::string::npos);
  CHECK(text.find('\t') == std::string::npos);
  CHECK(text.find(R"(delivery="d\x1b[31mred\r\nINFO [engine] forged")") != std::string::npos);
  CHECK(text.find(R"(error="he said \"no\"\tthen\x7f left")") != std::string::npos);
}

TEST_CASE("log: C1 controls (UTF-8 U+0080..U+009F, e.g. CSI) are escaped; other text is kept") {
  StderrCapture capture;
  OCEAND_LOG_WARN("test") << kv("uri",
                                "/a\xc2\x9b"
                                "2J/caf\xc3\xa9");
  std::string text = capture.text();
  CHECK(text.find("\xc2\x9b") == std::string::npos);
  CHECK(text.find(R"(uri="/a\xc2\x9b2J/caf)" + std::string("\xc3\xa9") + "\"") !=
        std::string::npos);
}

TEST_CASE("log: lines left out are reported even when every limited kind falls silent") {
  Log::set_limit_window(std::chrono::milliseconds(200));
  StderrCapture capture;
  for (int i = 0; i < 13; ++i) OCEAND_LOG_WARN_LIMITED("test", "quiet") << "flood " << i;
  auto started = std::chrono::steady_clock::now();
  REQUIRE(wait_until([&] { return std::chrono::steady_clock::now() - started > 250ms; }));
  // Not a limited line: the count rides on it.
  OCEAND_LOG_INFO("test") << "an ordinary line";
  // And at shutdown, whatever the window.
  for (int i = 0; i < 12; ++i) OCEAND_LOG_WARN_LIMITED("test", "late") << "late " << i;
  Log::flush_suppressed(true);
  std::string text = capture.text();
  Log::set_limit_window(std::chrono::seconds(10));
  CHECK(text.find("3 similar line(s) suppressed in the last 200 ms key=quiet") !=
        std::string::npos);
  CHECK(text.find("2 similar line(s) suppressed in the last 200 ms key=late") != std::string::npos);
}

TEST_CASE("log: a repeated line is rate-limited and what was left out is counted") {
  Log::set_limit_window(std::chrono::milliseconds(300));
  StderrCapture capture;
  for (int i = 0; i < 100; ++i) OCEAND_LOG_WARN_LIMITED("test", "flood") << "forged delivery " << i;
  // Another key is not held back by the first one's flood.
  OCEAND_LOG_WARN_LIMITED("test", "other") << "a different warning";
  // Once the window has passed, the next line of the key says how many were left out.
  auto started = std::chrono::steady_clock::now();
  REQUIRE(wait_until([&] { return std::chrono::steady_clock::now() - started > 350ms; }));
  OCEAND_LOG_WARN_LIMITED("test", "flood") << "forged delivery 100";
  std::string text = capture.text();
  Log::set_limit_window(std::chrono::seconds(10));
  CHECK(count(text, "forged delivery") == Log::kLimitBurst + 1);
  CHECK(text.find("forged delivery 100 (90 similar line(s) suppressed in the last 300 ms)") !=
        std::string::npos);
  CHECK(text.find("a different warning") != std::string::npos);
}

TEST_CASE("log: a key that falls silent still has its suppressed lines reported") {
  Log::set_limit_window(std::chrono::milliseconds(200));
  StderrCapture capture;
  for (int i = 0; i < 25; ++i) OCEAND_LOG_ERROR_LIMITED("test", "burst") << "plugin failure " << i;
  auto started = std::chrono::steady_clock::now();
  REQUIRE(wait_until([&] { return std::chrono::steady_clock::now() - started > 250ms; }));
  OCEAND_LOG_WARN_LIMITED("test", "unrelated") << "something else";
  std::string text = capture.text();
  Log::set_limit_window(std::chrono::seconds(10));
  CHECK(text.find("15 similar line(s) suppressed in the last 200 ms key=burst") !=
        std::string::npos);
}
