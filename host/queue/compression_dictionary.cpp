#include "queue/compression_dictionary.hpp"

#include <cstring>

#include "queue/event_codec.hpp"

namespace oceand {

CompressionDictionary::CompressionDictionary(uint64_t id, std::string_view earlier,
                                             std::string_view sample)
    : id_(id), loaded_(std::make_unique<LZ4_stream_t>()) {
  if (sample.size() > kMaxBytes) sample = sample.substr(sample.size() - kMaxBytes);
  const size_t room = kMaxBytes - sample.size();
  if (earlier.size() > room) earlier = earlier.substr(earlier.size() - room);
  bytes_.reserve(earlier.size() + sample.size());
  bytes_.append(earlier).append(sample);
  LZ4_initStream(loaded_.get(), sizeof(LZ4_stream_t));
  LZ4_loadDict(loaded_.get(), bytes_.data(), static_cast<int>(bytes_.size()));
}

std::string CompressionDictionary::compress(std::string_view bytes) const {
  // Each call compresses from a fresh copy of the loaded state: LZ4 writes to the state as it
  // goes. The copy refers to bytes_ only during the call (between calls it is stale, and
  // overwritten before any use).
  thread_local LZ4_stream_t state;
  std::memcpy(&state, loaded_.get(), sizeof state);
  return compress_bytes(bytes, &state);
}

std::string CompressionDictionary::decompress(std::string_view bytes) const {
  return decompress_lz4(bytes, bytes_);
}

}  // namespace oceand
