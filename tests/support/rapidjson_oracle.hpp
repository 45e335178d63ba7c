#pragma once

// RapidJSON alone, as the oracle the ingress body check is compared with (tests and fuzz/).

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include <rapidjson/encodings.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

namespace oceand::test {

// RapidJSON's byte-at-a-time UTF-8 validator, over a bounded stream.
inline bool rapidjson_valid_utf8(const std::string& text) {
  rapidjson::MemoryStream in(text.data(), text.size());
  struct Sink {
    void Put(char) {}
  } sink;
  while (in.Tell() < text.size())
    if (!rapidjson::UTF8<>::Validate(in, sink)) return false;
  return true;
}

// is_json_object's answer from RapidJSON's iterative reader alone, after the same first-character
// and NUL rules. UTF-8 is checked first over the bounded stream: the reader's own check
// (kParseValidateEncodingFlag) reads past the terminator after a truncated multi-byte lead.
//
// One documented difference (docs/operations.md, *Ingress status codes*): RapidJSON refuses a
// number whose exponent passes 308 before it looks at the value, so it refuses 0e400 and 0.000e310,
// which are JSON, are finite (zero) and which simdjson and jq read. The oracle takes such a number
// as the body check does: where RapidJSON says "too big" of a number whose value strtod finds
// finite, the number is read as 0 and the text checked again.
inline bool rapidjson_object(const std::string& text) {
  size_t i = text.find_first_not_of(" \t\r\n");
  if (i == std::string::npos || text[i] != '{' || text.find('\0') != std::string::npos)
    return false;
  if (!rapidjson_valid_utf8(text)) return false;
  std::string current = text;
  for (;;) {
    rapidjson::StringStream in(current.c_str());
    rapidjson::Reader reader;
    rapidjson::BaseReaderHandler<> ignore;
    rapidjson::ParseResult result = reader.Parse<rapidjson::kParseIterativeFlag>(in, ignore);
    if (!result.IsError()) return true;
    if (result.Code() != rapidjson::kParseErrorNumberTooBig) return false;
    const size_t start = result.Offset();
    // The number as strtod reads it from where RapidJSON started it (JSON's numbers are a subset
    // of strtod's; what follows it is left for the next pass to judge).
    char* stop = nullptr;
    const double value = std::strtod(current.c_str() + start, &stop);
    const size_t end = static_cast<size_t>(stop - current.c_str());
    const std::string number = current.substr(start, end - start);
    // Only an exponent: RapidJSON's "too big" for a long run of integer digits is a value that
    // simdjson refuses too (beyond 64 bits), and the body check answers as RapidJSON there.
    if (number.find_first_of("eE") == std::string::npos || !std::isfinite(value)) return false;
    // "0 ": the blank keeps whatever follows from joining the zero into a new number (0e400e5
    // must stay refused).
    current.replace(start, end - start, "0 ");
  }
}

}  // namespace oceand::test
