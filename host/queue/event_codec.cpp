#include "queue/event_codec.hpp"

#include <lz4.h>
#include <zlib.h>

#include <cstdint>
#include <memory>

#include "queue/sqlite_db.hpp"

namespace oceand {

namespace {

// Beyond any body the ingress accepts (server.max_body_bytes is at most 1 GiB); a larger length
// prefix means a damaged row, not a real event.
constexpr uint32_t kMaxStoredSize = 1u << 30;

// Little-endian, sizeof(T) bytes.
template <typename T>
void put_le(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

template <typename T>
bool get_le(std::string_view& in, T& v) {
  if (in.size() < sizeof(T)) return false;
  v = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    v |= static_cast<T>(static_cast<unsigned char>(in[i])) << (8 * i);
  in.remove_prefix(sizeof(T));
  return true;
}

void put_u32(std::string& out, uint32_t v) {
  put_le(out, v);
}

bool get_u32(std::string_view& in, uint32_t& v) {
  return get_le(in, v);
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

std::string compress_bytes(std::string_view bytes, LZ4_stream_t* dictionary) {
  if (bytes.size() > kMaxStoredSize) throw StoreError("body too large to store");
  const int bound = LZ4_compressBound(static_cast<int>(bytes.size()));
  // LZ4 writes into a per-thread scratch block, and the result is copied out at its exact size:
  // sizing the result for LZ4's worst case would zero-fill (and fault in) a body's size of fresh
  // memory per event and keep that capacity while the event waits. Blocks beyond kKeptScratch
  // are not kept between calls.
  constexpr size_t kKeptScratch = 1u << 20;
  thread_local std::unique_ptr<char[]> kept;
  std::unique_ptr<char[]> once;
  char* scratch = nullptr;
  if (static_cast<size_t>(bound) <= kKeptScratch) {
    if (!kept) kept = std::make_unique_for_overwrite<char[]>(kKeptScratch);
    scratch = kept.get();
  } else {
    once = std::make_unique_for_overwrite<char[]>(static_cast<size_t>(bound));
    scratch = once.get();
  }
  const int size = static_cast<int>(bytes.size());
  const int written =
      dictionary ? LZ4_compress_fast_continue(dictionary, bytes.data(), scratch, size, bound, 1)
                 : LZ4_compress_default(bytes.data(), scratch, size, bound);
  if (written <= 0 && !bytes.empty()) throw StoreError("LZ4 could not compress a body");
  std::string out;
  out.reserve(4 + static_cast<size_t>(written));
  put_u32(out, static_cast<uint32_t>(bytes.size()));
  out.append(scratch, static_cast<size_t>(written));
  return out;
}

std::string decompress_lz4(std::string_view bytes, std::string_view dictionary) {
  uint32_t size = 0;
  if (!get_u32(bytes, size) || size > kMaxStoredSize)
    throw StoreError("a stored body is damaged (bad size)");
  std::string out(size, '\0');
  // The safe decoder never reads or writes outside the two buffers and the dictionary, whatever
  // the bytes.
  const int got = LZ4_decompress_safe_usingDict(
      bytes.data(), out.data(), static_cast<int>(bytes.size()), static_cast<int>(size),
      dictionary.data(), static_cast<int>(dictionary.size()));
  if (got < 0 || static_cast<uint32_t>(got) != size)
    throw StoreError("a stored body is damaged (LZ4)");
  return out;
}

std::string with_dictionary_id(uint64_t id, std::string_view block) {
  std::string out;
  out.reserve(sizeof id + block.size());
  put_le(out, id);
  return out.append(block);
}

uint64_t take_dictionary_id(std::string_view& bytes) {
  uint64_t id = 0;
  if (!get_le(bytes, id)) throw StoreError("a stored body is damaged (no dictionary id)");
  return id;
}

std::string decompress_bytes(std::string_view bytes, BodyCodec codec) {
  if (codec == BodyCodec::kPlain) return std::string(bytes);
  if (codec == BodyCodec::kLz4) return decompress_lz4(bytes, {});
  if (codec != BodyCodec::kZlib)
    throw StoreError("a stored body has an unknown encoding " +
                     std::to_string(static_cast<int64_t>(codec)));
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

void decompress_bodies(std::string& body, std::string& payload, BodyCodec codec) {
  if (codec == BodyCodec::kPlain) return;
  body = decompress_bytes(body, codec);
  if (!payload.empty()) payload = decompress_bytes(payload, codec);
}

}  // namespace oceand
