// oceand C++ SDK — JSON: parsing webhook payloads and API answers with RapidJSON the fast way,
// and writing values back as text.
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ocean {

// Parses `text` into `doc`; false when it is not exactly one JSON value. Prefer it to
// doc.Parse(data, size): RapidJSON reads a sized buffer one byte at a time, but scans
// NUL-terminated text 16 bytes at a time (with RAPIDJSON_SSE2, which the SDK's CMake target defines
// on x86-64), so the copy made here to terminate the text pays for itself several times over. A NUL
// inside the text is refused, as the sized parse refuses it.
inline bool parse_json(rapidjson::Document& doc, std::string_view text) {
  if (text.find('\0') != std::string_view::npos) {
    doc.SetNull();
    return false;
  }
  // RapidJSON's SIMD scans read aligned 16-byte blocks and may reach up to 15 bytes past the
  // terminating NUL: the slack keeps those reads inside this allocation.
  std::string terminated;
  terminated.reserve(text.size() + 16);
  terminated.assign(text.data(), text.size());
  doc.Parse(terminated.c_str());
  return !doc.HasParseError();
}

// parse_json, parsing a copy of `text` in place: the document's strings point into that copy, kept
// in `storage`, instead of being copied out of it one by one, which makes the parse about a quarter
// faster. `storage` must outlive `doc` (moving either keeps the copy where it is).
inline bool parse_json_in_place(rapidjson::Document& doc, std::string_view text,
                                std::unique_ptr<char[]>& storage) {
  if (text.find('\0') != std::string_view::npos) {
    doc.SetNull();
    return false;
  }
  storage.reset(new char[text.size() + 16]());  // the same slack as parse_json
  std::memcpy(storage.get(), text.data(), text.size());
  doc.ParseInsitu(storage.get());
  return !doc.HasParseError();
}

inline std::string to_json(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace ocean
