#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <csignal>

#include "core/log.hpp"

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  oceand::Log::set_level(oceand::LogLevel::warning);
  doctest::Context context(argc, argv);
  return context.run();
}
