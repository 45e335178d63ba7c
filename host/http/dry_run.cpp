#include "http/dry_run.hpp"

#include <algorithm>
#include <chrono>
#include <memory>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/config_error.hpp"
#include "core/json_text.hpp"
#include "http/responses.hpp"
#include "mapping/entity_mapper.hpp"
#include "mapping/port_app_config.hpp"
#include "mapping/raw_samples.hpp"
#include "plugins/generation.hpp"

namespace oceand {

namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// A dry run maps at most this long in all: each expression is bounded already
// (mapping.max_eval_seconds), but a hundred samples of a runaway expression would not be.
constexpr std::chrono::seconds kBudget{10};
// Bounds on what one request may ask for, so that a dry run costs an admin thread seconds, never
// hours or the host's memory.
constexpr size_t kMaxDepth = 64;       // JSON nesting of the body
constexpr size_t kMaxRawItems = 1000;  // given raw objects
constexpr size_t kMaxResources = 100;  // resources of a given config
constexpr size_t kMaxEntities = 5000;  // entities and deletions in one answer
constexpr size_t kChunk = 50;          // items mapped between looks at the clock

// Whether `text` nests arrays and objects deeper than `limit` (strings skipped): RapidJSON's
// parser and writer recurse once per level, so a body of 100,000 '[' would end the process.
bool too_deep(const std::string& text, size_t limit) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

void write_string(JsonWriter& w, const std::string& s) {
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
}

void write_entities(JsonWriter& w, const char* key, const std::vector<MappedEntity>& entities) {
  w.Key(key);
  w.StartArray();
  for (const auto& e : entities) w.RawValue(e.json.c_str(), e.json.size(), rapidjson::kObjectType);
  w.EndArray();
}

}  // namespace

namespace {

// What a dry-run request asks for.
struct Query {
  std::shared_ptr<const PortAppConfig> mapping;  // given, or the integration's own
  bool given = false;
  std::string kind;               // empty: every resource
  std::optional<RawResults> raw;  // none: the samples kept per kind
};

// Reads the request body into `q`; empty when it is usable, else why not (a 400).
std::string parse_query(const std::string& body, Query& q) {
  rapidjson::Document request;
  if (too_deep(body, kMaxDepth)) return "the body nests deeper than 64 levels";
  if (body.find_first_not_of(" \t\r\n") != std::string::npos) {
    request.Parse(body.data(), body.size());
    if (request.HasParseError() || !request.IsObject())
      return "the body must be a JSON object (or empty)";
  } else {
    request.SetObject();
  }
  if (auto it = request.FindMember("config"); it != request.MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsObject() && !it->value.IsString())
      return "config must be a port-app-config object or its text";
    const std::string text = it->value.IsString()
                                 ? std::string(it->value.GetString(), it->value.GetStringLength())
                                 : json_text(it->value);
    if (too_deep(text, kMaxDepth)) return "config nests deeper than 64 levels";
    try {
      q.mapping = std::make_shared<PortAppConfig>(parse_port_app_config(text, "config"));
    } catch (const ConfigError& e) {
      return e.what();
    }
    if (q.mapping->resources.size() > kMaxResources) return "config has more than 100 resources";
    q.given = true;
  }
  if (auto it = request.FindMember("kind"); it != request.MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsString()) return "kind must be a string";
    q.kind = it->value.GetString();
  }
  if (auto it = request.FindMember("raw"); it != request.MemberEnd() && !it->value.IsNull()) {
    q.raw.emplace();
    if (it->value.IsObject()) {
      q.raw->updated.push_back(json_text(it->value));
    } else if (it->value.IsArray()) {
      if (it->value.Size() > kMaxRawItems) return "raw has more than 1000 items";
      for (const auto& item : it->value.GetArray()) {
        if (!item.IsObject()) return "raw must be an object or a list of objects";
        q.raw->updated.push_back(json_text(item));
      }
    } else {
      return "raw must be an object or a list of objects";
    }
  }
  return {};
}

