#include "http/body_check.hpp"

#include <cstdint>
#include <cstring>

#include <rapidjson/reader.h>

#include "core/insitu_copy.hpp"
#include "core/simd_parser.hpp"
#include "core/text.hpp"

namespace oceand {

namespace {

constexpr size_t kFastCheckBytes = 256u << 10;
struct FirstTokenHandler : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, FirstTokenHandler> {
  bool first = true;
  bool object = false;
  bool Default() {
    if (first) {
      first = false;
      object = false;
    }
    return true;
  }
  bool StartObject() {
    if (first) {
      first = false;
      object = true;
    }
    return true;
  }
};
}  // namespace

bool is_valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const unsigned char* end = p + text.size();
  while (p < end) {
    // Webhook bodies are nearly all ASCII: skip eight bytes at a time while no high bit is set.
    while (end - p >= 8) {
      uint64_t word;
      std::memcpy(&word, p, 8);
      if (word & 0x8080808080808080ull) break;
      p += 8;
    }
    if (p == end) break;
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    // RFC 3629, table 3-7 of the Unicode standard: no overlong forms, no surrogates, <= U+10FFFF.
    int length;
    unsigned char low = 0x80, high = 0xBF;  // bounds of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    } else {
      return false;
    }
    if (end - p < length) return false;
    if (p[1] < low || p[1] > high) return false;
    for (int i = 2; i < length; ++i)
      if ((p[i] & 0xC0) != 0x80) return false;
    p += length;
  }
  return true;
}

size_t body_check_slack() {
  return SimdParser::kPadding;
}

bool is_json_object(std::string_view text, size_t readable_after) {
  size_t i = 0;
  while (i < text.size() &&
         (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
    ++i;
  if (i == text.size() || text[i] != '{') return false;
  // simdjson first: ≈ 15 µs for a 28 KB pull request where the pass below takes ≈ 37. A body it
  // accepts is one valid JSON document (it checks UTF-8 and refuses NUL outside strings and raw
  // control characters inside them, as JSON does). What it refuses is decided below, because it
  // also refuses some valid JSON (integers beyond 64 bits, nesting past 1,024 levels). Larger
  // bodies go straight below, which keeps each ingress thread's memory to about the body itself.
  if (text.size() <= kFastCheckBytes) {
    thread_local SimdParser parser(1024, kFastCheckBytes);
    bool valid = parser.parse(text, readable_after).has_value();
    parser.done();
    if (valid) return true;  // it starts with `{`: an object
  }
  // RapidJSON's own encoding check goes through its transcoder one byte at a time and was half of
  // ingress CPU (docs/benchmarks.md); is_valid_utf8 does the same job with an ASCII fast path.
  // NUL is never valid in JSON text; refusing it here also keeps the NUL-terminated copy honest.
  if (!is_valid_utf8(text) || text.find('\0', i) != std::string_view::npos) return false;
  FirstTokenHandler handler;
  return !parse_insitu(text, handler).IsError() && handler.object;
}

std::optional<std::string> url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::string> form_payload(std::string_view body) {
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t end = body.find('&', pos);
    if (end == std::string_view::npos) end = body.size();
    std::string_view field = body.substr(pos, end - pos);
    if (field.substr(0, 8) == "payload=") return url_decode(field.substr(8));
    pos = end + 1;
  }
  return std::nullopt;
}

}  // namespace oceand
