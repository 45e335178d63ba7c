// libFuzzer target: the jq 1.8 rewriter (host/mapping/jq_compat.cpp) reads mapping text, which
// anyone who edits a mapping in Port's UI writes. On any input it must not crash, must keep every
// newline (jq's error positions), and must not break a program libjq 1.6 already compiles: what
// 1.6 accepts, the rewritten text with the prelude it needs compiles too.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" {
#include <jq.h>
}

#include "mapping/jq_compat.hpp"

namespace {
void quiet(void*, jv message) {
  jv_free(message);
}

bool compiles(const std::string& program) {
  jq_state* jq = jq_init();
  jq_set_error_cb(jq, quiet, nullptr);
  bool ok = jq_compile(jq, program.c_str()) != 0;
  jq_teardown(&jq);
  return ok;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (text.find('\0') != std::string::npos) return 0;  // jq reads a C string
  std::string rewritten;
  try {
    rewritten = oceand::jq18_source(text);
  } catch (const oceand::JqCompatError&) {
    return 0;  // a builtin jq 1.8 dropped
  }
  if (std::count(text.begin(), text.end(), '\n') !=
      std::count(rewritten.begin(), rewritten.end(), '\n'))
    std::abort();
  if (size <= 256 && compiles(text) && !compiles(oceand::jq18_prelude(rewritten) + rewritten))
    std::abort();
  return 0;
}
