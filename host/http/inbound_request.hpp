#pragma once

#include <istream>
#include <optional>
#include <string_view>

#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SocketAddress.h>

#include "http/request_body.hpp"

namespace oceand {

// What a connection knows once, for every request it carries.
struct ConnectionInfo {
  Poco::Net::SocketAddress client;
  Poco::Net::SocketAddress server;
  Poco::Net::HTTPServerParams::Ptr params;
};

// A request read by HttpConnection: the head parsed by Poco's HTTPRequest, the body a
// RequestBody over the connection's reader. Handlers see Poco's HTTPServerRequest interface.
class InboundRequest : public Poco::Net::HTTPServerRequest {
 public:
  InboundRequest(const ConnectionInfo& connection, Poco::Net::HTTPServerResponse& response);

  // Throws Poco::Net::MessageException (and its kin) for a head Poco refuses.
  void parse_head(std::string_view head);
  void attach_body(SocketReader& reader, RequestBody::Framing framing, uint64_t length,
                   std::function<void()> before_first_read);
  RequestBody* body() { return body_ ? &*body_ : nullptr; }

  std::istream& stream() override;
  const Poco::Net::SocketAddress& clientAddress() const override { return connection_.client; }
  const Poco::Net::SocketAddress& serverAddress() const override { return connection_.server; }
  const Poco::Net::HTTPServerParams& serverParams() const override { return *connection_.params; }
  Poco::Net::HTTPServerResponse& response() const override { return response_; }
  bool secure() const override { return false; }

 private:
  const ConnectionInfo& connection_;
  Poco::Net::HTTPServerResponse& response_;
  std::optional<RequestBody> body_;
  std::optional<std::istream> stream_;
};

}  // namespace oceand
