#include "mapping/jq_compat.hpp"

#include <cctype>
#include <set>
#include <vector>

namespace oceand {

namespace {

bool ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_';
}
bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}
bool digit(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) != 0;
}
bool space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

const std::set<std::string_view>& keywords() {
  static const std::set<std::string_view> k = {
      "__loc__", "and",    "as",      "catch", "def", "elif",   "else", "end", "foreach",
      "if",      "import", "include", "label", "or",  "reduce", "then", "try"};
  return k;
}

// Builtins jq 1.7 and 1.8 dropped: a program that calls them does not compile in Ocean.
const std::set<std::string_view>& removed() {
  static const std::set<std::string_view> r = {"leaf_paths", "recurse_down", "scalars_or_empty",
                                               "pow10", "_nwise"};
  return r;
}

struct Frame {
  char kind;       // '(' '[' '{', 'i' an if … end, 'r' the whole program or an interpolation
  size_t open_at;  // output offset of the opening token
  bool pattern = false;  // a destructuring pattern: its object values are patterns, not expressions
  bool has_else = false;
  bool value_open = false;   // '{': a "(" was put after the current key's ':'
  bool expect_key = true;    // '{'
  size_t seg_start = 0;      // output offset where the current operand of `as` would start
  bool seg_binop = false;    // that operand holds an operator (1.8 binds all of it)
  bool def_pending = false;  // a `def` whose ':' is still to come
  bool slice = false;        // '[': a slice `[a:b]`
  size_t slice_end_at = 0;   // '[': output offset after the slice's ':'
};

class Rewriter {
 public:
  explicit Rewriter(std::string_view src) : s_(src) {}
  std::string run() {
    expr(0, false);
    return std::move(out_);
  }

 private:
  char at(size_t p) const { return p < s_.size() ? s_[p] : '\0'; }
  size_t skip_space(size_t p) const {
    while (p < s_.size() && space(s_[p])) ++p;
    return p;
  }
  size_t word_end(size_t p) const {
    while (p < s_.size() && ident_char(s_[p])) ++p;
    return p;
  }
  static void reset_segment(Frame& f, const std::string& out) {
    f.seg_start = out.size();
    f.seg_binop = false;
  }
  void end_pattern(size_t depth) {
    if (pattern_active_ && depth == pattern_base_) pattern_active_ = false;
  }
  Frame& push(std::vector<Frame>& st, char kind) {
    Frame f{kind, out_.size()};
    f.pattern = pattern_active_ && (kind == '[' || kind == '{');
    st.push_back(f);
    return st.back();
  }

  // Wraps the output from `from` to its end, a slice bound, unless it is empty.
  void slice_bound(size_t from) {
    size_t start = from;
    while (start < out_.size() && space(out_[start])) ++start;
    if (start == out_.size()) return;
    out_.insert(start, "((");
    out_ += ") | _ocean_slice_bound)";
  }

  // A string literal from the '"' at p; `format` wraps each interpolation (for @uri/@urid "…").
  size_t string_lit(size_t p, const std::string& format) {
    out_ += '"';
    ++p;
    while (p < s_.size()) {
      char c = s_[p];
      if (c == '"') {
        out_ += '"';
        return p + 1;
      }
      if (c == '\\' && at(p + 1) == '(') {
        out_ += "\\(";
        if (!format.empty()) out_ += '(';
        p = expr(p + 2, true);
        if (!format.empty()) out_ += ") | " + format;
        out_ += ')';
        continue;
      }
      if (c == '\\' && p + 1 < s_.size()) {
        out_ += c;
        out_ += s_[p + 1];
        p += 2;
        continue;
      }
      out_ += c;
      ++p;
    }
    return p;
  }

