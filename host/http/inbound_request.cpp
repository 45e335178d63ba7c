#include "http/inbound_request.hpp"

namespace oceand {

void InboundRequest::parse_head(std::string_view head) {
  Poco::MemoryInputStream in(head.data(), head.size());
  read(in);
}

std::string InboundRequest::take_body() {
  stream_.reset();
  std::string taken = std::move(body_);
  body_.clear();
  return taken;
}

std::istream& InboundRequest::stream() {
  if (!stream_) stream_.emplace(body_.data(), body_.size());
  return *stream_;
}

}  // namespace oceand
