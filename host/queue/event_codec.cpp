#include "queue/event_codec.hpp"

#include <zlib.h>

#include <cstdint>

#include "queue/sqlite_db.hpp"

namespace oceand {

namespace {

// Beyond any body the ingress accepts (server.max_body_bytes is at most 1 GiB); a larger length
// prefix means a damaged row, not a real event.
constexpr uint32_t kMaxStoredSize = 1u << 30;

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool get_u32(std::string_view& in, uint32_t& v) {
  if (in.size() < 4) return false;
  v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  in.remove_prefix(4);
  return true;
}

bool get_string(std::string_view& in, std::string& out) {
  uint32_t n = 0;
  if (!get_u32(in, n) || n > in.size()) return false;
  out.assign(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}

}  // namespace

std::string encode_headers(const HeaderPairs& headers) {
  std::string out;
  for (const auto& [name, value] : headers) {
    put_u32(out, static_cast<uint32_t>(name.size()));
    out += name;
    put_u32(out, static_cast<uint32_t>(value.size()));
    out += value;
  }
  return out;
}

HeaderPairs decode_headers(std::string_view bytes) {
  HeaderPairs headers;
  while (!bytes.empty()) {
    std::pair<std::string, std::string> h;
    if (!get_string(bytes, h.first) || !get_string(bytes, h.second))
      throw StoreError("a stored header list is damaged");
    headers.push_back(std::move(h));
  }
  return headers;
}

std::string deflate_bytes(std::string_view bytes) {
  if (bytes.size() > kMaxStoredSize) throw StoreError("body too large to store");
  uLongf bound = compressBound(static_cast<uLong>(bytes.size()));
  std::string out;
  put_u32(out, static_cast<uint32_t>(bytes.size()));
  out.resize(4 + bound);
  if (compress2(reinterpret_cast<Bytef*>(out.data() + 4), &bound,
                reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uLong>(bytes.size()),
                Z_BEST_SPEED) != Z_OK)
    throw StoreError("zlib could not compress a body");
  out.resize(4 + bound);
  return out;
}

std::string inflate_bytes(std::string_view bytes) {
  uint32_t size = 0;
  if (!get_u32(bytes, size) || size > kMaxStoredSize)
    throw StoreError("a stored body is damaged (bad size)");
  std::string out(size, '\0');
  uLongf got = size;
  if (uncompress(reinterpret_cast<Bytef*>(out.data()), &got,
                 reinterpret_cast<const Bytef*>(bytes.data()),
                 static_cast<uLong>(bytes.size())) != Z_OK ||
      got != size)
    throw StoreError("a stored body is damaged (zlib)");
  return out;
}

}  // namespace oceand
