#include "mapping/entity_mapper.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/json_text.hpp"
#include "core/log.hpp"
#include "mapping/input_paths.hpp"
#include "mapping/jq_program.hpp"
#include "mapping/ocean_filter.hpp"
#include "mapping/raw_input.hpp"

namespace oceand {

namespace {

void log_once(const std::string& key, const std::string& message) {
  static std::mutex mutex;
  static std::set<std::string> logged;
  std::lock_guard lock(mutex);
  if (logged.size() > 10000) logged.clear();
  if (logged.insert(key).second) {
    OCEAND_LOG_WARN("mapping") << message;
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

// How an expression is evaluated. Mappings are mostly constants, field chains and chains collected
// through `[]`; those the mapper evaluates itself, which costs a hash lookup per field instead of a
// jq run.
enum class How { Constant, Path, Collect, Jq };

struct Expression {
  Expression(std::string t, std::string l) : text(std::move(t)), label(std::move(l)) {}
  std::string text;
  std::string label;  // where it is in the resource block, e.g. "port.entity.mappings.title"
  How how = How::Jq;
  FieldPath path;  // How::Path, and How::Collect with one kEachElement
};

// A constant expression: a JSON scalar without escapes, which jq reads as the same value.
bool is_constant(const std::string& text) {
  if (text.find('\\') != std::string::npos) return false;
  jv value = jv_parse_sized(text.data(), static_cast<int>(text.size()));
  jv_kind kind = jv_get_kind(value);
  jv_free(value);
  return kind == JV_KIND_STRING || kind == JV_KIND_NUMBER || kind == JV_KIND_TRUE ||
         kind == JV_KIND_FALSE || kind == JV_KIND_NULL;
}

// The path itemsToParseTopLevelTransform deletes, as Ocean finds it: the first plain field path in
// the itemsToParse expression (`.issues` in `.issues | map(...)`, `.a.b` in `[.a.b[] | ...]`), its
// keys in order; none found: the empty path, `.`.
std::vector<std::string> top_level_path(const std::string& expression) {
  auto ident = [](char c, bool first) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
           (!first && std::isdigit(static_cast<unsigned char>(c)));
  };
  bool in_string = false;
  for (size_t i = 0; i < expression.size(); ++i) {
    const char c = expression[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
      continue;
    }
    if (c != '.' || i + 1 >= expression.size() || !ident(expression[i + 1], true)) continue;
    // A field of something else (`$x.a`, `.a[].b`, `f.b`) is not a path from the item.
    if (i > 0 && (ident(expression[i - 1], false) || expression[i - 1] == ']' ||
                  expression[i - 1] == ')' || expression[i - 1] == '$'))
      continue;
    std::vector<std::string> keys;
    size_t p = i;
    while (p < expression.size() && expression[p] == '.' && p + 1 < expression.size() &&
           ident(expression[p + 1], true)) {
      size_t end = p + 1;
      while (end < expression.size() && ident(expression[end], false)) ++end;
      keys.push_back(expression.substr(p + 1, end - p - 1));
      p = end;
    }
    return keys;
  }
  return {};
}

// What a resource block asks for, read once per mapping text and shared by every thread.
struct ResourcePlan {
  std::string source;  // the resource block it was read from
  std::optional<std::string> items_to_parse;
  std::string items_name = "item";
  // itemsToParseTopLevelTransform (Ocean's default, true): the path itemsToParse reads its list
  // from, deleted from each item beside the element (as a jq path array; null: `.`, which leaves
  // nothing of the raw result, so its items are skipped). Unset when the transform is off.
  std::optional<std::vector<std::string>> top_level_path;
  // [0] is the selector, then one per entity field; `paths[i]` is where expression i+1 goes.
  std::vector<Expression> expressions;
  std::vector<std::vector<std::string>> paths;
  // The parts of a raw result the expressions read (see input_paths).
  InputShape shape;
  // The expressions jq evaluates (indices into `expressions`), and the one program yielding one
  // array for them, element k for expression jq_expressions[k]: `[v]` for its first output, `[]`
  // for none, the error message as a string. libjq 1.6 re-binds its builtins for every program it
  // compiles (~170 M instructions), so one program instead of one per expression is what makes a
  // cold start affordable. Empty when there is none, or one: it then runs as written.
  std::vector<size_t> jq_expressions;
  std::string combined;
};

// A path segment that is a list position (search-query `rules`), not an object key.
constexpr char kIndexMark = '\x1f';
bool is_index(const std::string& segment) {
  return !segment.empty() && segment[0] == kIndexMark;
}

// Every string leaf of the mappings is a jq expression, in objects and lists alike — a search
// query's `combinator`, and each rule's `property`, `operator` and `value`, as Ocean evaluates
// them.
void collect_fields(const rapidjson::Value& node, std::vector<std::string>& path,
                    ResourcePlan& plan) {
  if (node.IsString()) {
    std::string label = "port.entity.mappings";
    for (const auto& p : path) label += is_index(p) ? "[" + p.substr(1) + "]" : "." + p;
    plan.expressions.push_back(
        Expression{ocean_quotes(std::string_view(node.GetString(), node.GetStringLength())),
                   std::move(label)});
    plan.paths.push_back(path);
  } else if (node.IsObject()) {
    for (const auto& m : node.GetObject()) {
      path.emplace_back(m.name.GetString(), m.name.GetStringLength());
      collect_fields(m.value, path, plan);
      path.pop_back();
    }
  } else if (node.IsArray()) {
    for (rapidjson::SizeType i = 0; i < node.Size(); ++i) {
      path.push_back(std::string(1, kIndexMark) + std::to_string(i));
      collect_fields(node[i], path, plan);
      path.pop_back();
    }
  }
}

std::shared_ptr<const ResourcePlan> make_plan(const ResourceMapping& resource) {
  auto plan = std::make_shared<ResourcePlan>();
  plan->source = resource.config_json;
  rapidjson::Document doc;
  doc.Parse(resource.config_json.c_str());
  const rapidjson::Value* query = find(doc, {"selector", "query"});
  plan->expressions.push_back(Expression{
      query && query->IsString() ? ocean_quotes(query->GetString()) : std::string("true"),
      "selector.query"});
  if (const auto* items = find(doc, {"port", "itemsToParse"}); items && items->IsString()) {
    plan->items_to_parse = ocean_quotes(items->GetString());
    if (const auto* transform = find(doc, {"port", "itemsToParseTopLevelTransform"});
        !transform || !transform->IsBool() || transform->GetBool())
      plan->top_level_path = top_level_path(*plan->items_to_parse);
  }
  if (const auto* name = find(doc, {"port", "itemsToParseName"}); name && name->IsString())
    plan->items_name = name->GetString();
  if (const auto* mappings = find(doc, {"port", "entity", "mappings"});
      mappings && mappings->IsObject()) {
    std::vector<std::string> path;
    collect_fields(*mappings, path, *plan);
  }

  bool whole = false;
  auto add_paths = [&](const std::string& expression, bool on_item) {
    auto read = input_paths(expression);
    if (!read) {
      whole = true;
      return;
    }
    for (const auto& path : *read) {
      // With itemsToParse the item is the raw result plus `items_name`, which is not read from it.
      if (!(on_item && plan->items_to_parse && path.front() == plan->items_name))
        plan->shape.add(path);
    }
  };
  if (plan->items_to_parse) add_paths(*plan->items_to_parse, false);
  for (const auto& expression : plan->expressions) add_paths(expression.text, true);
  if (whole) plan->shape = InputShape::whole();

  for (size_t i = 0; i < plan->expressions.size(); ++i) {
    Expression& expression = plan->expressions[i];
    if (is_constant(expression.text)) {
      expression.how = How::Constant;
    } else if (auto path = field_path(expression.text)) {
      expression.how = How::Path;
      expression.path = std::move(*path);
    } else if (auto collected = collected_path(expression.text)) {
      expression.how = How::Collect;
      expression.path = std::move(*collected);
    } else {
      expression.how = How::Jq;
      plan->jq_expressions.push_back(i);
      plan->combined += plan->combined.empty() ? "[" : ",";
      // New lines keep a `#` comment in an expression from swallowing what follows it.
      plan->combined += "(try [first(\n" + expression.text + "\n)] catch tostring)";
    }
  }
  // One expression runs as it is: the wrapper would only add its try/first/array steps to every
  // run.
  if (plan->jq_expressions.size() == 1)
    plan->combined.clear();
  else if (!plan->combined.empty())
    plan->combined += "]";
  return plan;
}

// One thread's compiled copy of a plan: a jq_state, and jq values' reference counts, are
// single-threaded.
struct ResourcePrograms {
  std::unique_ptr<JqProgram> items_to_parse;
  std::unique_ptr<JqProgram> combined;
  std::vector<std::unique_ptr<JqProgram>> separate;  // compiled when `combined` cannot serve
  bool separate_compiled = false;
  std::vector<jv> constants;  // per expression; null for the others

  ResourcePrograms() = default;
  ResourcePrograms(const ResourcePrograms&) = delete;
  ResourcePrograms& operator=(const ResourcePrograms&) = delete;
  ~ResourcePrograms() {
    for (jv value : constants) jv_free(value);
  }
};

// The compiled copies of one plan that no thread is using. A worker borrows one for a map() call,
// so the number compiled follows how many threads map at once, not the number of workers.
class ProgramPool {
 public:
  explicit ProgramPool(std::shared_ptr<const ResourcePlan> plan) : plan_(std::move(plan)) {}
  const ResourcePlan& plan() const { return *plan_; }

  std::unique_ptr<ResourcePrograms> borrow(uint64_t uid) {
    {
      std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        auto programs = std::move(idle_.back());
        idle_.pop_back();
        return programs;
      }
    }
    auto programs = std::make_unique<ResourcePrograms>();
    if (plan_->items_to_parse) programs->items_to_parse = compile(*plan_->items_to_parse, uid);
    if (!plan_->combined.empty()) {
      try {
        programs->combined = std::make_unique<JqProgram>(plan_->combined);
      } catch (const JqCompileError&) {
        // One expression does not compile: each is compiled alone, that one yields null.
      }
    }
    for (const auto& expression : plan_->expressions)
      programs->constants.push_back(
          expression.how == How::Constant
              ? jv_parse_sized(expression.text.data(), static_cast<int>(expression.text.size()))
              : jv_null());
    return programs;
  }

  void give_back(std::unique_ptr<ResourcePrograms> programs) {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(programs));
  }

