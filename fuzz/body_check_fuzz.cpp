// libFuzzer target: the ingress body check (simdjson first, RapidJSON deciding what it refuses)
// must answer exactly as RapidJSON alone (tests/support/rapidjson_oracle.hpp, with its one
// documented exception). Any difference aborts.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "http/body_check.hpp"
#include "support/rapidjson_oracle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (oceand::is_json_object(text) != oceand::test::rapidjson_object(text)) std::abort();
  return 0;
}
