#include "mapping/input_paths.hpp"

#include <cctype>

namespace oceand {

namespace {

// Thrown wherever the expression may see more of its input than named fields, or where its text
// leaves the subset read here. Never escapes input_paths().
struct WholeInput {};

enum class Kind { End, Field, Dot, DotDot, Number, Quote, Ident, Variable, Format, Op };

struct Token {
  Kind kind = Kind::End;
  std::string text;  // the field name, identifier, variable, format or operator
};

bool ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// A recursive-descent reader of jq's expression grammar that tracks one thing: whether the input a
// term receives is the expression's own input ("top") or something derived from it. Only the
// right-hand side of `|`, the suffixes of a term and the body of `catch` receive derived input;
// everything else (operands of `,` `//` `and` `+` …, `if` branches, array and object constructors,
// index expressions, string interpolations) receives the same input as its context.
//
// The precedence of binary operators does not change which input their operands get, so they are
// read as one flat sequence. Where this reader's extent of a construct could differ from jq's, it
// errs towards "top", which can only add keys.
class KeyReader {
 public:
  explicit KeyReader(std::string_view text) : text_(text) {}

  std::set<FieldPath> read() {
    pipe(true);
    if (peek().kind != Kind::End) throw WholeInput{};
    return paths_;
  }

  // The chain when the whole text is `.a.b…` and nothing else.
  std::optional<FieldPath> chain_only() {
    FieldPath path;
    while (peek().kind == Kind::Field) path.push_back(take().text);
    if (path.empty() || peek().kind != Kind::End) return std::nullopt;
    return path;
  }

  // The path when the whole text is `[.a.b[].c…]` and nothing else.
  std::optional<FieldPath> collection_only() {
    if (!at("[")) return std::nullopt;
    take();
    FieldPath path;
    while (peek().kind == Kind::Field) path.push_back(take().text);
    if (path.empty() || !at("[") || !next_char_is(']')) return std::nullopt;
    take();
    take();
    path.push_back(kEachElement);
    while (peek().kind == Kind::Field) path.push_back(take().text);
    if (!at("]")) return std::nullopt;
    take();
    if (peek().kind != Kind::End) return std::nullopt;
    return path;
  }

