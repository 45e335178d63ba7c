#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <rapidjson/reader.h>

namespace oceand {

// A NUL-terminated copy of JSON text in a reused per-thread buffer, for RapidJSON's in-situ parse:
// it scans a terminated stream 16 bytes at a time and unescapes strings in place, where a sized
// read goes byte by byte and copies each string out. The text must hold no NUL (JSON never does;
// the stream would stop there). The buffer keeps 16 bytes of slack past the NUL, because the SIMD
// scans read aligned 16-byte blocks that may reach 15 bytes beyond it, and gives its memory back
// after a copy larger than `keep_bytes`.
class InsituCopy {
 public:
  InsituCopy(std::string& buffer, std::string_view text, size_t keep_bytes)
      : buffer_(buffer), keep_bytes_(keep_bytes) {
    buffer_.reserve(text.size() + 16);
    buffer_.assign(text.data(), text.size());
  }
  ~InsituCopy() {
    if (buffer_.capacity() > keep_bytes_) std::string().swap(buffer_);
  }
  InsituCopy(const InsituCopy&) = delete;
  InsituCopy& operator=(const InsituCopy&) = delete;

  char* data() { return buffer_.data(); }

 private:
  std::string& buffer_;
  size_t keep_bytes_;
};

// One iterative (no recursion, whatever the nesting), in-situ RapidJSON SAX pass of `text`, which
// must hold no NUL, into `handler`, over a per-thread copy kept up to 1 MiB.
template <class Handler>
rapidjson::ParseResult parse_insitu(std::string_view text, Handler& handler) {
  thread_local std::string scratch;
  InsituCopy copy(scratch, text, 1u << 20);
  rapidjson::InsituStringStream stream(copy.data());
  rapidjson::Reader reader;
  return reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseInsituFlag>(stream,
                                                                                    handler);
}

}  // namespace oceand
