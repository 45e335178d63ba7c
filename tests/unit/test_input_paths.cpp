// The mapper hands jq only the parts of a raw result the mapping reads (mapping/input_paths,
// mapping/raw_input). Whenever input_paths names paths, jq must give the same answer on that
// projection as on the whole input.
#include <doctest/doctest.h>

#include <filesystem>
#include <functional>

#include <rapidjson/document.h>

#include "mapping/input_paths.hpp"
#include "mapping/jq_program.hpp"
#include "mapping/port_app_config.hpp"
#include "mapping/raw_input.hpp"
#include "ocean/sdk.hpp"
#include "support/test_host.hpp"

using namespace oceand;
using namespace oceand::test;

namespace {

// One expression compiled once: every output on an input, or the error, as text.
class Outputs {
 public:
  explicit Outputs(const std::string& expression) : jq_(jq_init()) {
    jq_set_error_cb(
        jq_, [](void*, jv m) { jv_free(m); }, nullptr);
    REQUIRE_MESSAGE(jq_compile(jq_, expression.c_str()), expression);
  }
  ~Outputs() { jq_teardown(&jq_); }

  std::string of(jv input) {  // borrows input
    jq_start(jq_, jv_copy(input), 0);
    std::string out;
    for (;;) {
      jv next = jq_next(jq_);
      if (!jv_is_valid(next)) {
        if (jv_invalid_has_msg(jv_copy(next))) {
          jv text = jv_dump_string(jv_invalid_get_msg(next), 0);
          out += "error " + std::string(jv_string_value(text));
          jv_free(text);
        } else {
          jv_free(next);
        }
        return out;
      }
      jv text = jv_dump_string(next, JV_PRINT_SORTED);
      out += std::string(jv_string_value(text)) + "\n";
      jv_free(text);
    }
  }

 private:
  jq_state* jq_;
};

std::string dump(jv value) {
  jv text = jv_dump_string(value, JV_PRINT_SORTED);
  std::string out = jv_string_value(text);
  jv_free(text);
  return out;
}

// Checks jq's outputs on each text and on its projection agree, when input_paths gives one.
void check_same(const std::string& expression, const std::vector<std::string>& texts) {
  auto paths = input_paths(expression);
  if (!paths) return;
  InputShape shape;
  for (const auto& path : *paths) shape.add(path);
  Outputs outputs(expression);
  for (const auto& text : texts) {
    jv whole = jv_parse_sized(text.data(), static_cast<int>(text.size()));
    jv part = parse_input(text, shape);
    REQUIRE(jv_is_valid(part));
    CHECK_MESSAGE(outputs.of(whole) == outputs.of(part), expression);
    jv_free(whole);
    jv_free(part);
  }
}

void each_expression(const rapidjson::Value& node, const std::function<void(std::string)>& f) {
  if (node.IsString()) f(node.GetString());
  if (node.IsObject())
    for (const auto& m : node.GetObject()) each_expression(m.value, f);
}
}  // namespace

TEST_CASE("input_paths reads the field paths an expression takes from its input") {
  using Paths = std::set<FieldPath>;
  CHECK(input_paths(".title") == Paths{{"title"}});
  CHECK(input_paths(".head.repo.name + (.id|tostring)") == Paths{{"head", "repo", "name"}, {"id"}});
  CHECK(input_paths("[.assignees[].login]") == Paths{{"assignees", kEachElement, "login"}});
  CHECK(input_paths(".a[] | .b") == Paths{{"a", kEachElement}});
  CHECK(input_paths(".a [ ] [].c") == Paths{{"a", kEachElement, kEachElement, "c"}});
  CHECK(input_paths(".a[0].b") == Paths{{"a"}});
  CHECK(input_paths("\"githubPullRequest\"") == Paths{});
  CHECK(input_paths(".name // .tag_name") == Paths{{"name"}, {"tag_name"}});
  CHECK(input_paths("(.repository_url | split(\"/\") | .[-1]) + \"-\" + (.number|tostring)") ==
        Paths{{"repository_url"}, {"number"}});
  CHECK(input_paths(".fields.assignee.emailAddress // null") ==
        Paths{{"fields", "assignee", "emailAddress"}});
  CHECK(input_paths(".a?.b") == Paths{{"a"}});
  CHECK(input_paths("if .a then .b elif .c then \"x\" else .d end") ==
        Paths{{"a"}, {"b"}, {"c"}, {"d"}});
  CHECK(input_paths("{id, \"b\", c: .d.e, (.f): 1, $__loc__}") ==
        Paths{{"id"}, {"b"}, {"d", "e"}, {"f"}});
  CHECK(input_paths(".[\"odd key\"].x + .\"other\"") == Paths{{"odd key", "x"}, {"other"}});
  CHECK(input_paths("\"\\(.a)-\\(.b | tostring)\"") == Paths{{"a"}, {"b"}});
  CHECK(input_paths(".a[.b][1:] | .[0]") == Paths{{"a"}, {"b"}});
  CHECK(input_paths("try .a catch .b") == Paths{{"a"}});
  CHECK(input_paths(".x | not") == Paths{{"x"}});
  CHECK(input_paths(".x # a comment .y\n + 1") == Paths{{"x"}});
  CHECK(input_paths("-.n * 2 >= 1 and (.m | length) < 3") == Paths{{"n"}, {"m"}});
}