  // The program from p to its end or, in an interpolation, to the ')' that closes it (returns the
  // position after it, not copied).
  size_t expr(size_t p, bool interpolation) {
    std::vector<Frame> st;
    push(st, 'r');
    reset_segment(st.back(), out_);
    bool after_term = false;  // the last token ends a term (a suffix may follow)
    bool after_def = false;
    const bool outer_pattern = pattern_active_;
    pattern_active_ = false;
    const size_t n = s_.size();
    while (p < n) {
      const char c = s_[p];
      Frame& top = st.back();
      const bool object_key = top.kind == '{' && !top.pattern && top.expect_key;
      if (space(c)) {
        out_ += c;
        ++p;
        continue;
      }
      if (c == '#') {
        while (p < n && s_[p] != '\n') out_ += s_[p++];
        continue;
      }
      if (c == '"') {
        p = string_lit(p, "");
        after_term = true;
        continue;
      }
      if (ident_start(c)) {
        size_t q = word_end(p);
        while (at(q) == ':' && at(q + 1) == ':' && ident_start(at(q + 2))) q = word_end(q + 2);
        std::string w(s_.substr(p, q - p));
        const size_t next = skip_space(q);
        p = q;
        if (keywords().count(w) && object_key && (at(next) == ',' || at(next) == '}')) {
          out_ += "\"" + w + "\": ." + w;  // {if} is {"if": .if}
          after_term = true;
          continue;
        }
        if (keywords().count(w) && !(object_key && at(next) == ':')) {
          keyword(st, w, after_term, after_def, q);
          continue;
        }
        if (after_def) {
          defined_.insert(w);
        } else if (removed().count(w) && !defined_.count(w)) {
          throw JqCompatError(w +
                              " is not defined: jq 1.7 and later (which Ocean runs) dropped it");
        }
        after_def = false;
        out_ += w;
        after_term = true;
        continue;
      }
      after_def = false;
      if (c == '$') {
        size_t q = word_end(p + 1);
        std::string name(s_.substr(p + 1, q - p - 1));
        if (name.empty()) {
          out_ += '$';
          ++p;
          continue;
        }
        const size_t next = skip_space(q);
        p = q;
        std::string var =
            (keywords().count(name) && name != "__loc__") ? "$__ocean_kw_" + name : "$" + name;
        if (object_key && at(next) == ':') {
          out_ += "(" + var + ")";  // {$k: v}: the key is $k's value
        } else if (object_key && (at(next) == ',' || at(next) == '}') && (keywords().count(name))) {
          out_ += "\"" + name + "\": " + var;
        } else {
          out_ += var;
        }
        after_term = true;
        continue;
      }
      if (c == '@') {
        size_t q = word_end(p + 1);
        std::string name(s_.substr(p + 1, q - p - 1));
        if (name == "uri" || name == "urid") {
          const std::string fn = "_ocean_fmt_" + name;
          size_t next = skip_space(q);
          if (at(next) == '"') {
            p = string_lit(next, fn);
          } else {
            out_ += fn;
            p = q;
          }
        } else {
          out_ += '@' + name;
          p = q;
        }
        after_term = true;
        continue;
      }
      if (c == '.' && at(p + 1) == '.') {
        out_ += "..";
        p += 2;
        after_term = true;
        continue;
      }
      if (c == '.' && ident_start(at(p + 1))) {
        size_t q = word_end(p + 1);
        out_ += s_.substr(p, q - p);
        p = q;
        after_term = true;
        continue;
      }
      if (digit(c) || (c == '.' && digit(at(p + 1)))) {
        size_t q = p;
        while (digit(at(q))) ++q;
        if (at(q) == '.') {
          ++q;
          while (digit(at(q))) ++q;
        }
        if ((at(q) == 'e' || at(q) == 'E') &&
            (digit(at(q + 1)) || ((at(q + 1) == '+' || at(q + 1) == '-') && digit(at(q + 2))))) {
          q += 2;
          while (digit(at(q))) ++q;
        }
        out_ += s_.substr(p, q - p);
        p = q;
        after_term = true;
        continue;
      }
      if (c == '.') {
        ++p;
        // `.a.[0]`, `.a.[]`, `f.["k"]`: a dot before a bracket suffix (1.7) is the suffix alone.
        if (at(p) == '[' && after_term) continue;
        out_ += '.';
        after_term = true;
        continue;
      }
      if (c == '(' || c == '[' || c == '{') {
        if (c == '(') end_pattern(st.size());
        Frame& f = push(st, c);
        out_ += c;
        reset_segment(f, out_);
        ++p;
        after_term = false;
        continue;
      }
      if (c == ')' || c == ']' || c == '}') {
        if (interpolation && c == ')' && st.size() == 1) {
          pattern_active_ = outer_pattern;
          return p + 1;
        }
        const char open = c == ')' ? '(' : c == ']' ? '[' : '{';
        // An unclosed `if` inside the brackets is left for jq to report.
        while (st.size() > 1 && st.back().kind != open) st.pop_back();
        if (st.size() > 1) {
          if (st.back().kind == '{' && st.back().value_open) out_ += ')';
          if (st.back().kind == '[' && st.back().slice) slice_bound(st.back().slice_end_at);
          st.pop_back();
        }
        out_ += c;
        ++p;
        after_term = true;
        continue;
      }
      if (c == '?' && s_.substr(p, 3) == "?//") {
        out_ += "?//";
        p += 3;
        pattern_active_ = true;
        pattern_base_ = st.size();
        after_term = false;
        continue;
      }
      if (c == '?') {
        out_ += '?';
        ++p;
        after_term = true;
        continue;
      }
      if (c == '|' && at(p + 1) != '=') {
        end_pattern(st.size());
        out_ += '|';
        ++p;
        reset_segment(top, out_);
        after_term = false;
        continue;
      }
      if (c == ',' || c == ';') {
        if (c == ';') end_pattern(st.size());
        if (c == ',' && top.kind == '{' && !top.pattern) {
          if (top.value_open) out_ += ')';
          top.value_open = false;
          top.expect_key = true;
        }
        out_ += c;
        ++p;
        reset_segment(top, out_);
        after_term = false;
        continue;
      }
      if (c == ':' && top.kind == '[' && !top.def_pending && !top.slice && !top.pattern) {
        // libjq 1.6 asserts (and aborts oceand) on a NaN slice bound; jq 1.8 reads it as absent.
        slice_bound(top.open_at + 1);
        out_ += ':';
        ++p;
        top.slice = true;
        top.slice_end_at = out_.size();
        reset_segment(top, out_);
        after_term = false;
        continue;
      }
      if (c == ':') {
        top.def_pending = false;
        out_ += ':';
        ++p;
        if (top.kind == '{' && !top.pattern && top.expect_key) {
          // jq 1.8 takes any expression as an object value (`{a: .b // "x"}`); 1.6 a term.
          out_ += '(';
          top.value_open = true;
          top.expect_key = false;
        }
        reset_segment(top, out_);
        after_term = false;
        continue;
      }
      static const char* const kOps[] = {"//=", "//", "==", "!=", "<=", ">=", "|=",
                                         "+=",  "-=", "*=", "/=", "%=", "=",  "+",
                                         "-",   "*",  "/",  "%",  "<",  ">"};
      bool matched = false;
      for (const char* op : kOps) {
        std::string_view o(op);
        if (s_.substr(p, o.size()) == o) {
          out_ += o;
          p += o.size();
          top.seg_binop = true;
          after_term = false;
          matched = true;
          break;
        }
      }
      if (matched) continue;
      out_ += c;
      ++p;
    }
    pattern_active_ = outer_pattern;
    return p;
  }

