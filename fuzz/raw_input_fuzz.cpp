// libFuzzer target: whatever parse_input accepts, whole or cut to a shape, jq's own parser must
// accept too and read the same way (the cut being the same fields of jq's reading). Texts holding
// `-0` are left out: both of our readers read it as 0 where jq 1.6 keeps the sign
// (docs/mapping.md).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "mapping/raw_input.hpp"

namespace {

std::string dump(jv value) {
  jv text = jv_dump_string(value, JV_PRINT_SORTED);
  std::string out = jv_string_value(text);
  jv_free(text);
  return out;
}

// jq's reading of `whole`, cut the way the test shape below cuts: only fields a and b of an object.
jv cut_like_shape(jv whole) {
  if (jv_get_kind(whole) != JV_KIND_OBJECT) return whole;
  jv out = jv_object();
  for (const char* key : {"a", "b"})
    if (jv_object_has(jv_copy(whole), jv_string(key)))
      out = jv_object_set(out, jv_string(key), jv_object_get(jv_copy(whole), jv_string(key)));
  jv_free(whole);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (text.find("-0") != std::string::npos) return 0;
  static const oceand::InputShape shape = [] {
    oceand::InputShape s;
    s.add({"a"});
    s.add({"b"});
    return s;
  }();
  static const oceand::InputShape everything = oceand::InputShape::whole();
  for (bool whole : {true, false}) {
    jv mine = oceand::parse_input(text, whole ? everything : shape);
    if (!jv_is_valid(mine)) {
      jv_free(mine);
      continue;
    }
    jv theirs = jv_parse_sized(text.data(), static_cast<int>(text.size()));
    if (!jv_is_valid(theirs)) std::abort();  // we accepted what jq refuses
    if (!whole) theirs = cut_like_shape(theirs);
    if (dump(mine) != dump(theirs)) std::abort();
  }
  return 0;
}
