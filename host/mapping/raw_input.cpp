#include "mapping/raw_input.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include "core/insitu_copy.hpp"
#include "core/simd_parser.hpp"

namespace oceand {

void InputShape::add(const FieldPath& path) {
  InputShape* node = this;
  for (const auto& key : path) {
    if (node->whole_) return;
    std::unique_ptr<InputShape>* slot = &node->each_;
    if (key != kEachElement) {
      auto it = std::find_if(node->children_.begin(), node->children_.end(),
                             [&](const auto& child) { return child.first == key; });
      if (it == node->children_.end())
        it = node->children_.insert(node->children_.end(), {key, nullptr});
      slot = &it->second;
    }
    auto& next = *slot;
    if (!next) next = std::make_unique<InputShape>();
    if (node->each_ && !node->children_.empty()) {
      // Read both by name and through `[]`: kept whole rather than merging the two shapes.
      node->whole_ = true;
      node->children_.clear();
      node->each_.reset();
      return;
    }
    node = next.get();
  }
  node->whole_ = true;
  node->children_.clear();
  node->each_.reset();
}

const InputShape* InputShape::child(std::string_view key) const {
  for (const auto& [name, shape] : children_)
    if (name.size() == key.size() && std::memcmp(name.data(), key.data(), key.size()) == 0)
      return shape.get();
  return nullptr;
}

namespace {

// nullptr for a shape that keeps everything.
const InputShape* cut(const InputShape* shape) {
  return shape && !shape->is_whole() ? shape : nullptr;
}

// The parts of `value` (consumed) that `shape` keeps, by the rules FastReader::convert follows.
jv cut_to(jv value, const InputShape* shape) {
  if (!shape) return value;
  jv_kind kind = jv_get_kind(value);
  if (kind == JV_KIND_OBJECT) {
    jv out = jv_object();
    const InputShape* each = cut(shape->each());
    jv_object_foreach(value, key, field) {
      const InputShape* below = each;
      if (!shape->each()) {
        below = shape->child(std::string_view(
            jv_string_value(key), static_cast<size_t>(jv_string_length_bytes(jv_copy(key)))));
        if (!below) {
          jv_free(key);
          jv_free(field);
          continue;
        }
        below = cut(below);
      }
      out = jv_object_set(out, key, cut_to(field, below));
    }
    jv_free(value);
    return out;
  }
  // An array is cut only through `[]`; read by name it is kept whole, as is any other value.
  if (kind != JV_KIND_ARRAY || !shape->each()) return value;
  const InputShape* each = cut(shape->each());
  jv out = jv_array();
  jv_array_foreach(value, i, element) out = jv_array_append(out, cut_to(element, each));
  jv_free(value);
  return out;
}

// Counts nesting for RapidJSON's check of a text simdjson refused: no deeper than jq's limit.
struct DepthLimit : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, DepthLimit> {
  int depth = 0;
  bool StartObject() { return ++depth <= kMaxInputDepth; }
  bool StartArray() { return ++depth <= kMaxInputDepth; }
  bool EndObject(rapidjson::SizeType) { return --depth >= 0; }
  bool EndArray(rapidjson::SizeType) { return --depth >= 0; }
};

// Whether RapidJSON reads `text` (which holds no NUL) as one JSON value nesting at most
// kMaxInputDepth levels; the reason when not. Its encoding check is off: invalid UTF-8 is jq's to
// replace.
std::optional<std::string> json_error(std::string_view text) {
  DepthLimit limit;
  auto result = parse_insitu(text, limit);
  if (!result.IsError()) return std::nullopt;
  if (result.Code() == rapidjson::kParseErrorTermination) return "nested deeper than 256 levels";
  return rapidjson::GetParseError_En(result.Code());
}

// simdjson's DOM parser: it validates the whole text (structure, UTF-8, numbers, strings and the
// depth limit) at over 1 GB/s, which leaves a walk over only the parts the shape keeps.
class FastReader {
 public:
  // false when simdjson refused the text.
  bool read(std::string_view text, const InputShape* shape, jv& out) {
    auto root = parser_.parse(text);
    if (root) out = convert(*root, shape);
    parser_.done();
    return root.has_value();
  }

 private:
  // Bounded by kMaxInputDepth, which the parser enforced on the whole text.
  static jv convert(simdjson::dom::element element, const InputShape* shape) {
    using Type = simdjson::dom::element_type;
    switch (element.type()) {
      case Type::OBJECT: {
        jv object = jv_object();
        const InputShape* each = shape ? cut(shape->each()) : nullptr;
        simdjson::dom::object fields = element.get_object().value_unsafe();
        for (simdjson::dom::key_value_pair field : fields) {
          const InputShape* below = nullptr;
          if (shape && !shape->each()) {
            below = shape->child(field.key);
            if (!below) continue;
            below = cut(below);
          } else {
            below = each;
          }
          // jv_object_set replaces an earlier value of the same key: the last one wins, as in jq.
          object = jv_object_set(
              object, jv_string_sized(field.key.data(), static_cast<int>(field.key.size())),
              convert(field.value, below));
        }
        return object;
      }
      case Type::ARRAY: {
        jv array = jv_array();
        // An array is cut only through `[]`; read by name it is kept whole.
        const InputShape* each = shape ? cut(shape->each()) : nullptr;
        simdjson::dom::array items = element.get_array().value_unsafe();
        for (simdjson::dom::element item : items)
          array = jv_array_append(array, convert(item, each));
        return array;
      }
      case Type::STRING: {
        std::string_view s = element.get_string().value_unsafe();
        return jv_string_sized(s.data(), static_cast<int>(s.size()));
      }
      case Type::INT64:
        return jv_number(static_cast<double>(element.get_int64().value_unsafe()));
      case Type::UINT64:
        return jv_number(static_cast<double>(element.get_uint64().value_unsafe()));
      case Type::DOUBLE:
        return jv_number(element.get_double().value_unsafe());
      case Type::BOOL:
        return jv_bool(element.get_bool().value_unsafe());
      case Type::NULL_VALUE:
        return jv_null();
    }
    return jv_null();
  }

  // One huge result is parsed, then its memory given back.
  SimdParser parser_{kMaxInputDepth, 1u << 20};
};

}  // namespace

jv parse_input(std::string_view text, const InputShape& shape) {
  const InputShape* kept = shape.is_whole() ? nullptr : &shape;
  thread_local FastReader fast;
  jv out;
  if (fast.read(text, kept, out)) return out;
  // simdjson also refuses some JSON: invalid UTF-8, integers beyond 64 bits. RapidJSON decides
  // whether the text is JSON at all (it also refuses jq 1.6's leniencies: NaN, 01, 1e400), then
  // jq's own parser reads it, so invalid UTF-8 becomes U+FFFD and big numbers round as in jq. jq's
  // parser is not given malformed text: it leaks on some of it. Texts simdjson refuses are rare,
  // so building the whole document before the cut does not matter.
  if (text.find('\0') != std::string_view::npos)
    return jv_invalid_with_msg(jv_string("NUL byte in JSON text"));
  if (text.size() > static_cast<size_t>(INT_MAX))
    return jv_invalid_with_msg(jv_string("JSON text too large"));
  if (auto error = json_error(text)) return jv_invalid_with_msg(jv_string(error->c_str()));
  jv whole = jv_parse_sized(text.data(), static_cast<int>(text.size()));
  return jv_is_valid(whole) ? cut_to(whole, kept) : whole;
}

}  // namespace oceand
