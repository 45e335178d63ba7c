#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/log.hpp"

namespace {

// Counts the cases a run selected, so that a CTest entry whose filter matches nothing (or more
// than its one case) fails instead of passing with "test cases: 0" (tests/discover_tests.cmake).
int g_cases_run = -1;

struct CaseCounter : doctest::IReporter {
  explicit CaseCounter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    g_cases_run = static_cast<int>(stats.numTestCasesPassingFilters);
  }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace

DOCTEST_REGISTER_LISTENER("ocean_case_counter", 1, CaseCounter);

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  // The slow-client tests hold thousands of connections, as oceand itself does: the whole
  // open-files allowance (the soft limit is often 1024).
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &files);
  }
  oceand::Log::set_level(oceand::LogLevel::warning);
  bool expect_one = false;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--ocean-expect-one-case") == 0)
      expect_one = true;
    else
      args.push_back(argv[i]);
  }
  doctest::Context context(static_cast<int>(args.size()), args.data());
  const int status = context.run();
  if (expect_one && !context.shouldExit() && g_cases_run != 1) {
    std::fprintf(stderr, "oceand_tests: the filter selected %d test cases, expected exactly 1\n",
                 g_cases_run);
    return 2;
  }
  return status;
}