// One resource's part of the answer.
void write_resource(JsonWriter& w, const ResourceMapping& resource, size_t items,
                    const MappingResult& mapped, const std::vector<ExpressionError>& errors) {
  w.StartObject();
  w.Key("index");
  w.Uint(resource.index);
  w.Key("kind");
  write_string(w, resource.kind);
  w.Key("items");
  w.Uint64(items);
  write_entities(w, "entities", mapped.upserts);
  write_entities(w, "deletions", mapped.deletions);
  w.Key("skipped");
  w.Uint64(mapped.skipped);
  w.Key("errors");
  w.StartArray();
  for (const auto& e : errors) {
    w.StartObject();
    w.Key("field");
    write_string(w, e.field);
    w.Key("expression");
    write_string(w, e.expression);
    w.Key("error");
    write_string(w, e.error);
    w.Key("items");
    w.Uint64(e.count);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

}  // namespace

// Maps `input` with `resource` in chunks, looking at the clock between them: each evaluation is
// bounded, their sum is not. Sets `truncated` when the deadline or the entity cap cut it short.
MappingResult DryRun::map_resource(const ResourceMapping& resource, const RawResults& input,
                                   std::chrono::steady_clock::time_point deadline,
                                   std::vector<ExpressionError>& errors, bool& truncated) const {
  MappingResult mapped;
  auto map_chunks = [&](const std::vector<std::string>& items, bool deleted) {
    for (size_t at = 0; at < items.size() && !truncated; at += kChunk) {
      if (std::chrono::steady_clock::now() > deadline ||
          mapped.upserts.size() + mapped.deletions.size() > kMaxEntities) {
        truncated = true;
        break;
      }
      RawResults chunk;
      (deleted ? chunk.deleted : chunk.updated)
          .assign(items.begin() + at, items.begin() + std::min(items.size(), at + kChunk));
      MappingResult part =
          EntityMapper::map(resource, chunk, integration_.config.identifier, &errors);
      for (auto& e : part.upserts) mapped.upserts.push_back(std::move(e));
      for (auto& e : part.deletions) mapped.deletions.push_back(std::move(e));
      mapped.skipped += part.skipped;
    }
  };
  map_chunks(input.updated, false);
  map_chunks(input.deleted, true);
  return mapped;
}

void DryRun::serve(const std::string& body, Poco::Net::HTTPServerResponse& response) {
  Query q;
  q.mapping = integration_.mapping;
  if (std::string problem = parse_query(body, q); !problem.empty())
    return send_error(response, 400, problem);
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  w.Key("integration");
  write_string(w, integration_.config.identifier);
  w.Key("config");
  w.String(q.given ? "given" : "current");
  w.Key("raw");
  w.String(q.raw ? "given" : "samples");
  // Expressions that do not compile yield null for every item: said once, up front.
  w.Key("problems");
  w.StartArray();
  for (const auto& problem : mapping_problems(*q.mapping)) write_string(w, problem);
  w.EndArray();
  w.Key("resources");
  w.StartArray();
  const auto deadline = std::chrono::steady_clock::now() + kBudget;
  bool truncated = false;
  for (const auto& resource : q.mapping->resources) {
    if (!q.kind.empty() && resource.kind != q.kind) continue;
    if (std::chrono::steady_clock::now() > deadline) {
      truncated = true;
      break;
    }
    const RawResults input =
        q.raw ? *q.raw
              : (samples_ ? samples_->samples(integration_.config.identifier, resource.kind)
                          : RawResults{});
    std::vector<ExpressionError> errors;
    MappingResult mapped = map_resource(resource, input, deadline, errors, truncated);
    write_resource(w, resource, input.updated.size() + input.deleted.size(), mapped, errors);
  }
  w.EndArray();
  w.Key("truncated");
  w.Bool(truncated);
  w.EndObject();
  send_json(response, 200, std::string(buffer.GetString(), buffer.GetSize()));
}

}  // namespace oceand
