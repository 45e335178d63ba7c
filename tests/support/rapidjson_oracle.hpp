#pragma once

// RapidJSON alone, as the oracle the ingress body check is compared with (tests and fuzz/).

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
inline bool rapidjson_object(const std::string& text) {
  size_t i = text.find_first_not_of(" \t\r\n");
  if (i == std::string::npos || text[i] != '{' || text.find('\0') != std::string::npos)
    return false;
  if (!rapidjson_valid_utf8(text)) return false;
  rapidjson::StringStream in(text.c_str());
  rapidjson::Reader reader;
  rapidjson::BaseReaderHandler<> ignore;
  return !reader.Parse<rapidjson::kParseIterativeFlag>(in, ignore).IsError();
}

}  // namespace oceand::test
