#pragma once

#include <istream>
#include <optional>
#include <string>
#include <string_view>

#include <Poco/MemoryStream.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SocketAddress.h>

namespace oceand {

// What a connection knows once, for every request it carries.
struct ConnectionInfo {
  Poco::Net::SocketAddress client;
  Poco::Net::SocketAddress server;
  Poco::Net::HTTPServerParams::Ptr params;
};

// A request as handlers see it (Poco's HTTPServerRequest): the head parsed by Poco's HTTPRequest,
// the body already whole in memory. The I/O loop assembles both before a handler runs, so a
// handler never waits for a client's bytes.
class InboundRequest : public Poco::Net::HTTPServerRequest {
 public:
  explicit InboundRequest(const ConnectionInfo& connection) : connection_(connection) {}

  // Throws Poco::Net::MessageException (and its kin) for a head Poco refuses.
  void parse_head(std::string_view head);
  // The decoded body (Content-Length bytes or the chunks' data).
  std::string& body() { return body_; }
  // Hands the body over (the ingress keeps it as its event's, without a copy): stream() reads
  // nothing once it is taken.
  std::string take_body();
  // The answer this request gets; set by the connection before the handler runs.
  void set_response(Poco::Net::HTTPServerResponse& response) { response_ = &response; }

  std::istream& stream() override;
  const Poco::Net::SocketAddress& clientAddress() const override { return connection_.client; }
  const Poco::Net::SocketAddress& serverAddress() const override { return connection_.server; }
  const Poco::Net::HTTPServerParams& serverParams() const override { return *connection_.params; }
  Poco::Net::HTTPServerResponse& response() const override { return *response_; }
  bool secure() const override { return false; }

 private:
  const ConnectionInfo& connection_;
  Poco::Net::HTTPServerResponse* response_ = nullptr;
  std::string body_;
  std::optional<Poco::MemoryInputStream> stream_;
};

}  // namespace oceand