TEST_CASE("field_path recognises a bare chain of fields only") {
  CHECK(field_path(".user.login") == FieldPath{"user", "login"});
  CHECK(field_path(" .title ") == FieldPath{"title"});
  CHECK_FALSE(field_path(".a?"));
  CHECK_FALSE(field_path(".a | .b"));
  CHECK_FALSE(field_path(".a[0]"));
  CHECK_FALSE(field_path("."));
  CHECK_FALSE(field_path("\"x\""));
}

TEST_CASE("collected_path recognises a field chain collected through one []") {
  CHECK(collected_path("[.assignees[].login]") == FieldPath{"assignees", kEachElement, "login"});
  CHECK(collected_path("[.a[]]") == FieldPath{"a", kEachElement});
  CHECK(collected_path(" [ .a.b [] .c .d ] ") == FieldPath{"a", "b", kEachElement, "c", "d"});
  for (const char* other :
       {"[.a[].b?]", "[.a[]?.b]", "[.a[][]]", "[.[]]", "[.a[0]]", "[.a[].b, .c]", "[.a[]] | length",
        ".a[]", "[.a[].b] + []", "[.a[] | .b]", "[.a]", "[]", "[.a[].b"})
    CHECK_MESSAGE(!collected_path(other), other);
}

TEST_CASE("parse_input keeps what the shape names, and refuses what jq's parser refuses") {
  InputShape shape;
  shape.add({"a", "b"});
  shape.add({"c"});
  auto parsed = [&](const std::string& text) {
    jv value = parse_input(text, shape);
    if (!jv_is_valid(value)) {
      jv_free(value);
      return std::string("invalid");
    }
    return dump(value);
  };
  CHECK(parsed(R"({"a": {"b": [1, {"z": 2}], "x": 3}, "c": {"d": 4}, "e": 5})") ==
        R"({"a":{"b":[1,{"z":2}]},"c":{"d":4}})");
  CHECK(parsed(R"({"a": "text", "c": 1, "c": 2})") == R"({"a":"text","c":2})");  // last key wins
  CHECK(parsed(R"({"a": {"b": 1.5e300, "y": {"deep": [[[]]]}}})") == R"({"a":{"b":1.5e+300}})");
  CHECK(parsed(R"([{"a": 1}])") == R"([{"a":1}])");
  InputShape each;
  each.add({"l", kEachElement, "x"});
  each.add({"o", kEachElement, kEachElement});
  auto cut = [&](const std::string& text) {
    jv value = parse_input(text, each);
    REQUIRE(jv_is_valid(value));
    return dump(value);
  };
  CHECK(cut(R"({"l": [{"x": 1, "y": 2}, 3, [4], {"y": 5}], "o": {"p": [6, {"q": 7}]}})") ==
        R"({"l":[{"x":1},3,[4],{}],"o":{"p":[6,{"q":7}]}})");
  CHECK(cut(R"({"l": {"k": {"x": 1, "y": 2}}, "z": 1})") == R"({"l":{"k":{"x":1}}})");
  // Texts simdjson refuses (here: invalid UTF-8 in a part the shapes skip) are read by jq's parser
  // and cut the same way.
  CHECK(
      parsed("{\"zz\": \"\xff\", \"a\": {\"b\": [1, {\"z\": 2}], \"x\": 3}, \"c\": {\"d\": 4}}") ==
      R"({"a":{"b":[1,{"z":2}]},"c":{"d":4}})");
  CHECK(cut("{\"l\": [{\"x\": 1, \"y\": \"\xff\"}, 3, [4], {\"y\": 5}], \"o\": {\"p\": [6, {\"q\": "
            "7}]}}") == R"({"l":[{"x":1},3,[4],{}],"o":{"p":[6,{"q":7}]}})");
  CHECK(cut("{\"l\": {\"k\": {\"x\": 1, \"y\": \"\xff\"}}, \"z\": 1}") == R"({"l":{"k":{"x":1}}})");
  CHECK(cut(R"({"l": "text", "o": null})") == R"({"l":"text","o":null})");
  CHECK(parsed("\"a\\u00e9\"") == "\"a\xc3\xa9\"");
  CHECK(parsed("{} {}") == "invalid");
  CHECK(parsed("{\"a\": ") == "invalid");
  CHECK(parsed(std::string("{}\0", 3)) == "invalid");
  std::string deep = std::string(kMaxInputDepth, '[') + std::string(kMaxInputDepth, ']');
  CHECK(parsed(deep) != "invalid");
  CHECK(parsed("[" + deep + "]") == "invalid");
  CHECK(parsed("{\"e\": [" + deep + "]}") == "invalid");  // skipped parts count too
  // Far deeper: refused at the limit, long before the parser's recursion could matter.
  CHECK(parsed(std::string(100000, '[') + std::string(100000, ']')) == "invalid");
  // The whole shape gives what jq's own parser gives.
  for (const auto& entry : fs::directory_iterator(fs::path(OCEAN_CORPORA_DIR) / "github")) {
    std::string text = read_file(entry.path());
    jv mine = parse_input(text, InputShape::whole());
    jv jqs = jv_parse_sized(text.data(), static_cast<int>(text.size()));
    REQUIRE(jv_is_valid(mine));
    CHECK(dump(mine) == dump(jqs));
  }
}