 private:
  // ---- tokens ----
  void skip_space() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        ++pos_;
      } else {
        break;
      }
    }
  }

  std::string word() {
    size_t start = pos_;
    while (pos_ < text_.size() && ident_char(text_[pos_])) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  Token lex() {
    skip_space();
    if (pos_ >= text_.size()) return {Kind::End, {}};
    char c = text_[pos_];
    char next = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
    if (c == '"') {
      ++pos_;
      return {Kind::Quote, {}};
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && std::isdigit(static_cast<unsigned char>(next)))) {
      while (pos_ < text_.size() &&
             (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.' ||
              ((text_[pos_] == '+' || text_[pos_] == '-') &&
               (text_[pos_ - 1] == 'e' || text_[pos_ - 1] == 'E'))))
        ++pos_;
      return {Kind::Number, {}};
    }
    if (c == '.') {
      ++pos_;
      if (next == '.') {
        ++pos_;
        return {Kind::DotDot, {}};
      }
      if (ident_start(next)) return {Kind::Field, word()};
      return {Kind::Dot, {}};
    }
    if (c == '$' || c == '@') {
      ++pos_;
      if (pos_ >= text_.size() || !ident_start(text_[pos_])) throw WholeInput{};
      Token t{c == '$' ? Kind::Variable : Kind::Format, word()};
      if (text_.substr(pos_, 2) == "::") throw WholeInput{};
      return t;
    }
    if (ident_start(c)) {
      Token t{Kind::Ident, word()};
      if (text_.substr(pos_, 2) == "::") throw WholeInput{};  // module paths
      for (const char* binding : {"as", "def", "reduce", "foreach", "label", "import", "include"})
        if (t.text == binding) throw WholeInput{};
      return t;
    }
    // Assignments and destructuring alternatives are refused; the rest are plain operators.
    for (const char* refused : {"?//", "//=", "|=", "+=", "-=", "*=", "/=", "%="})
      if (text_.substr(pos_).starts_with(refused)) throw WholeInput{};
    for (const char* two : {"==", "!=", "<=", ">=", "//"})
      if (text_.substr(pos_).starts_with(two)) {
        pos_ += 2;
        return {Kind::Op, two};
      }
    if (c == '=') throw WholeInput{};
    if (std::string_view("|,+-*/%<>()[]{}:;?").find(c) != std::string_view::npos) {
      ++pos_;
      return {Kind::Op, std::string(1, c)};
    }
    throw WholeInput{};
  }

  // Whether the next character after the token already read ahead, past spaces, is `c`.
  bool next_char_is(char c) const {
    size_t i = pos_;
    while (i < text_.size() && std::isspace(static_cast<unsigned char>(text_[i]))) ++i;
    return i < text_.size() && text_[i] == c;
  }

  const Token& peek() {
    if (!ahead_) ahead_ = lex();
    return *ahead_;
  }
  Token take() {
    Token t = peek();
    ahead_.reset();
    return t;
  }
  bool at(std::string_view op) {
    const Token& t = peek();
    return (t.kind == Kind::Op || t.kind == Kind::Ident) && t.text == op;
  }
  void expect(std::string_view op) {
    if (!at(op)) throw WholeInput{};
    take();
  }

  // ---- grammar ----
  void pipe(bool top) {
    sequence(top);
    while (at("|")) {
      take();
      sequence(false);
    }
  }

  bool at_binary() {
    const Token& t = peek();
    if (t.kind == Kind::Ident) return t.text == "and" || t.text == "or";
    if (t.kind != Kind::Op) return false;
    for (const char* op : {",", "//", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%"})
      if (t.text == op) return true;
    return false;
  }

  void sequence(bool top) {
    unary(top);
    while (at_binary()) {
      take();
      unary(top);
    }
  }

  void unary(bool top) {
    if (at("-")) take();
    postfix(top);
  }

  void postfix(bool top) {
    std::optional<FieldPath> chain = primary(top);
    if (chain) {
      for (;;) {
        if (peek().kind == Kind::Field) {
          chain->push_back(take().text);
        } else if (at("[") && next_char_is(']')) {
          take();
          take();
          chain->push_back(kEachElement);
        } else {
          break;
        }
      }
      paths_.insert(std::move(*chain));
    }
    for (;;) {
      const Token& t = peek();
      if (t.kind == Kind::Field) {
        take();
      } else if (t.kind == Kind::Dot) {
        take();
        if (peek().kind == Kind::Quote) {
          take();
          string(top);
        } else if (at("[")) {
          take();
          brackets(top);
        } else {
          throw WholeInput{};
        }
      } else if (at("[")) {
        take();
        brackets(top);
      } else if (at("?")) {
        take();
      } else {
        return;
      }
    }
  }

  // After `[`: `]`, `e]`, `e:e]`, `e:]`, `:e]`. Index expressions see the term's own input.
  void brackets(bool top) {
    if (at("]")) {
      take();
      return;
    }
    if (!at(":")) pipe(top);
    if (at(":")) {
      take();
      if (!at("]")) pipe(top);
    }
    expect("]");
  }

  // Returns the first field of a chain when the term is a field access of the top input.
  std::optional<FieldPath> primary(bool top) {
    Token t = take();
    switch (t.kind) {
      case Kind::Field:
        if (top) return FieldPath{t.text};
        return std::nullopt;
      case Kind::Dot:
        return dot(top);
      case Kind::DotDot:
        if (top) throw WholeInput{};
        return std::nullopt;
      case Kind::Number:
      case Kind::Variable:
        return std::nullopt;
      case Kind::Quote:
        string(top);
        return std::nullopt;
      case Kind::Format:
        if (top) throw WholeInput{};  // a format applies to the whole input
        if (peek().kind == Kind::Quote) {
          take();
          string(false);
        }
        return std::nullopt;
      case Kind::Ident:
        identifier(t.text, top);
        return std::nullopt;
      case Kind::Op:
        if (t.text == "(") {
          pipe(top);
          expect(")");
          return std::nullopt;
        }
        if (t.text == "[") {
          if (!at("]")) pipe(top);
          expect("]");
          return std::nullopt;
        }
        if (t.text == "{") {
          object(top);
          return std::nullopt;
        }
        throw WholeInput{};
      case Kind::End:
        throw WholeInput{};
    }
    throw WholeInput{};
  }

  // After a `.` that starts a term: `."name"`, `.["name"]`, `.[…]` or `.` itself.
  std::optional<FieldPath> dot(bool top) {
    if (peek().kind == Kind::Quote) {
      take();
      auto name = string(top);
      if (!top) return std::nullopt;
      if (!name) throw WholeInput{};
      return FieldPath{*name};
    }
    if (at("[")) {
      take();
      if (!top) {
        brackets(false);
        return std::nullopt;
      }
      if (peek().kind != Kind::Quote) throw WholeInput{};
      take();
      auto name = string(true);
      if (!name || !at("]")) throw WholeInput{};
      take();
      return FieldPath{*name};
    }
    if (top) throw WholeInput{};  // `.` itself: the whole input
    return std::nullopt;
  }

  void identifier(const std::string& name, bool top) {
    if (name == "if") {
      pipe(top);
      expect("then");
      pipe(top);
      while (at("elif")) {
        take();
        pipe(top);
        expect("then");
        pipe(top);
      }
      if (at("else")) {
        take();
        pipe(top);
      }
      expect("end");
      return;
    }
    if (name == "try") {
      unary(top);
      if (at("catch")) {
        take();
        unary(false);  // the error, not the input
      }
      return;
    }
    // Builtins that do not look into their input (`not` only tests it for truth, and the caller
    // projects objects only, which stay objects). Any other call may read its whole input.
    static const std::set<std::string, std::less<>> constants = {
        "true", "false", "null", "empty", "not", "now", "env", "input_line_number"};
    bool call = at("(");
    if (top && (call || !constants.count(name))) throw WholeInput{};
    for (const char* keyword : {"then", "elif", "else", "end", "catch", "and", "or"})
      if (name == keyword) throw WholeInput{};
    if (call) {
      take();
      pipe(false);
      while (at(";")) {
        take();
        pipe(false);
      }
      expect(")");
    }
  }

  // After `{`. Keys of the form `name`, `"name"`, `$name`, `"\(e)"` or `(e)`; a key without a value
  // is shorthand for reading that field of the input.
  void object(bool top) {
    if (at("}")) {
      take();
      return;
    }
    for (;;) {
      Token key = take();
      std::optional<std::string> name;
      if (key.kind == Kind::Ident) {
        name = key.text;
      } else if (key.kind == Kind::Quote) {
        name = string(top);
      } else if (key.kind == Kind::Variable) {
        name = std::string();  // `{$x}` reads the variable, not the input
      } else if (key.kind == Kind::Op && key.text == "(") {
        pipe(top);
        expect(")");
        if (!at(":")) throw WholeInput{};
      } else {
        throw WholeInput{};
      }
      if (at(":")) {
        take();
        unary(top);
        while (at("|")) {
          take();
          unary(false);
        }
      } else if (top && key.kind != Kind::Variable) {
        if (!name) throw WholeInput{};
        paths_.insert(FieldPath{*name});
      }
      if (at("}")) {
        take();
        return;
      }
      expect(",");
    }
  }

  // After an opening quote: reads to the closing one. Interpolations `\(e)` see `top`'s input.
  // Returns the text when it is a plain literal without escapes.
  std::optional<std::string> string(bool top) {
    std::string value;
    bool plain = true;
    for (;;) {
      if (pos_ >= text_.size()) throw WholeInput{};
      char c = text_[pos_++];
      if (c == '"') break;
      if (c != '\\') {
        value.push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) throw WholeInput{};
      plain = false;
      if (text_[pos_++] == '(') {
        pipe(top);
        expect(")");  // leaves pos_ just after the `)`: nothing is read ahead
      }
    }
    if (!plain) return std::nullopt;
    return value;
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::optional<Token> ahead_;
  std::set<FieldPath> paths_;
};

}  // namespace

std::optional<std::set<FieldPath>> input_paths(std::string_view expression) {
  try {
    return KeyReader(expression).read();
  } catch (const WholeInput&) {
    return std::nullopt;
  }
}

std::optional<FieldPath> field_path(std::string_view expression) {
  try {
    return KeyReader(expression).chain_only();
  } catch (const WholeInput&) {
    return std::nullopt;
  }
}

std::optional<FieldPath> collected_path(std::string_view expression) {
  try {
    return KeyReader(expression).collection_only();
  } catch (const WholeInput&) {
    return std::nullopt;
  }
}

}  // namespace oceand
