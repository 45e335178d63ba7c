#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <Poco/Net/HTTPServerResponse.h>

#include "mapping/entity_mapper.hpp"

namespace oceand {

struct Integration;
class RawSamples;

// POST /admin/integrations/<id>/dry-run: what a mapping would make of raw data, applying nothing.
// The body (JSON, all optional):
//   {"config": <port-app-config as an object, or YAML/JSON text>,  none: the integration's own
//    "kind": "<kind>",                                              none: every resource
//    "raw": <one raw object, or a list of them>}                    none: the kept samples
// The answer names, per resource, the entities and deletions it would produce, the items it
// skipped, and every error an expression raised (field, expression, message, how many items).
class DryRun {
 public:
  DryRun(const Integration& integration, const RawSamples* samples)
      : integration_(integration), samples_(samples) {}
  void serve(const std::string& body, Poco::Net::HTTPServerResponse& response);

 private:
  MappingResult map_resource(const ResourceMapping& resource, const RawResults& input,
                             std::chrono::steady_clock::time_point deadline,
                             std::vector<ExpressionError>& errors, bool& truncated) const;

  const Integration& integration_;
  const RawSamples* samples_;
};

}  // namespace oceand
