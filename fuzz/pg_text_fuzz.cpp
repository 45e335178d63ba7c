// libFuzzer target: any bytes (a header's delivery id, a plugin's group key or error text) go into
// PostgreSQL's text columns through to_pg_text and come back unchanged through from_pg_text; what
// is stored never holds a NUL, and it differs from the input exactly when it is the hex form.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "queue/pg_connection.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  std::string text = oceand::to_pg_text(bytes);
  if (oceand::from_pg_text(text) != bytes) std::abort();
  if (text.find('\0') != std::string::npos) std::abort();
  if ((text != bytes) != (text.rfind("hex:", 0) == 0)) std::abort();
  return 0;
}
