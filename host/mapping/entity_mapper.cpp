#include "mapping/entity_mapper.hpp"

#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/json_text.hpp"
#include "core/log.hpp"
#include "mapping/jq_program.hpp"

namespace oceand {

namespace {

struct Field {
  std::vector<std::string> path;  // e.g. {"properties", "status"}
  std::unique_ptr<JqProgram> program;
};

// One resource block compiled for one thread.
struct CompiledResource {
  std::unique_ptr<JqProgram> selector;
  std::unique_ptr<JqProgram> items_to_parse;
  std::string items_name = "item";
  std::vector<Field> fields;
  bool valid = true;
  std::string source;  // the resource block it was compiled from
};

void log_once(const std::string& key, const std::string& message) {
  static std::mutex mutex;
  static std::set<std::string> logged;
  std::lock_guard lock(mutex);
  if (logged.size() > 10000) logged.clear();
  if (logged.insert(key).second) {
    LOG_WARN("mapping") << message;
  }
}

std::unique_ptr<JqProgram> compile(const std::string& expression, uint64_t uid) {
  try {
    return std::make_unique<JqProgram>(expression);
  } catch (const JqCompileError& e) {
    log_once(std::to_string(uid) + expression, e.what());
    return nullptr;
  }
}

void collect_fields(const rapidjson::Value& node, std::vector<std::string>& path,
                    std::vector<Field>& out, uint64_t uid) {
  if (node.IsString()) {
    out.push_back(Field{path, compile(node.GetString(), uid)});
  } else if (node.IsObject()) {
    for (const auto& m : node.GetObject()) {
      path.emplace_back(m.name.GetString(), m.name.GetStringLength());
      collect_fields(m.value, path, out, uid);
      path.pop_back();
    }
  }
}

const rapidjson::Value* find(const rapidjson::Value& v, std::initializer_list<const char*> keys) {
  const rapidjson::Value* cur = &v;
  for (const char* k : keys) {
    if (!cur->IsObject()) return nullptr;
    auto it = cur->FindMember(k);
    if (it == cur->MemberEnd()) return nullptr;
    cur = &it->value;
  }
  return cur;
}

std::unique_ptr<CompiledResource> compile_resource(const ResourceMapping& resource) {
  auto c = std::make_unique<CompiledResource>();
  c->source = resource.config_json;
  rapidjson::Document doc;
  doc.Parse(resource.config_json.c_str());
  const rapidjson::Value* query = find(doc, {"selector", "query"});
  c->selector = compile(query && query->IsString() ? query->GetString() : "true", resource.uid);
  if (const auto* items = find(doc, {"port", "itemsToParse"}); items && items->IsString())
    c->items_to_parse = compile(items->GetString(), resource.uid);
  if (const auto* name = find(doc, {"port", "itemsToParseName"}); name && name->IsString())
    c->items_name = name->GetString();
  if (const auto* mappings = find(doc, {"port", "entity", "mappings"});
      mappings && mappings->IsObject()) {
    std::vector<std::string> path;
    collect_fields(*mappings, path, c->fields, resource.uid);
  }
  return c;
}

CompiledResource& compiled(const ResourceMapping& resource) {
  thread_local std::unordered_map<uint64_t, std::unique_ptr<CompiledResource>> cache;
  auto it = cache.find(resource.uid);
  if (it != cache.end() && it->second->source == resource.config_json) return *it->second;
  if (cache.size() > 4096) cache.clear();  // mappings replaced by reloads
  return *(cache[resource.uid] = compile_resource(resource));
}

// Evaluates `program` on `input` (borrowed); null on error (logged once).
jv evaluate(JqProgram* program, jv input, uint64_t uid) {
  if (!program) return jv_null();
  std::string error;
  auto out = program->first(jv_copy(input), error);
  if (!out) {
    log_once(std::to_string(uid) + "\n" + program->expression(),
             "jq expression '" + program->expression() + "' failed: " + error + " (yields null)");
    return jv_null();
  }
  return *out;
}

std::string as_text(jv value) {
  std::string out;
  if (jv_get_kind(value) == JV_KIND_STRING) out = jv_string_value(value);
  jv_free(value);
  return out;
}

// Maps one item; false when it has no identifier or blueprint.
bool map_item(CompiledResource& c, jv item, uint64_t uid, MappedEntity& entity) {
  rapidjson::Document doc;
  doc.SetObject();
  auto& a = doc.GetAllocator();
  for (auto& field : c.fields) {
    jv value = evaluate(field.program.get(), item, uid);
    const std::string& head = field.path.front();
    if (field.path.size() == 1) {
      if (head == "identifier" || head == "blueprint") {
        std::string text;
        if (jv_get_kind(value) == JV_KIND_NUMBER) {
          jv s = jv_dump_string(value, 0);
          text = jv_string_value(s);
          jv_free(s);
        } else {
          text = as_text(value);
        }
        (head == "identifier" ? entity.identifier : entity.blueprint) = text;
        doc.AddMember(rapidjson::Value(head.c_str(), a), rapidjson::Value(text.c_str(), a), a);
      } else {
        doc.AddMember(rapidjson::Value(head.c_str(), a), from_jv(value, a), a);
      }
      continue;
    }
    // properties.x / relations.x (and deeper paths): nested objects
    rapidjson::Value* cur = &doc;
    for (size_t i = 0; i + 1 < field.path.size(); ++i) {
      auto it = cur->FindMember(field.path[i].c_str());
      if (it == cur->MemberEnd()) {
        cur->AddMember(rapidjson::Value(field.path[i].c_str(), a),
                       rapidjson::Value(rapidjson::kObjectType), a);
        it = cur->FindMember(field.path[i].c_str());
      }
      cur = &it->value;
    }
    cur->AddMember(rapidjson::Value(field.path.back().c_str(), a), from_jv(value, a), a);
  }
  if (entity.identifier.empty() || entity.blueprint.empty()) return false;
  for (const char* section : {"properties", "relations"})
    if (!doc.HasMember(section))
      doc.AddMember(rapidjson::StringRef(section), rapidjson::Value(rapidjson::kObjectType), a);
  entity.json = json_text(doc);
  return true;
}

// The items one raw result stands for (itemsToParse), as owned jv values.
std::vector<jv> expand(CompiledResource& c, jv raw, uint64_t uid) {
  std::vector<jv> items;
  if (!c.items_to_parse) {
    items.push_back(raw);
    return items;
  }
  jv list = evaluate(c.items_to_parse.get(), raw, uid);
  if (jv_get_kind(list) == JV_KIND_ARRAY) {
    int n = jv_array_length(jv_copy(list));
    for (int i = 0; i < n; ++i)
      items.push_back(jv_object_set(jv_copy(raw), jv_string(c.items_name.c_str()),
                                    jv_array_get(jv_copy(list), i)));
  }
  jv_free(list);
  jv_free(raw);
  return items;
}

}  // namespace

MappingResult EntityMapper::map(const ResourceMapping& resource, const RawResults& raw) {
  MappingResult result;
  CompiledResource& c = compiled(resource);
  auto each = [&](const std::vector<std::string>& texts, bool updated) {
    for (const auto& text : texts) {
      jv parsed = jv_parse_sized(text.data(), static_cast<int>(text.size()));
      if (!jv_is_valid(parsed)) {
        jv_free(parsed);
        LOG_WARN("mapping") << "a raw result of kind " << resource.kind << " is not JSON: skipped";
        ++result.skipped;
        continue;
      }
      for (jv item : expand(c, parsed, resource.uid)) {
        bool selected = true;
        if (updated) {
          jv verdict = evaluate(c.selector.get(), item, resource.uid);
          if (jv_get_kind(verdict) != JV_KIND_TRUE && jv_get_kind(verdict) != JV_KIND_FALSE)
            log_once(std::to_string(resource.uid) + "selector",
                     "selector.query of kind " + resource.kind +
                         " did not yield a boolean: the item counts as not selected");
          selected = jv_get_kind(verdict) == JV_KIND_TRUE;
          jv_free(verdict);
        }
        MappedEntity entity;
        if (map_item(c, item, resource.uid, entity)) {
          (updated && selected ? result.upserts : result.deletions).push_back(std::move(entity));
        } else {
          ++result.skipped;
          LOG_DEBUG("mapping") << "an item of kind " << resource.kind
                               << " has no identifier or blueprint: skipped";
        }
        jv_free(item);
      }
    }
  };
  each(raw.updated, true);
  each(raw.deleted, false);
  std::set<std::pair<std::string, std::string>> upserted;
  for (const auto& e : result.upserts) upserted.emplace(e.blueprint, e.identifier);
  std::erase_if(result.deletions, [&](const MappedEntity& e) {
    return upserted.count({e.blueprint, e.identifier}) > 0;
  });
  return result;
}

}  // namespace oceand
