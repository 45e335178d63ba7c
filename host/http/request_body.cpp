#include "http/request_body.hpp"

#include <algorithm>
#include <string>

#include <Poco/Exception.h>

#include "core/text.hpp"

namespace oceand {

namespace {
constexpr size_t kChunkLineLimit = 4096;
constexpr size_t kTrailerLimit = 16 * 1024;
}  // namespace

RequestBody::RequestBody(SocketReader& reader, Framing framing, uint64_t length,
                         std::function<void()> before_first_read)
    : reader_(reader),
      framing_(framing),
      left_(framing == Framing::length ? length : 0),
      before_first_read_(std::move(before_first_read)) {
  if (framing_ == Framing::none) chunks_done_ = true;
}

bool RequestBody::read_line(std::string& line, size_t limit) {
  line.clear();
  for (;;) {
    int c = reader_.get();
    if (c < 0) return false;
    if (c == '\n') break;
    if (line.size() >= limit) return false;
    line.push_back(static_cast<char>(c));
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

// Reads the next chunk-size line (RFC 9112 section 7.1). At the last chunk, reads the trailer
// section and returns false.
bool RequestBody::next_chunk() {
  std::string line;
  if (!first_chunk_) {
    if (!read_line(line, 1) || !line.empty()) {
      broken_ = true;  // chunk data must be followed by CRLF
      return false;
    }
  }
  first_chunk_ = false;
  if (!read_line(line, kChunkLineLimit)) {
    broken_ = true;
    return false;
  }
  uint64_t size = 0;
  size_t digits = 0;
  for (char c : line) {
    int v = hex_value(c);
    if (v < 0) break;
    if (++digits > 15) {
      broken_ = true;
      return false;
    }
    size = size * 16 + static_cast<uint64_t>(v);
  }
  // After the size: optional blanks, then the end of the line or a chunk extension.
  size_t rest = digits;
  while (rest < line.size() && (line[rest] == ' ' || line[rest] == '\t')) ++rest;
  if (digits == 0 || (rest < line.size() && line[rest] != ';')) {
    broken_ = true;
    return false;
  }
  if (size > 0) {
    left_ = size;
    return true;
  }
  size_t trailer_bytes = 0;
  for (;;) {
    if (!read_line(line, kTrailerLimit)) {
      broken_ = true;
      return false;
    }
    if (line.empty()) break;
    trailer_bytes += line.size();
    if (trailer_bytes > kTrailerLimit) {
      broken_ = true;
      return false;
    }
  }
  chunks_done_ = true;
  return false;
}

template <class Read>
size_t RequestBody::decode(size_t n, Read read) {
  if (broken_ || n == 0) return 0;
  try {
    if (before_first_read_) {
      auto call = std::move(before_first_read_);
      before_first_read_ = nullptr;
      call();
    }
    if (framing_ == Framing::chunked && left_ == 0) {
      if (chunks_done_ || !next_chunk()) return 0;
    }
    if (left_ == 0) return 0;
    size_t got = read(static_cast<size_t>(std::min<uint64_t>(n, left_)));
    if (got == 0) {
      broken_ = true;  // the peer closed before the whole body arrived
      return 0;
    }
    left_ -= got;
    return got;
  } catch (const Poco::Exception&) {
    broken_ = true;  // receive timeout or reset
    return 0;
  }
}

size_t RequestBody::read_decoded(char* destination, size_t n) {
  return decode(n, [&](size_t count) { return reader_.read_some(destination, count); });
}

size_t RequestBody::append_to(std::string& out, size_t n) {
  if (gptr() < egptr()) {
    size_t take = std::min<size_t>(n, static_cast<size_t>(egptr() - gptr()));
    out.append(gptr(), take);
    gbump(static_cast<int>(take));
    return take;
  }
  return decode(n, [&](size_t count) { return reader_.append_some(out, count); });
}

RequestBody::int_type RequestBody::underflow() {
  if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
  size_t got = read_decoded(buffer_, sizeof buffer_);
  if (broken_) throw Broken{};
  if (got == 0) return traits_type::eof();
  setg(buffer_, buffer_, buffer_ + got);
  return traits_type::to_int_type(*gptr());
}

std::streamsize RequestBody::xsgetn(char* destination, std::streamsize n) {
  std::streamsize done = 0;
  if (gptr() < egptr()) {
    auto take = std::min<std::streamsize>(n, egptr() - gptr());
    std::copy(gptr(), gptr() + take, destination);
    gbump(static_cast<int>(take));
    done = take;
  }
  // Large reads bypass the stream's buffer: a webhook body goes from the socket buffer (or the
  // socket) straight into the caller's string.
  while (done < n) {
    size_t got = read_decoded(destination + done, static_cast<size_t>(n - done));
    if (broken_) throw Broken{};
    if (got == 0) break;
    done += static_cast<std::streamsize>(got);
  }
  return done;
}

bool RequestBody::discard_rest(size_t limit) {
  setg(buffer_, buffer_, buffer_);
  if (broken_) return false;
  if (framing_ == Framing::length && left_ > limit) return false;
  // Nothing read yet and a client waiting for 100 Continue: it has sent no body, and telling it
  // to go on only to drop the body would waste the upload. Close instead.
  if (before_first_read_ && (left_ > 0 || !chunks_done_)) return false;
  size_t dropped = 0;
  char scratch[8192];
  while (dropped <= limit) {
    size_t got = read_decoded(scratch, sizeof scratch);
    if (got == 0) return !broken_;
    dropped += got;
  }
  return false;
}

}  // namespace oceand
