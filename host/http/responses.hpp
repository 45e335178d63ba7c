#pragma once

#include <string>
#include <string_view>

#include <Poco/Net/HTTPServerResponse.h>

#include "core/json_text.hpp"

namespace oceand {

void send_json(Poco::Net::HTTPServerResponse& response, int status, const std::string& body);
void send_text(Poco::Net::HTTPServerResponse& response, int status, const std::string& body,
               const std::string& type);
// {"status":"error","message":...}
void send_error(Poco::Net::HTTPServerResponse& response, int status, std::string_view message);

}  // namespace oceand
