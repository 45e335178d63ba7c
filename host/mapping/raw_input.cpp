#include "mapping/raw_input.hpp"

#include <algorithm>
#include <cstring>
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

// A RapidJSON SAX handler building jv values for the parts of the document a shape keeps.
class ProjectingHandler
    : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, ProjectingHandler> {
 public:
  // `shape`: nullptr keeps the whole document.
  explicit ProjectingHandler(const InputShape* shape) : next_shape_(shape) {}
  ~ProjectingHandler() {
    for (auto& frame : stack_) {
      jv_free(frame.value);
      if (frame.has_key) jv_free(frame.key);
    }
    if (has_result_) jv_free(result_);
  }

  jv take_result() {
    has_result_ = false;
    return result_;
  }

  bool Null() {
    return scalar([] { return jv_null(); });
  }
  bool Bool(bool b) {
    return scalar([b] { return jv_bool(b); });
  }
  bool Int(int i) { return number(i); }
  bool Uint(unsigned u) { return number(u); }
  bool Int64(int64_t i) { return number(static_cast<double>(i)); }
  bool Uint64(uint64_t u) { return number(static_cast<double>(u)); }
  bool Double(double d) { return number(d); }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    return scalar([s, n] { return jv_string_sized(s, static_cast<int>(n)); });
  }

  bool StartObject() { return start(true); }
  bool StartArray() { return start(false); }
  bool EndObject(rapidjson::SizeType) { return end(); }
  bool EndArray(rapidjson::SizeType) { return end(); }

  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (skipping_) return true;
    Frame& frame = stack_.back();
    if (!frame.shape) {
      next_shape_ = nullptr;
    } else if (frame.shape->each()) {
      next_shape_ = cut(frame.shape->each());
    } else {
      next_shape_ = frame.shape->child(std::string_view(s, n));
      if (!next_shape_) {
        skip_next_ = true;
        return true;
      }
      next_shape_ = cut(next_shape_);
    }
    frame.key = jv_string_sized(s, static_cast<int>(n));
    frame.has_key = true;
    return true;
  }

 private:
  struct Frame {
    jv value;
    const InputShape* shape;  // nullptr: keep all of it
    jv key;
    bool has_key = false;
    bool object = false;
  };

  // nullptr for a shape that keeps everything.
  static const InputShape* cut(const InputShape* shape) {
    return shape && !shape->is_whole() ? shape : nullptr;
  }

  // The shape of an array's next element.
  void next_element() {
    if (!stack_.empty() && !stack_.back().object)
      next_shape_ = stack_.back().shape ? cut(stack_.back().shape->each()) : nullptr;
  }

  bool number(double d) {
    return scalar([d] { return jv_number(d); });
  }

  template <class Make>
  bool scalar(Make make) {
    if (skipping_) return true;
    if (skip_next_) {
      skip_next_ = false;
      return true;
    }
    return place(make());
  }

  bool start(bool object) {
    if (++depth_ > kMaxInputDepth) return false;
    if (skipping_) {
      ++skipping_;
      return true;
    }
    if (skip_next_) {
      skip_next_ = false;
      skipping_ = 1;
      return true;
    }
    next_element();
    const InputShape* shape = cut(next_shape_);
    // An object is cut by name or through `[]`, an array only through `[]`; a container of the
    // other kind than its shape expects is kept whole.
    if (shape && !object && !shape->each()) shape = nullptr;
    stack_.push_back(Frame{object ? jv_object() : jv_array(), shape, jv_null(), false, object});
    next_shape_ = nullptr;
    return true;
  }

  bool end() {
    --depth_;
    if (skipping_) {
      --skipping_;
      return true;
    }
    Frame frame = stack_.back();
    stack_.pop_back();
    return place(frame.value);
  }

  // Puts a finished value into its parent, or makes it the result.
  bool place(jv value) {
    if (stack_.empty()) {
      result_ = value;
      has_result_ = true;
      return true;
    }
    Frame& parent = stack_.back();
    if (parent.has_key) {
      parent.value = jv_object_set(parent.value, parent.key, value);
      parent.has_key = false;
    } else {
      parent.value = jv_array_append(parent.value, value);
    }
    return true;
  }

  std::vector<Frame> stack_;
  const InputShape* next_shape_;  // for the next value started
  bool skip_next_ = false;
  int skipping_ = 0;  // depth inside a skipped container
  int depth_ = 0;
  jv result_ = jv_null();
  bool has_result_ = false;
};

// simdjson's DOM parser: it validates the whole text (structure, UTF-8, numbers, strings and the
// depth limit) at several GB/s, which leaves a walk over only the parts the shape keeps. It refuses
// a little more than jq's parser accepts (invalid UTF-8, which jq replaces with U+FFFD; integers
// beyond 64 bits and numbers beyond a double's range, which jq rounds), so every text it refuses
// is read again by the RapidJSON handler above, which reads those as jq does and names the error.
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
  static const InputShape* cut(const InputShape* shape) {
    return shape && !shape->is_whole() ? shape : nullptr;
  }

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

jv read_exactly(std::string_view text, const InputShape* shape) {
  ProjectingHandler handler(shape);
  thread_local std::string buffer;
  InsituCopy copy(buffer, text, 1u << 20);
  rapidjson::InsituStringStream stream(copy.data());
  rapidjson::Reader reader;
  // The recursive reader (≈ 15 % faster here than the iterative one) is safe: the handler stops
  // the parse past kMaxInputDepth levels, skipped ones included, so the recursion stays shallow.
  auto result = reader.Parse<rapidjson::kParseInsituFlag | rapidjson::kParseFullPrecisionFlag>(
      stream, handler);
  if (result.IsError())
    return jv_invalid_with_msg(jv_string(rapidjson::GetParseError_En(result.Code())));
  return handler.take_result();
}

}  // namespace

jv parse_input(std::string_view text, const InputShape& shape) {
  const InputShape* kept = shape.is_whole() ? nullptr : &shape;
  thread_local FastReader fast;
  jv out;
  // simdjson refuses a raw NUL wherever it is, as JSON does.
  if (fast.read(text, kept, out)) return out;
  // The in-situ stream of the exact reader would stop at a NUL instead.
  if (text.find('\0') != std::string_view::npos)
    return jv_invalid_with_msg(jv_string("NUL byte in JSON text"));
  return read_exactly(text, kept);
}

}  // namespace oceand
