#pragma once

#include <string>

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

namespace oceand {

struct StatusDeps;
class Generation;

// The admin listener's status page: GET / is one plain HTML page (no script, no framework) with
// readiness, integrations and plugin files (with refusal reasons), the last reload, the queue and
// its rates, recent failures and the dead letters; its buttons are forms that POST to
// /status/reload and /status/dead-letters/<id>/{replay,delete} and come back to the page (303)
// with a notice. Requests from another site (Origin / Sec-Fetch-Site) are refused: a page the
// operator has open elsewhere must not be able to press the buttons.
class StatusPage {
 public:
  explicit StatusPage(const StatusDeps& host) : host_(host) {}
  // True when `path` was the page's (answered), false otherwise.
  bool serve(const std::string& path, Poco::Net::HTTPServerRequest& request,
             Poco::Net::HTTPServerResponse& response);

 private:
  void render(const std::string& notice, Poco::Net::HTTPServerResponse& response);
  // The page's sections, appended to `page` in order.
  void render_header(std::string& page, const std::string& notice, const Generation* generation);
  void render_integrations(std::string& page, const Generation* generation);
  void render_plugin_files(std::string& page, const Generation* generation);
  void render_queue(std::string& page);
  void render_failures(std::string& page);
  void render_dead_letters(std::string& page);
  void act(const std::string& path, Poco::Net::HTTPServerRequest& request,
           Poco::Net::HTTPServerResponse& response);

  const StatusDeps& host_;
};

}  // namespace oceand
