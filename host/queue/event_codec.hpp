#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

union LZ4_stream_u;  // lz4.h's LZ4_stream_t

namespace oceand {

using HeaderPairs = std::vector<std::pair<std::string, std::string>>;

// How an event's header list is kept in one BLOB column: length-prefixed names and values, in
// order.
std::string encode_headers(const HeaderPairs& headers);
// Throws StoreError when `bytes` is not what encode_headers wrote.
HeaderPairs decode_headers(std::string_view bytes);

// How a stored body and payload are encoded: the value of an event row's `deflated` column (named
// for the first codec). Values are never reused; rows written with any of them stay readable.
enum class BodyCodec : int64_t {
  kPlain = 0,
  kZlib = 1,  // written by oceand before LZ4; read only
  kLz4 = 2,
  // LZ4 against a dictionary of the durable queue's dictionaries table: the dictionary's id (8
  // bytes, little-endian) in front of what kLz4 holds. oceand before it cannot read such rows.
  kLz4Dictionary = 3,
};

// LZ4 (one block) with the original size in front: ≈ 15 µs for a 28 KB pull-request payload,
// which it shrinks ≈ 6×, where zlib's fastest level took ≈ 200 µs. With `dictionary` — an LZ4
// stream state with a dictionary loaded, which this call writes to (CompressionDictionary) — the
// block refers to the dictionary and decodes only with it (decompress_lz4).
std::string compress_bytes(std::string_view bytes, union LZ4_stream_u* dictionary = nullptr);
// One block compress_bytes wrote, with the dictionary it was written with (empty for none).
// Throws StoreError when `bytes` is not such a block.
std::string decompress_lz4(std::string_view bytes, std::string_view dictionary);
// kLz4Dictionary's framing: the dictionary's id in front of a block. take_dictionary_id removes it
// from `bytes`, and throws StoreError when there is none.
std::string with_dictionary_id(uint64_t id, std::string_view block);
uint64_t take_dictionary_id(std::string_view& bytes);
// Throws StoreError when `bytes` is not what `codec` wrote (damaged, or an unknown codec).
std::string decompress_bytes(std::string_view bytes, BodyCodec codec);
// A stored event's body and payload, decoded in place (an empty payload stays empty whatever the
// codec). Throws StoreError as decompress_bytes.
void decompress_bodies(std::string& body, std::string& payload, BodyCodec codec);

}  // namespace oceand
