#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mapping/input_paths.hpp"
#include "mapping/jq_program.hpp"

namespace oceand {

// The parts of a raw result a mapping reads, as a tree of field names. A node taken whole keeps
// everything under it; otherwise an object keeps only the named children, or, for a node read
// through `[]`, every element of an array and every value of an object, each cut to the
// element's shape. A value of another type than the tree expects is kept whole, so jq meets the
// same value (and raises the same error) as it would on the full document.
class InputShape {
 public:
  static InputShape whole() {
    InputShape shape;
    shape.whole_ = true;
    return shape;
  }
  void add(const FieldPath& path);
  bool is_whole() const { return whole_; }
  // The shape below `key`, or nullptr when the mapping never reads that field.
  const InputShape* child(std::string_view key) const;
  // The shape of every element (`[]`), or nullptr when the node is not read through `[]`.
  const InputShape* each() const { return each_.get(); }

 private:
  bool whole_ = false;
  // A handful of names, looked up once per key of every object parsed: a flat list compared by
  // length first beats a tree of string compares.
  std::vector<std::pair<std::string, std::unique_ptr<InputShape>>> children_;
  std::unique_ptr<InputShape> each_;
};

// jq's nesting limit for parsed documents, which the mapper keeps.
constexpr int kMaxInputDepth = 256;

// Parses the raw result `text` into a jq value holding only what `shape` reads: no jq value is
// built for the parts it skips. A text simdjson refuses is read whole by jq's own parser, so what
// jq reads is read (invalid UTF-8, numbers beyond 64 bits or a double, jq's leniencies). Invalid
// (with a message) when `text` is not one JSON value for jq either, holds a raw NUL or nests deeper
// than kMaxInputDepth. Duplicate keys: the last wins, as in jq.
jv parse_input(std::string_view text, const InputShape& shape);

}  // namespace oceand
