#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace oceand {

// jq 1.8 over libjq 1.6. Ocean evaluates mappings with jq 1.8 (its jq.py bundles it); Debian 12
// ships libjq 1.6, whose grammar and builtins differ in ways that turn a working Ocean mapping into
// a silent null here. Two parts close the gap (docs/mapping.md lists what they cover and the few
// differences left, tests/jq/ checks them expression by expression against jq 1.8.1 itself):
//
//  - jq18_source rewrites the expression's text into the 1.6 grammar: `if` without `else`,
//    `.a.[0]`, object values that are whole expressions (`{a: .b // "x"}`), `{$k: v}`, `{if}`,
//    `{$__loc__}`, keywords as variable names, `E as $x` binding the whole expression on its left,
//    `if … end[0]`, NaN slice bounds and the @uri/@urid formats. It throws JqCompatError for a
//    builtin jq 1.8 removed.
//  - jq18_prelude is jq-defined builtins put before the program: the 1.7/1.8 additions (pick,
//    abs, trim, toboolean, skip, add/1, …) and the 1.8 meaning of the ones that changed (limit,
//    last, nth, walk, `|=` with empty, sub/gsub, global match, indices on strings, tonumber,
//    ltrimstr/rtrimstr, implode). Several of those also keep libjq 1.6 from aborting the process:
//    its implode, strftime on an out-of-range time, delpaths with a NaN index and global match on
//    non-ASCII text with an empty match crash or hang it; the definitions check their input
//    before 1.6's code sees it.
class JqCompatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The expression in libjq 1.6's grammar with jq 1.8's meaning. Keeps every newline, so the line
// numbers of compile errors stay the user's.
std::string jq18_source(std::string_view expression);

// The definitions (one line) that give jq 1.8's builtins, those `source` (jq18_source's output)
// can reach: libjq 1.6 compiles every definition put before a program, ≈ 6 ms for all of them.
std::string jq18_prelude(std::string_view source);

}  // namespace oceand
