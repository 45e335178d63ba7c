#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace oceand {

// A chain of field names read from a jq expression's input: {"head", "repo", "name"} for
// `.head.repo.name`; kEachElement stands for `[]` (every element or value): {"assignees",
// kEachElement, "login"} for `.assignees[].login`. Whatever the expression does next with the
// value at the end of the chain, it does to all of it.
using FieldPath = std::vector<std::string>;
// Not a field name the reader can produce: it refuses quoted names with escapes, and JSON text
// cannot hold a raw NUL.
inline const std::string kEachElement{"\0[]", 3};

// The field paths through which the jq `expression` reads its input, when its text shows that it
// reads it no other way: every place where the expression sees its whole input is a field access
// (`.name`, `."name"`, `.["name"]`, `{name}`, followed by more `.name`s and `[]`s) or a constant.
// nullopt when it may see more — a bare `.`, `..`, `.[]`, a function applied to the input, a
// binding
// (`as`, `reduce`, `def`…), an assignment — or when the text is outside the subset read here; the
// caller then gives jq the whole input. Paths the input lacks are harmless: jq reads null either
// way.
//
// It lets the mapper build only the part of a raw result that the mapping reads (a pull request is
// ~17 KB; its mapping reads a few hundred bytes of it), which was most of the cost of mapping.
std::optional<std::set<FieldPath>> input_paths(std::string_view expression);

// The path when `expression` is nothing but a chain of field accesses (`.user.login`), which the
// mapper evaluates itself instead of running jq.
std::optional<FieldPath> field_path(std::string_view expression);

// The path, with one kEachElement, when `expression` is nothing but `[.a.b[].c…]`: a field chain,
// every element (or value) of what it reaches, and a field chain (possibly empty) on each, all
// collected into an array — the mapper evaluates `[.assignees[].login]` itself as well.
std::optional<FieldPath> collected_path(std::string_view expression);

}  // namespace oceand