TEST_CASE("parse_input reads numbers, strings and odd texts as jq's parser does") {
  // Each text is read whole and through a shape, and compared with jq's own parser.
  InputShape shape;
  shape.add({"v"});
  auto mine = [](const std::string& text, const InputShape& s) {
    jv value = parse_input(text, s);
    if (!jv_is_valid(value)) {
      jv_free(value);
      return std::string("invalid");
    }
    return dump(value);
  };
  auto jqs = [](const std::string& text) {
    jv value = jv_parse_sized(text.data(), static_cast<int>(text.size()));
    if (!jv_is_valid(value)) {
      jv_free(value);
      return std::string("invalid");
    }
    return dump(value);
  };
  const std::vector<std::string> agreed = {
      "0", "-0.0", "1.5", "0.1", "1E2", "-1e-2", "1e-400", "123456789", "9007199254740993",
      "-9223372036854775808", "9223372036854775808", "18446744073709551615", "18446744073709551616",
      "123456789012345678901234567890", "2.2250738585072014e-308", "\"plain\"", "\"\\u0000x\"",
      "\"\\ud83d\\ude00\"", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"caf\xc3\xa9\"",
      // Invalid UTF-8: refused by the fast reader, read again and replaced by U+FFFD as jq does.
      "\"\xff\"", "\"a\xc3\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
      // Refused by both.
      "\"\\ud800\"", "[1,]", "{\"a\" 1}", "\"a\x01\"", "tru", "{} {}", "", "nul",
      // Duplicates: the last wins.
      "{\"a\": 1, \"a\": 2}", "true", "null", "[]", "{}"};
  for (const auto& text : agreed) {
    CHECK_MESSAGE(mine(text, InputShape::whole()) == jqs(text), text);
    std::string wrapped = "{\"v\": " + text + ", \"w\": " + text + "}";
    CHECK_MESSAGE(mine(wrapped, shape) == (text.empty() || jqs(text) == "invalid"
                                               ? std::string("invalid")
                                               : "{\"v\":" + jqs(text) + "}"),
                  wrapped);
  }
  // A skipped part is still read: a text is refused whole, whatever the mapping reads.
  CHECK(mine("{\"v\": 1, \"w\": [1,]}", shape) == "invalid");
  CHECK(mine("{\"v\": 1, \"w\": tru}", shape) == "invalid");
  // Where we part from jq 1.6, which is lenient: NaN, leading zeros and numbers beyond a double
  // (jq reads null, 1, the largest double) are refused; `-0` reads as 0.
  for (const std::string text : {"01", "1e400", "NaN", "[1, nan]", "-Infinity"}) {
    CHECK_MESSAGE(jqs(text) != "invalid", text);
    CHECK_MESSAGE(mine(text, InputShape::whole()) == "invalid", text);
  }
  CHECK(jqs("-0") == "-0");
  CHECK(mine("-0", InputShape::whole()) == "0");
}