  // `w` ends at `after` in the source.
  void keyword(std::vector<Frame>& st, const std::string& w, bool& after_term, bool& after_def,
               size_t after) {
    Frame& top = st.back();
    after_def = false;
    if (w == "if") {
      Frame& f = push(st, 'i');
      out_ += w;
      reset_segment(f, out_);
      after_term = false;
      return;
    }
    if (w == "then" || w == "elif" || w == "else") {
      if (w == "else" && top.kind == 'i') top.has_else = true;
      out_ += w;
      reset_segment(top, out_);
      after_term = false;
      return;
    }
    if (w == "end") {
      if (top.kind != 'i') {
        out_ += w;
        after_term = true;
        return;
      }
      Frame f = top;
      st.pop_back();
      if (!f.has_else) out_ += "else . ";  // jq 1.7: `if c then x end` is `… else . end`
      out_ += "end";
      // jq 1.8: `if … end` is a term, so a suffix or `as` may follow it.
      size_t next = skip_space(after);
      char n0 = at(next), n1 = at(next + 1);
      bool suffix = n0 == '[' || n0 == '?' ||
                    (n0 == '.' && (ident_start(n1) || n1 == '"' || n1 == '[')) ||
                    (s_.substr(next, 2) == "as" && !ident_char(at(next + 2)));
      if (suffix) {
        out_.insert(f.open_at, "(");
        out_ += ')';
      }
      after_term = true;
      return;
    }
    if (w == "reduce" || w == "foreach") {
      out_ += w;
      reset_segment(top, out_);
      after_term = false;
      return;
    }
    if (w == "as") {
      if (top.seg_binop) {
        // jq 1.8: `. + 1 as $x | …` binds `. + 1`, not `1`.
        size_t start = top.seg_start;
        while (start < out_.size() && space(out_[start])) ++start;
        size_t end = out_.size();
        while (end > start && space(out_[end - 1])) --end;
        out_.insert(end, ")");
        out_.insert(start, "(");
      }
      out_ += w;
      pattern_active_ = true;
      pattern_base_ = st.size();
      top.seg_binop = false;
      after_term = false;
      return;
    }
    if (w == "and" || w == "or") {
      out_ += w;
      top.seg_binop = true;
      after_term = false;
      return;
    }
    if (w == "def") {
      after_def = true;
      top.def_pending = true;
    }
    out_ += w;
    after_term = false;
  }

