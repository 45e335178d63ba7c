#pragma once

#include <lz4.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace oceand {

// A recent body that later bodies are LZ4-compressed against. Webhooks from one sender repeat most
// of their bytes — the repository, sender and organisation objects, the key names — so with one of
// them as dictionary a 28 KB GitHub pull request waits in ≈ 0.5 KB instead of ≈ 4.5 KB, and an
// issue event compressed against a pull request in ≈ 0.85 KB instead of ≈ 3 KB, in about a third
// of the time (docs/benchmarks.md, "ingest while processing").
//
// Immutable once built, so any number of threads compress and decompress with one dictionary at
// once; whatever was compressed with it holds it (shared_ptr) until it is decompressed.
class CompressionDictionary {
 public:
  // LZ4 sees at most the last 64 KiB of a dictionary.
  static constexpr size_t kMaxBytes = 64u << 10;
  // `sample` last (the part LZ4 reaches best), after as much of the end of `earlier` as fits.
  // `id` names it where blocks are stored apart from it (the durable queue's dictionaries table).
  CompressionDictionary(uint64_t id, std::string_view earlier, std::string_view sample);
  CompressionDictionary(const CompressionDictionary&) = delete;
  CompressionDictionary& operator=(const CompressionDictionary&) = delete;

  // The original size (4 bytes, little-endian) and one LZ4 block. Throws StoreError past 1 GiB.
  std::string compress(std::string_view bytes) const;
  // Throws StoreError when `bytes` is not what compress() wrote with this dictionary.
  std::string decompress(std::string_view bytes) const;
  std::string_view bytes() const { return bytes_; }
  uint64_t id() const { return id_; }

 private:
  uint64_t id_;
  std::string bytes_;
  // The LZ4 stream state with bytes_ loaded: hashing a dictionary costs as much as compressing
  // a body, copying the loaded state a sixteenth of that.
  std::unique_ptr<LZ4_stream_t> loaded_;
};

}  // namespace oceand