TEST_CASE("input_paths refuses expressions that may see the whole input") {
  for (const char* whole : {".",
                            "..",
                            ".[]",
                            "keys",
                            "to_entries",
                            "tostring",
                            "length",
                            ". as $x | $x.a",
                            "reduce .[] as $x (0; . + 1)",
                            "def f: .; f",
                            ".a = 1",
                            ".a |= 1",
                            "select(.a)",
                            "map(.a)",
                            "@base64",
                            ".[.a]",
                            ".[0]",
                            "{(.a): .}",
                            "label $out | 1",
                            "input",
                            "getpath([\"a\"])",
                            "del(.a)",
                            "with_entries(.)",
                            ".a as [$x] | $x",
                            "\"\\(.)\"",
                            "if . then 1 else 2 end",
                            ".a?.b // . ",
                            "[.[] | .x]",
                            "{a: 1} + .",
                            "mod::f",
                            "(1) (2)",
                            "\"unterminated",
                            "{a: 1 + 2}",
                            ".. | .a?",
                            "error",
                            "$__loc__, keys"})
    CHECK_MESSAGE(!input_paths(whole).has_value(), std::string(whole));
}

TEST_CASE("jq gives the same answer on the projection as on the whole input") {
  std::vector<std::string> docs;
  for (const char* dir : {"github", "jira"})
    for (const auto& entry : fs::directory_iterator(fs::path(OCEAN_CORPORA_DIR) / dir)) {
      if (entry.path().extension() != ".json") continue;
      rapidjson::Document d;
      d.Parse(read_file(entry.path()).c_str());
      if (!d.IsObject()) continue;
      // The payload and its main objects, as the plugins hand them to the mapping.
      for (const char* inner : {"pull_request", "issue", "repository", "release", "comment"})
        if (d.HasMember(inner) && d[inner].IsObject()) docs.push_back(ocean::to_json(d[inner]));
      docs.push_back(ocean::to_json(d));
    }
  REQUIRE(docs.size() > 20);
  std::vector<std::string> expressions = {
      ".title",
      ".head.repo.name + (.id|tostring)",
      "[.assignees[]?.login]",
      ".missing",
      ".a[.b]?",
      "{id, number, x: .user.login}",
      "try error(.title) catch .",
      "\"\\(.id)\"",
      ".number > 1 and .state == \"open\"",
      "(.labels // []) | map(.name)",
      "if .merged then \"merged\" elif .state then .state else null end",
      ".[\"html_url\"] | ascii_downcase",
      ".head.repo.owner.login",
      ".user.login.x",
      ".fields.status.name",
      ".a.b.c",
      "{number, t: .title.x?}",
      "[.labels[].name]",
      "[.assignees[].login, .title]",
      ".fields.components[]?.name",
      "[.head[]] | length",
      "[.user[]] | length",
      ".fields.issuelinks[].type.name",
      "[.labels[] | .id]"};
  for (const char* project : {"github", "jira", "example"}) {
    auto config = load_port_app_config(std::string(OCEAN_SOURCE_DIR) + "/config/" + project +
                                       "/port-app-config.yaml");
    for (const auto& resource : config.resources) {
      rapidjson::Document block;
      block.Parse(resource.config_json.c_str());
      each_expression(block["port"]["entity"]["mappings"],
                      [&](std::string e) { expressions.push_back(std::move(e)); });
      if (block.HasMember("selector") && block["selector"].HasMember("query"))
        expressions.push_back(block["selector"]["query"].GetString());
    }
  }
  size_t projected = 0;
  for (const auto& expression : expressions) {
    if (input_paths(expression)) ++projected;
    check_same(expression, docs);
  }
  // The shipped mappings are what the projection is for: nearly all of them must qualify.
  CHECK(projected * 10 >= expressions.size() * 9);
}
