#pragma once

#include <string>
#include <vector>

#include "core/mapped_entity.hpp"
#include "core/results.hpp"
#include "mapping/port_app_config.hpp"

namespace oceand {

struct MappingResult {
  std::vector<MappedEntity> upserts;
  std::vector<MappedEntity> deletions;
  size_t skipped = 0;  // items without identifier or blueprint
};

// What an expression raised while mapping (a dry run collects them instead of logging them).
struct ExpressionError {
  std::string field;  // e.g. "properties.status", "selector.query"
  std::string expression;
  std::string error;
  size_t count = 1;  // items it failed on
};

// Every jq expression of `config` that does not compile, as "resource <index> (kind <kind>)
// <field>: <jq's message>" (oceand --check); empty when all compile.
std::vector<std::string> mapping_problems(const PortAppConfig& config);

// Ocean's JQ entity processing for one resource block:
//  - `port.itemsToParse` expands each raw item into one item per element (the element under
//    `itemsToParseName`, default "item", beside the raw item's own fields);
//  - `selector.query` must yield true; an updated item that fails it becomes a deletion;
//  - every leaf string of `port.entity.mappings` is a jq expression whose first output is taken; an
//    expression that errors yields null and is logged once;
//  - items with an empty identifier or blueprint are skipped (logged);
//  - a deletion of an entity that is also upserted is dropped.
// Thread-safe: compiled programs are pooled per resource and borrowed for one call (see
// docs/mapping.md, "How a resource is evaluated").
class EntityMapper {
 public:
  // `integration` names the integration in log lines.
  // With `errors`, what each expression raised is collected there (merged by field and message)
  // instead of logged: a dry run's answer.
  static MappingResult map(const ResourceMapping& resource, const RawResults& raw,
                           const std::string& integration = {},
                           std::vector<ExpressionError>* errors = nullptr);
};

}  // namespace oceand
