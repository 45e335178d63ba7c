#include "http/responses.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace oceand {

void send_text(Poco::Net::HTTPServerResponse& response, int status, const std::string& body,
               const std::string& type) {
  response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
  response.setContentType(type);
  // Header and body leave in one send(): send() would flush the header on its own first, which
  // costs a second syscall and wakes the client twice per answer.
  response.sendBuffer(body.data(), body.size());
}

void send_json(Poco::Net::HTTPServerResponse& response, int status, const std::string& body) {
  send_text(response, status, body, "application/json");
}

void send_error(Poco::Net::HTTPServerResponse& response, int status, std::string_view message) {
  send_json(response, status, "{\"status\":\"error\",\"message\":" + json_string(message) + "}");
}

}  // namespace oceand
