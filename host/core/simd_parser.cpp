#include "core/simd_parser.hpp"

namespace oceand {

SimdParser::SimdParser(size_t max_depth, size_t keep_bytes)
    : max_depth_(max_depth), keep_bytes_(keep_bytes), parser_(make_parser()) {}

simdjson::dom::parser SimdParser::make_parser() const {
  simdjson::dom::parser parser;
  if (parser.allocate(64u << 10, max_depth_) != simdjson::SUCCESS) return simdjson::dom::parser();
  return parser;
}

std::optional<simdjson::dom::element> SimdParser::parse(std::string_view text,
                                                        size_t readable_after) {
  // A parser whose allocation failed would not hold the depth limit.
  if (parser_.max_depth() != max_depth_) return std::nullopt;
  const char* data = text.data();
  if (readable_after < kPadding) {
    buffer_.reserve(text.size() + kPadding);
    buffer_.assign(text.data(), text.size());
    data = buffer_.data();
  }
  simdjson::dom::element root;
  if (parser_.parse(data, text.size(), false).get(root) != simdjson::SUCCESS) return std::nullopt;
  return root;
}

void SimdParser::done() {
  if (buffer_.capacity() <= keep_bytes_ + simdjson::SIMDJSON_PADDING) return;
  std::string().swap(buffer_);
  parser_ = make_parser();
}

}  // namespace oceand
