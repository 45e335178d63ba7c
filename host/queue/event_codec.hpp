#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace oceand {

using HeaderPairs = std::vector<std::pair<std::string, std::string>>;

// How an event's header list is kept in one BLOB column: length-prefixed names and values, in
// order.
std::string encode_headers(const HeaderPairs& headers);
// Throws StoreError when `bytes` is not what encode_headers wrote.
HeaderPairs decode_headers(std::string_view bytes);

// zlib (deflate, fastest level) with the original size in front, for stored bodies.
std::string deflate_bytes(std::string_view bytes);
// Throws StoreError when `bytes` is not what deflate_bytes wrote.
std::string inflate_bytes(std::string_view bytes);

}  // namespace oceand