 private:
  std::shared_ptr<const ResourcePlan> plan_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<ResourcePrograms>> idle_;
};

std::shared_ptr<ProgramPool> pool_of(const ResourceMapping& resource) {
  static std::mutex mutex;
  static std::unordered_map<uint64_t, std::shared_ptr<ProgramPool>> pools;
  std::lock_guard lock(mutex);
  auto it = pools.find(resource.uid);
  if (it != pools.end() && it->second->plan().source == resource.config_json) return it->second;
  if (pools.size() > 1024) {
    // Mappings replaced by reloads: drop the pools nobody is borrowing from.
    std::erase_if(pools, [](const auto& entry) { return entry.second.use_count() == 1; });
  }
  auto pool = std::make_shared<ProgramPool>(make_plan(resource));
  pools[resource.uid] = pool;
  return pool;
}

// Which integration and resource kind this thread maps for, for the messages of expressions stopped
// by a bound (set by EntityMapper::map).
thread_local const std::string* t_integration = nullptr;
thread_local const std::string* t_kind = nullptr;
// A dry run's collection (EntityMapper::map's `errors`); none: failures are logged.
thread_local std::vector<ExpressionError>* t_errors = nullptr;

// Records a failure for a dry run; false when none is collecting (then the caller logs).
bool collect_failure(const std::string& field, const std::string& expression,
                     const std::string& error) {
  if (!t_errors) return false;
  for (auto& e : *t_errors)
    if (e.field == field && e.error == error) {
      ++e.count;
      return true;
    }
  if (t_errors->size() < 1000) t_errors->push_back({field, expression, error, 1});
  return true;
}

void log_failure(const std::string& label, const std::string& expression, const std::string& error,
                 uint64_t uid) {
  if (collect_failure(label, expression, error)) return;
  if (error.rfind("stopped:", 0) == 0) {
    // A bound (mapping.max_eval_*) stopped it: an error, named fully, once per expression.
    log_once(std::to_string(uid) + "\nstopped\n" + label,
             "integration " + (t_integration ? *t_integration : std::string("-")) + " kind " +
                 (t_kind ? *t_kind : std::string("-")) + " " + label + ": jq expression '" +
                 expression + "' " + error + " (yields null)");
    return;
  }
  log_once(std::to_string(uid) + "\n" + expression,
           "jq expression '" + expression + "' failed: " + error + " (yields null)");
}

// Evaluates `program` on `input` (borrowed); null on error (logged once).
jv evaluate(JqProgram* program, jv input, uint64_t uid, const std::string& label) {
  if (!program) return jv_null();
  std::string error;
  auto out = program->first(jv_copy(input), error);
  if (!out) {
    log_failure(label, program->expression(), error, uid);
    return jv_null();
  }
  return *out;
}

// The fields [first, last) of `value` (consumed), as jq reads `.a.b…`: a missing field or a null
// gives null, indexing anything but an object is an error (jq's message in `error`).
jv walk(FieldPath::const_iterator first, FieldPath::const_iterator last, jv value,
        std::string& error) {
  for (; first != last; ++first) {
    jv_kind kind = jv_get_kind(value);
    if (kind == JV_KIND_NULL) continue;
    if (kind != JV_KIND_OBJECT) {
      error = std::string("Cannot index ") + jv_kind_name(kind) + " with string \"" + *first + "\"";
      jv_free(value);
      return jv_null();
    }
    value = jv_object_get(value, jv_string_sized(first->data(), static_cast<int>(first->size())));
    if (!jv_is_valid(value)) {
      jv_free(value);
      value = jv_null();
    }
  }
  return value;
}

// `.a.b…` on `item` (borrowed), as jq does it; null on error (logged once).
jv follow(const Expression& expression, jv item, uint64_t uid) {
  std::string error;
  jv value = walk(expression.path.begin(), expression.path.end(), jv_copy(item), error);
  if (!error.empty()) log_failure(expression.label, expression.text, error, uid);
  return value;
}

// `[.a[].b…]` on `item` (borrowed), as jq does it: every element of an array, or every value of an
// object in jq's iteration order, each followed by the rest of the chain; iterating anything else
// is an error, and any error fails the whole expression. Null on error (logged once).
jv collect(const Expression& expression, jv item, uint64_t uid) {
  auto each = std::find(expression.path.begin(), expression.path.end(), kEachElement);
  std::string error;
  jv container = walk(expression.path.begin(), each, jv_copy(item), error);
  jv out = jv_array();
  jv_kind kind = jv_get_kind(container);
  auto rest = [&](jv element) { return walk(each + 1, expression.path.end(), element, error); };
  if (!error.empty()) {
    // the chain before `[]` failed
  } else if (kind == JV_KIND_ARRAY) {
    int length = jv_array_length(jv_copy(container));
    for (int i = 0; i < length && error.empty(); ++i)
      out = jv_array_append(out, rest(jv_array_get(jv_copy(container), i)));
  } else if (kind == JV_KIND_OBJECT) {
    for (int it = jv_object_iter(container); jv_object_iter_valid(container, it) && error.empty();
         it = jv_object_iter_next(container, it))
      out = jv_array_append(out, rest(jv_object_iter_value(container, it)));
  } else {
    char shown[15];  // jq shows the value cut to this size
    error = std::string("Cannot iterate over ") + jv_kind_name(kind) + " (" +
            jv_dump_string_trunc(jv_copy(container), shown, sizeof shown) + ")";
  }
  jv_free(container);
  if (error.empty()) return out;
  jv_free(out);
  log_failure(expression.label, expression.text, error, uid);
  return jv_null();
}

// Puts the outputs of the expressions jq evaluates, on `item` (borrowed), into `values`.
void run_jq(const ResourcePlan& plan, ResourcePrograms& programs, jv item, uint64_t uid,
            std::vector<jv>& values) {
  const size_t count = plan.jq_expressions.size();
  if (programs.combined) {
    std::string error;
    auto out = programs.combined->first(jv_copy(item), error);
    // Anything but one element per expression (a jq 1.6 `error(null)` vanishes inside `try`)
    // sends this item through the expressions one by one.
    if (out && jv_get_kind(*out) == JV_KIND_ARRAY &&
        static_cast<size_t>(jv_array_length(jv_copy(*out))) == count) {
      for (size_t k = 0; k < count; ++k) {
        size_t i = plan.jq_expressions[k];
        jv element = jv_array_get(jv_copy(*out), static_cast<int>(k));
        if (jv_get_kind(element) == JV_KIND_ARRAY) {
          values[i] =
              jv_array_length(jv_copy(element)) ? jv_array_get(jv_copy(element), 0) : jv_null();
        } else {
          log_failure(plan.expressions[i].label, plan.expressions[i].text,
                      jv_get_kind(element) == JV_KIND_STRING ? jv_string_value(element) : "", uid);
        }
        jv_free(element);
      }
      jv_free(*out);
      return;
    }
    if (out) jv_free(*out);
  }
  if (!programs.separate_compiled) {
    for (size_t i : plan.jq_expressions)
      programs.separate.push_back(compile(plan.expressions[i].text, uid));
    programs.separate_compiled = true;
  }
  for (size_t k = 0; k < count; ++k)
    values[plan.jq_expressions[k]] = evaluate(programs.separate[k].get(), item, uid,
                                              plan.expressions[plan.jq_expressions[k]].label);
}

// Each expression's value on `item` (borrowed): [0] the selector, then the fields.
std::vector<jv> evaluate_all(const ResourcePlan& plan, ResourcePrograms& programs, jv item,
                             uint64_t uid) {
  std::vector<jv> values(plan.expressions.size(), jv_null());
  for (size_t i = 0; i < plan.expressions.size(); ++i) {
    const Expression& expression = plan.expressions[i];
    if (expression.how == How::Constant) values[i] = jv_copy(programs.constants[i]);
    if (expression.how == How::Path) values[i] = follow(expression, item, uid);
    if (expression.how == How::Collect) values[i] = collect(expression, item, uid);
  }
  if (!plan.jq_expressions.empty()) run_jq(plan, programs, item, uid, values);
  return values;
}

std::string as_text(jv value) {
  std::string out;
  if (jv_get_kind(value) == JV_KIND_STRING) out = jv_string_value(value);
  jv_free(value);
  return out;
}

// Builds the entity from the fields' values (consumed; values[0], the selector's, is not used);
// false when it has no identifier or blueprint.
bool build_entity(const ResourcePlan& plan, std::vector<jv>& values, MappedEntity& entity) {
  rapidjson::Document doc;
  doc.SetObject();
  auto& a = doc.GetAllocator();
  for (size_t i = 0; i < plan.paths.size(); ++i) {
    const auto& path = plan.paths[i];
    jv value = values[i + 1];
    const std::string& head = path.front();
    if (path.size() == 1) {
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
    // properties.x / relations.x, search queries (objects with lists of rules): built as written.
    rapidjson::Value* cur = &doc;
    auto slot = [&](rapidjson::Value& container, const std::string& segment,
                    rapidjson::Type type) -> rapidjson::Value& {
      if (is_index(segment)) {
        const size_t at = std::stoul(segment.substr(1));
        if (!container.IsArray()) container.SetArray();
        while (container.Size() <= at) container.PushBack(rapidjson::Value(), a);
        if (container[static_cast<rapidjson::SizeType>(at)].IsNull() &&
            type != rapidjson::kNullType)
          container[static_cast<rapidjson::SizeType>(at)] = rapidjson::Value(type);
        return container[static_cast<rapidjson::SizeType>(at)];
      }
      if (!container.IsObject()) container.SetObject();
      auto it = container.FindMember(segment.c_str());
      if (it == container.MemberEnd()) {
        container.AddMember(rapidjson::Value(segment.c_str(), a), rapidjson::Value(type), a);
        it = container.FindMember(segment.c_str());
      }
      return it->value;
    };
    for (size_t k = 0; k + 1 < path.size(); ++k)
      cur = &slot(*cur, path[k],
                  is_index(path[k + 1]) ? rapidjson::kArrayType : rapidjson::kObjectType);
    slot(*cur, path.back(), rapidjson::kNullType) = from_jv(value, a);
  }
  // A search-query identifier ({combinator, rules}) is Port's to resolve: kept as the entity's
  // identifier, and named by its text here.
  if (entity.identifier.empty())
    if (auto id = doc.FindMember("identifier"); id != doc.MemberEnd() && id->value.IsObject())
      entity.identifier = json_text(id->value);
  if (entity.identifier.empty() || entity.blueprint.empty()) return false;
  for (const char* section : {"properties", "relations"})
    if (!doc.HasMember(section))
      doc.AddMember(rapidjson::StringRef(section), rapidjson::Value(rapidjson::kObjectType), a);
  entity.json = json_text(doc);
  return true;
}

// The items one raw result stands for (itemsToParse), as owned jv values.
std::vector<jv> expand(const ResourcePlan& plan, ResourcePrograms& programs, jv raw, uint64_t uid) {
  std::vector<jv> items;
  if (!plan.items_to_parse) {
    items.push_back(raw);
    return items;
  }
  jv list = evaluate(programs.items_to_parse.get(), raw, uid, "port.itemsToParse");
  // itemsToParseTopLevelTransform: each item is the raw result without the list it came from.
  jv base = jv_copy(raw);
  if (plan.top_level_path) {
    if (plan.top_level_path->empty()) {
      jv_free(base);
      base = jv_null();
    } else {
      jv path = jv_array();
      for (const auto& key : *plan.top_level_path)
        path = jv_array_append(path, jv_string(key.c_str()));
      base = jv_delpaths(base, jv_array_append(jv_array(), path));
      if (!jv_is_valid(base)) {
        jv_free(base);
        base = jv_copy(raw);
      }
    }
  }
  if (jv_get_kind(base) != JV_KIND_OBJECT) {
    // `del(.)` leaves null: as in Ocean, the raw result's items are skipped.
    log_once(std::to_string(uid) + "toplevel",
             "itemsToParse '" + *plan.items_to_parse +
                 "' names no field to take off the item (itemsToParseTopLevelTransform): its "
                 "items are skipped; set itemsToParseTopLevelTransform: false to keep them");
  } else if (jv_get_kind(list) == JV_KIND_ARRAY) {
    int n = jv_array_length(jv_copy(list));
    for (int i = 0; i < n; ++i)
      items.push_back(jv_object_set(jv_copy(base), jv_string(plan.items_name.c_str()),
                                    jv_array_get(jv_copy(list), i)));
  }
  jv_free(base);
  jv_free(list);
  jv_free(raw);
  return items;
}

}  // namespace

std::vector<std::string> mapping_problems(const PortAppConfig& config) {
  std::vector<std::string> problems;
  for (const auto& resource : config.resources) {
    auto plan = make_plan(resource);
    const std::string where =
        "resource " + std::to_string(resource.index) + " (kind " + resource.kind + ")";
    auto check = [&](const std::string& text, const std::string& label) {
      try {
        JqProgram program(text);
      } catch (const JqCompileError& e) {
        problems.push_back(where + " " + label + ": " + e.what());
      }
    };
    if (plan->items_to_parse) check(*plan->items_to_parse, "port.itemsToParse");
    // Expressions the mapper evaluates itself (constants, field paths) are valid jq by
    // construction; the rest are compiled as start would compile them.
    for (size_t i : plan->jq_expressions)
      check(plan->expressions[i].text, plan->expressions[i].label);
  }
  return problems;
}

MappingResult EntityMapper::map(const ResourceMapping& resource, const RawResults& raw,
                                const std::string& integration,
                                std::vector<ExpressionError>* errors) {
  MappingResult result;
  // Cleared however the call ends, so a later call on this thread neither names this one nor
  // collects into a vector that is gone.
  struct ThreadMarks {
    ThreadMarks(const std::string& integration, const std::string& kind,
                std::vector<ExpressionError>* errors) {
      t_integration = &integration;
      t_kind = &kind;
      t_errors = errors;
    }
    ~ThreadMarks() {
      t_integration = nullptr;
      t_kind = nullptr;
      t_errors = nullptr;
    }
  } marks(integration, resource.kind, errors);
  std::shared_ptr<ProgramPool> pool = pool_of(resource);
  const ResourcePlan& plan = pool->plan();
  std::unique_ptr<ResourcePrograms> programs = pool->borrow(resource.uid);
  auto each = [&](const std::vector<std::string>& texts, bool updated) {
    for (const auto& text : texts) {
      jv parsed = parse_input(text, plan.shape);
      if (!jv_is_valid(parsed)) {
        jv_free(parsed);
        if (!collect_failure("", "", "a raw result is not JSON: skipped"))
          OCEAND_LOG_WARN("mapping")
              << "a raw result of kind " << resource.kind << " is not JSON: skipped";
        ++result.skipped;
        continue;
      }
      for (jv item : expand(plan, *programs, parsed, resource.uid)) {
        std::vector<jv> values = evaluate_all(plan, *programs, item, resource.uid);
        jv_free(item);
        bool selected = true, misconfigured = false;
        if (updated) {
          jv verdict = values[0];
          // Ocean raises on a selector that is not a boolean: the item is neither upserted nor
          // deleted (treating it as "not selected" would delete an entity over a typo).
          misconfigured =
              jv_get_kind(verdict) != JV_KIND_TRUE && jv_get_kind(verdict) != JV_KIND_FALSE;
          if (misconfigured && !collect_failure("selector.query", "",
                                                "did not yield a boolean: the item is skipped"))
            log_once(std::to_string(resource.uid) + "selector",
                     "selector.query of kind " + resource.kind +
                         " did not yield a boolean: the item is skipped (neither upserted nor "
                         "deleted)");
          selected = jv_get_kind(verdict) == JV_KIND_TRUE;
        }
        jv_free(values[0]);
        MappedEntity entity;
        if (build_entity(plan, values, entity)) {
          if (misconfigured)
            ++result.skipped;
          else
            (updated && selected ? result.upserts : result.deletions).push_back(std::move(entity));
        } else {
          ++result.skipped;
          if (!collect_failure("identifier", "",
                               "the item has no identifier or blueprint: skipped"))
            OCEAND_LOG_DEBUG("mapping") << "an item of kind " << resource.kind
                                        << " has no identifier or blueprint: skipped";
        }
      }
    }
  };
  each(raw.updated, true);
  each(raw.deleted, false);
  pool->give_back(std::move(programs));
  std::set<std::pair<std::string, std::string>> upserted;
  for (const auto& e : result.upserts) upserted.emplace(e.blueprint, e.identifier);
  std::erase_if(result.deletions, [&](const MappedEntity& e) {
    return upserted.count({e.blueprint, e.identifier}) > 0;
  });
  return result;
}

}  // namespace oceand
