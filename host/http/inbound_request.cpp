#include "http/inbound_request.hpp"

#include <Poco/MemoryStream.h>

namespace oceand {

InboundRequest::InboundRequest(const ConnectionInfo& connection,
                               Poco::Net::HTTPServerResponse& response)
    : connection_(connection), response_(response) {}

void InboundRequest::parse_head(std::string_view head) {
  Poco::MemoryInputStream in(head.data(), head.size());
  read(in);
}

void InboundRequest::attach_body(SocketReader& reader, RequestBody::Framing framing,
                                 uint64_t length, std::function<void()> before_first_read) {
  body_.emplace(reader, framing, length, std::move(before_first_read));
  stream_.emplace(&*body_);
}

std::istream& InboundRequest::stream() {
  return *stream_;
}

}  // namespace oceand
