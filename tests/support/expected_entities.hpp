#pragma once

// What an integration test expects Port to end up with, written by hand, and the check that maps
// captured raw results with the integration's real mapping and compares. Kept apart from the
// capture so that a later check against the applied store can reuse the same expectations.

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "mapping/entity_mapper.hpp"
#include "mapping/port_app_config.hpp"
#include "support/test_host.hpp"

namespace oceand::test {

struct ExpectedEntity {
  enum class Op { upsert, remove };
  Op op;
  std::string blueprint;
  std::string identifier;
  // Dotted paths into the entity ("title", "properties.status", "relations.repository") and the
  // expected value as JSON text.
  std::map<std::string, std::string> fields;
};

inline ExpectedEntity upsert(std::string blueprint, std::string identifier,
                             std::map<std::string, std::string> fields = {}) {
  return {ExpectedEntity::Op::upsert, std::move(blueprint), std::move(identifier),
          std::move(fields)};
}
inline ExpectedEntity removal(std::string blueprint, std::string identifier) {
  return {ExpectedEntity::Op::remove, std::move(blueprint), std::move(identifier), {}};
}

struct MappedEntities {
  std::vector<MappedEntity> upserts, deletions;
};

// Maps every captured raw result with the resource of its kind in `mapping`.
inline MappedEntities map_captured(const std::vector<CapturingSink::Entry>& entries,
                                   const PortAppConfig& mapping) {
  MappedEntities out;
  for (const auto& entry : entries) {
    for (const ResourceMapping* resource : mapping.resources_of_kind(entry.kind)) {
      RawResults raw{entry.updated, entry.deleted};
      MappingResult r = EntityMapper::map(*resource, raw);
      out.upserts.insert(out.upserts.end(), r.upserts.begin(), r.upserts.end());
      out.deletions.insert(out.deletions.end(), r.deletions.begin(), r.deletions.end());
    }
  }
  return out;
}

inline const rapidjson::Value* at_path(const rapidjson::Value& root, const std::string& path) {
  const rapidjson::Value* v = &root;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t dot = path.find('.', pos);
    if (dot == std::string::npos) dot = path.size();
    std::string key = path.substr(pos, dot - pos);
    if (!v->IsObject() || !v->HasMember(key.c_str())) return nullptr;
    v = &(*v)[key.c_str()];
    pos = dot + 1;
  }
  return v;
}

// The mapped entities are exactly `expected` (in any order), with the expected field values.
inline void check_entities(const MappedEntities& got, const std::vector<ExpectedEntity>& expected) {
  size_t upserts = 0, removals = 0;
  for (const auto& want : expected) {
    bool up = want.op == ExpectedEntity::Op::upsert;
    (up ? upserts : removals)++;
    const auto& pool = up ? got.upserts : got.deletions;
    const MappedEntity* found = nullptr;
    for (const auto& e : pool)
      if (e.blueprint == want.blueprint && e.identifier == want.identifier) found = &e;
    INFO(std::string(up ? "upsert " : "deletion ") << want.blueprint << "/" << want.identifier);
    REQUIRE(found != nullptr);
    rapidjson::Document entity;
    entity.Parse(found->json.c_str());
    for (const auto& [path, value] : want.fields) {
      INFO("field " << path << " of " << found->json);
      rapidjson::Document expected_value;
      expected_value.Parse(value.c_str());
      REQUIRE_FALSE(expected_value.HasParseError());
      const rapidjson::Value* actual = at_path(entity, path);
      REQUIRE(actual != nullptr);
      CHECK(*actual == expected_value);
    }
  }
  CHECK(got.upserts.size() == upserts);
  CHECK(got.deletions.size() == removals);
}

}  // namespace oceand::test