  std::string_view s_;
  std::string out_;
  std::set<std::string> defined_;
  bool pattern_active_ = false;
  size_t pattern_base_ = 0;
};

}  // namespace

std::string jq18_source(std::string_view expression) {
  Rewriter r(expression);
  return r.run();
}

}  // namespace oceand

namespace oceand {

namespace {

// jq 1.8's builtins in jq itself, each written from jq 1.8.1's observed behaviour (tests/jq/ holds
// the comparison). `_o16_*` keep 1.6's C builtins reachable once a definition below replaces them.
// No comments inside: the text is joined into one line.
constexpr const char* kPrelude18 = R"JQ(
def _o16_ltrimstr($x): ltrimstr($x);
def _o16_rtrimstr($x): rtrimstr($x);
def _o16_implode: implode;
def _o16_tonumber: tonumber;
def _o16_strftime($f): strftime($f);
def _o16_strflocaltime($f): strflocaltime($f);
def _o16_mktime: mktime;
def _o16_indices($i): indices($i);
def _o16_delpaths($ps): delpaths($ps);
def _o16_setpath($p; $v): setpath($p; $v);
def _o16_getpath($p): getpath($p);
def _ocean_slice_bound: if type == "number" and isnan then null else . end;
def _ocean_nan_free_slices: map(if type == "object" then map_values(_ocean_slice_bound) else . end);
def getpath($p): _o16_getpath($p | _ocean_nan_free_slices);
def setpath($p; $v): _o16_setpath($p | _ocean_nan_free_slices; $v);
def delpaths($ps): _o16_delpaths($ps | map(_ocean_nan_free_slices
  | if any(.[]; type == "number" and isnan) then error("Cannot delete a NaN array index") else . end));
def del(f): delpaths([path(f)]);
def _assign(paths; $v): reduce path(paths) as $p (.; setpath($p; $v));
def have_decnum: false;
def have_literal_numbers: false;
def pick(pathexps): . as $top
  | reduce path(pathexps) as $p (null; setpath($p; $top | getpath($p)));
def debug(msg): (msg | debug | empty), .;
def abs: if . < 0 then - . else . end;
def toboolean:
  if type == "boolean" then .
  elif . == "true" then true
  elif . == "false" then false
  else error("\(type) (\(tojson)) cannot be parsed as a boolean") end;
def _ocean_ws: "[\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
def _ocean_trim_check: if type != "string" then error("trim input must be a string") else . end;
def ltrim: _ocean_trim_check | [match("\\A" + _ocean_ws + "+")] as $m
  | if $m == [] then . else .[$m[0].length:] end;
def rtrim: _ocean_trim_check | [match(_ocean_ws + "+\\z")] as $m
  | if $m == [] then . else .[:$m[0].offset] end;
def trim: ltrim | rtrim;
def ltrimstr($x):
  if type == "string" and ($x | type) == "string" then _o16_ltrimstr($x) else startswith($x) end;
def rtrimstr($x):
  if type == "string" and ($x | type) == "string"
  then (if $x == "" then "" else _o16_rtrimstr($x) end)
  else endswith($x) end;
def trimstr($x): ltrimstr($x) | rtrimstr($x);
def add(f): reduce f as $x (null; . + $x);
def limit($n; f):
  if $n > 0 then label $out | foreach f as $item ($n; . - 1; $item, if . <= 0 then break $out else empty end)
  elif $n == 0 then empty
  else error("limit doesn't support negative count") end;
def skip($n; f):
  if $n > 0 then foreach f as $x ($n; . - 1; if . < 0 then $x else empty end)
  elif $n == 0 then f
  else error("skip doesn't support negative count") end;
def last(f): reduce f as $x (null; [$x]) | if . == null then empty else .[0] end;
def nth($n; f):
  if $n < 0 then error("nth doesn't support negative indices") else first(skip($n; f)) end;
def _modify(paths; update):
  reduce path(paths) as $p ([., []];
    . as [$v, $gone]
    | [label $out | ($v | getpath($p) | update) | ., break $out] as $new
    | if $new == [] then [$v, $gone + [$p]] else [($v | setpath($p; $new[0])), $gone] end)
  | . as [$v, $gone] | $v | delpaths($gone);
def map_values(f): .[] |= f;
def walk(f): def w: if type == "object" then map_values(w) elif type == "array" then map(w) else . end | f; w;
def implode:
  if type != "array" then error("implode input must be an array")
  else map(
      if type != "number" then error("\(type) (\(tojson)) can't be imploded, unicode codepoint needs to be numeric")
      elif isnan then error("number (null) can't be imploded, unicode codepoint needs to be numeric")
      else (if . < 0 then ceil else floor end)
        | if . < 0 or . > 1114111 or (. >= 55296 and . <= 57343) then 65533 else . end
      end)
    | _o16_implode end;
def tonumber:
  if type == "string" and (test("\\A[+-]?(?:(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:nan|inf|infinity))\\z") | not)
  then error("string (\(tojson)) cannot be parsed as a number")
  else _o16_tonumber end;
def _ocean_time_parts: if type == "number" then (try gmtime catch [1900,0,0,0,0,0,0,0]) else . end;
def strftime($f): _ocean_time_parts | _o16_strftime($f);
def strflocaltime($f): if type == "number" then (try localtime catch [1900,0,0,0,0,0,0,0]) else . end | _o16_strflocaltime($f);
def todateiso8601: strftime("%Y-%m-%dT%H:%M:%SZ");
def todate: todateiso8601;
def mktime:
  if type == "array" and length > 0 and length < 6 and all(.[]; type == "number")
  then (. + [0,0,0,0,0,0,0,0])[:8] | _o16_mktime else _o16_mktime end;
def _ocean_nog($flags): if $flags == null then null else $flags | explode | map(select(. != 103)) | implode end;
def _ocean_left_context($re): $re | test("\\^|\\\\[AbBGK]|\\(\\?<[=!]");
def _ocean_match_at($re; $fl; $s; $p):
  if $p == 0 then $s | _match_impl($re; $fl; false) | .[]
  elif _ocean_left_context($re) then
    ((if $p >= 100000 then "(?:[\\s\\S]{100000}){\(($p / 100000) | floor)}" else "" end)
      + "[\\s\\S]{\($p % 100000)}") as $skip
    | (if ($fl // "") | test("x") then "\n" else "" end) as $nl
    | $s | _match_impl("\\A" + $skip + "[\\s\\S]*?\\K(?:" + $re + $nl + ")"; $fl; false) | .[]
  else $s[$p:] | _match_impl($re; $fl; false) | .[]
    | .offset += $p
    | .captures |= map(if .offset >= 0 then .offset += $p else . end)
  end;
def _ocean_match_all($re; $fl):
  . as $s | ($s | length) as $len
  | def from($p):
      if $p > $len then empty
      else first(_ocean_match_at($re; $fl; $s; $p)) as $m
        | $m, ($m | if .length == 0 then .offset + 1 else .offset + .length end | from(.))
      end;
    if _match_impl($re; $fl; true) then from(0) else empty end;
def match($re; $flags):
  if ($flags | type) == "string" and ($flags | contains("g"))
  then _ocean_match_all($re; _ocean_nog($flags))
  else _match_impl($re; $flags; false) | .[] end;
def match($val): ($val | type) as $vt
  | if $vt == "string" then match($val; null)
    elif $vt == "array" and ($val | length) > 1 then match($val[0]; $val[1])
    elif $vt == "array" and ($val | length) > 0 then match($val[0]; null)
    else error($vt + " not a string or array") end;
def _ocean_captures: [.captures[] | select(.name != null) | {key: .name, value: .string}] | from_entries;
def capture($re; $flags): match($re; $flags) | _ocean_captures;
def capture($val): ($val | type) as $vt
  | if $vt == "string" then capture($val; null)
    elif $vt == "array" and ($val | length) > 1 then capture($val[0]; $val[1])
    elif $vt == "array" and ($val | length) > 0 then capture($val[0]; null)
    else error($vt + " not a string or array") end;
def scan($re; $flags): match($re; "g" + $flags)
  | if (.captures | length) > 0 then [.captures[].string] else .string end;
def scan($re): scan($re; null);
def split($re; $flags): . as $s
  | [match($re; "g" + $flags) | (.offset, .offset + .length)] as $cuts
  | ([0] + $cuts + [$s | length]) as $b
  | [range(0; $b | length; 2) as $i | $s[$b[$i]:$b[$i + 1]]];
def splits($re; $flags): split($re; $flags) | .[];
def splits($re): splits($re; null);
def sub($re; str; $flags): . as $in
  | (reduce match($re; $flags) as $m ({out: [], at: 0};
      [$m | _ocean_captures | str] as $with
      | $in[.at:$m.offset] as $gap
      | reduce range(0; $with | length) as $i (.; .out[$i] = (.out[$i] // "") + $gap + $with[$i])
      | .at = $m.offset + $m.length)) as $r
  | if $r.out == [] then $in else $r.out[] + $in[$r.at:] end;
def sub($re; str): sub($re; str; "");
def gsub($re; str; $flags): sub($re; str; $flags + "g");
def gsub($re; str): sub($re; str; "g");
def _ocean_escape_re: explode | map(if ([.] | implode | test("[\\\\^$.|?*+()\\[\\]{}]")) then [92, .] else [.] end) | add // [] | implode;
def indices($i):
  if type == "string" and ($i | type) == "string"
  then (if $i == "" then [] else [match("(?=" + ($i | _ocean_escape_re) + ")"; "g") | .offset] end)
  else _o16_indices($i) end;
def index($i): indices($i) | .[0];
def rindex($i): indices($i) | .[-1:][0];
def _ocean_fmt_uri: tostring | @uri
  | split("!") | join("%21") | split("*") | join("%2A") | split("'") | join("%27")
  | split("(") | join("%28") | split(")") | join("%29");
def _ocean_utf8: if . < 128 then [.]
  elif . < 2048 then [192 + (. / 64 | floor), 128 + (. % 64)]
  elif . < 65536 then [224 + (. / 4096 | floor), 128 + ((. / 64 | floor) % 64), 128 + (. % 64)]
  else [240 + (. / 262144 | floor), 128 + ((. / 4096 | floor) % 64), 128 + ((. / 64 | floor) % 64), 128 + (. % 64)] end;
def _ocean_fmt_urid: tostring as $s
  | def bad: error("string (\($s | tojson)) is not a valid uri encoding");
    def hex: if . >= 48 and . <= 57 then . - 48 elif . >= 65 and . <= 70 then . - 55 elif . >= 97 and . <= 102 then . - 87 else null end;
    ($s | explode) as $c
    | [ foreach range(0; $c | length) as $i ({skip: 0};
          if .skip > 0 then {skip: (.skip - 1), out: null}
          elif $c[$i] == 37 then
            (($c[$i + 1] // -1) | hex) as $h | (($c[$i + 2] // -1) | hex) as $l
            | if $h == null or $l == null then bad else {skip: 2, out: [$h * 16 + $l]} end
          else {skip: 0, out: ($c[$i] | _ocean_utf8)} end;
          .out | select(. != null) | .[]) ] as $b
    | [ foreach range(0; $b | length) as $i ({need: 0, cp: 0, min: 0};
          $b[$i] as $x
          | if .need == 0 then
              if $x < 128 then {need: 0, cp: $x, out: $x}
              elif $x >= 194 and $x < 224 then {need: 1, cp: ($x - 192), min: 128}
              elif $x >= 224 and $x < 240 then {need: 2, cp: ($x - 224), min: 2048}
              elif $x >= 240 and $x < 245 then {need: 3, cp: ($x - 240), min: 65536}
              else bad end
            elif $x < 128 or $x >= 192 then bad
            else {need: (.need - 1), cp: (.cp * 64 + $x - 128), min: .min}
              | if .need == 0 then
                  if .cp < .min or .cp > 1114111 or (.cp >= 55296 and .cp <= 57343) then bad else .out = .cp end
                else . end
            end;
          if $i == ($b | length) - 1 and .need > 0 then bad else . end
          | .out // empty) ] | _o16_implode;
)JQ";

struct Definition {
  std::string name;
  std::string text;           // one line
  std::vector<size_t> needs;  // earlier definitions its body names
};

std::set<std::string> words_of(std::string_view text) {
  std::set<std::string> words;
  for (size_t p = 0; p < text.size();) {
    if (ident_start(text[p]) && (p == 0 || !ident_char(text[p - 1]))) {
      size_t q = p;
      while (q < text.size() && ident_char(text[q])) ++q;
      words.emplace(text.substr(p, q - p));
      p = q;
    } else {
      ++p;
    }
  }
  return words;
}

// The prelude cut into its definitions (each starts a line with "def "), with what each needs.
const std::vector<Definition>& definitions() {
  static const std::vector<Definition> defs = [] {
    std::vector<Definition> out;
    std::string_view all(kPrelude18);
    size_t p = all.find("\ndef ");
    while (p != std::string_view::npos) {
      size_t next = all.find("\ndef ", p + 1);
      std::string text(
          all.substr(p + 1, (next == std::string_view::npos ? all.size() : next) - p - 1));
      for (char& c : text)
        if (c == '\n') c = ' ';
      size_t name_end = text.find_first_of("(:", 4);
      Definition d{text.substr(4, name_end - 4), text, {}};
      std::set<std::string> body = words_of(std::string_view(text).substr(name_end));
      for (size_t i = 0; i < out.size(); ++i)
        if (body.count(out[i].name)) d.needs.push_back(i);
      out.push_back(std::move(d));
      p = next;
    }
    return out;
  }();
  return defs;
}

}  // namespace

std::string jq18_prelude(std::string_view source) {
  const auto& defs = definitions();
  std::set<std::string> words = words_of(source);
  // Every update operator is a call to _modify in libjq 1.6.
  for (const char* op : {"|=", "+=", "-=", "*=", "/=", "%=", "//="})
    if (source.find(op) != std::string_view::npos) words.insert("_modify");
  std::vector<bool> wanted(defs.size(), false);
  for (size_t i = defs.size(); i-- > 0;) {
    if (!wanted[i] && !words.count(defs[i].name)) continue;
    wanted[i] = true;
    for (size_t need : defs[i].needs) wanted[need] = true;  // earlier, so visited later
  }
  std::string out;
  for (size_t i = 0; i < defs.size(); ++i)
    if (wanted[i]) out += defs[i].text + " ";
  return out;
}

}  // namespace oceand
