#include <doctest/doctest.h>

#include <random>
#include <string>

#include "http/body_check.hpp"
#include "support/rapidjson_oracle.hpp"
#include "support/test_host.hpp"

using namespace oceand;
using oceand::test::rapidjson_object;
using oceand::test::rapidjson_valid_utf8;

TEST_CASE("is_json_object") {
  CHECK(is_json_object("{}"));
  CHECK(is_json_object("  {\"a\": [1, {\"b\": null}]}\n"));
  CHECK_FALSE(is_json_object(""));
  CHECK_FALSE(is_json_object("[]"));
  CHECK_FALSE(is_json_object("\"text\""));
  CHECK_FALSE(is_json_object("{\"a\": }"));
  CHECK_FALSE(is_json_object("{} {}"));
  CHECK_FALSE(is_json_object("{\"a\": \"\xff\"}"));  // not UTF-8
  // Deep nesting does not recurse: 100,000 levels are checked without a stack overflow.
  std::string deep =
      std::string("{\"a\":") + std::string(100000, '[') + std::string(100000, ']') + "}";
  CHECK(is_json_object(deep));
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(OCEAN_CORPORA_DIR) + "/github"))
    CHECK(is_json_object(oceand::test::read_file(entry.path())));
}

TEST_CASE("is_valid_utf8 agrees with RapidJSON's validator") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ascii, longer than eight bytes"));
  CHECK(is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  CHECK_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xe0\x80\xaf"));      // overlong
  CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate U+D800
  CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(is_valid_utf8("abcdefgh\xe2\x82"));  // truncated after the fast path
  // Every one- and two-byte sequence, every three-byte one with a lead byte of E0, ED or EF, and a
  // million random strings of up to 12 bytes (mostly high bytes, so the slow path runs).
  for (int a = 0; a < 256; ++a)
    for (int b = 0; b < 256; ++b) {
      std::string s{static_cast<char>(a), static_cast<char>(b)};
      REQUIRE(is_valid_utf8(s) == rapidjson_valid_utf8(s));
      for (int lead : {0xE0, 0xED, 0xEF, 0xF0, 0xF4}) {
        std::string t{static_cast<char>(lead), static_cast<char>(a), static_cast<char>(b)};
        REQUIRE(is_valid_utf8(t) == rapidjson_valid_utf8(t));
      }
    }
  std::mt19937 random(7);
  for (int n = 0; n < 1000000; ++n) {
    std::string s(random() % 13, '\0');
    for (auto& c : s) c = static_cast<char>(random() % 3 ? 0x80 + random() % 128 : random() % 128);
    REQUIRE(is_valid_utf8(s) == rapidjson_valid_utf8(s));
  }
}

TEST_CASE("is_json_object checks a string in place without reading meaning past its end") {
  // Each text is cut from a longer string whose spare capacity still holds the rest: a check
  // that read past the end would see a complete object there.
  const std::vector<std::pair<std::string, size_t>> cases = {
      {R"({"a": 1}   )", 8},             // whole: true
      {R"({"a": "xy"} trailing)", 11},   // whole: true
      {R"({"a": 12345})", 10},           // "{"a": 1234": cut inside the object
      {R"({"a": "unterminated"})", 10},  // cut inside a string
      {R"({"a": [1, 2, 3]})", 14},       // cut before the closing brackets
  };
  for (const auto& [full, length] : cases) {
    CAPTURE(full);
    std::string text = full + std::string(200, '}');
    text.resize(length);  // keeps the capacity and the bytes behind the end
    REQUIRE(text.capacity() - text.size() >= body_check_slack());
    const std::string copy = text;  // the same text without slack behind it
    CHECK(is_json_object(text, text.capacity() - text.size()) == is_json_object(copy));
    CHECK(is_json_object(text, text.capacity() - text.size()) == rapidjson_object(copy));
  }
  CHECK(is_json_object(std::string(R"({"a": 1}   )").substr(0, 8)));
}

TEST_CASE("a finite number with an exponent past 308 is JSON, though RapidJSON refuses it") {
  for (std::string number : {"0e400", "0e60062", "-0E+999", "0.000e310", "0.0000000001e315"}) {
    CAPTURE(number);
    const std::string text = "{\"n\": " + number + "}";
    CHECK(is_json_object(text));
    CHECK(rapidjson_object(text));  // the oracle's documented exception
  }
  // Two exponents, or a sign after one, stay refused.
  for (std::string number : {"0e0662e0662", "0e662-0", "0e400.5"}) {
    CAPTURE(number);
    const std::string text = "{\"n\": " + number + "}";
    CHECK_FALSE(is_json_object(text));
    CHECK_FALSE(rapidjson_object(text));
  }
  // Values beyond a double stay refused, with and without an exponent.
  for (std::string number :
       {std::string("1e400"), std::string("-7e999"), "1" + std::string(320, '0')}) {
    CAPTURE(number);
    const std::string text = "{\"n\": " + number + "}";
    CHECK_FALSE(is_json_object(text));
    CHECK_FALSE(rapidjson_object(text));
  }
}

TEST_CASE("is_json_object refuses NUL and text after the object") {
  CHECK_FALSE(is_json_object(std::string("{}\0", 3)));
  CHECK_FALSE(is_json_object(std::string("{\"a\":\"\0\"}", 8)));
  CHECK(is_json_object("{\"a\":\"\\u0000\"}"));  // an escaped NUL is fine
}

TEST_CASE("is_json_object's fast path answers as RapidJSON alone does") {
  const std::vector<std::string> texts = {
      "{\"n\": 18446744073709551616}",
      "{\"n\": 123456789012345678901234567890}",
      "{\"n\": 1e400}",
      "{\"n\": -0}",
      "{\"n\": 01}",
      "{\"n\": 1.}",
      "{\"n\": .5}",
      "{\"n\": -}",
      "{\"n\": 1e}",
      "{\"s\": \"\\ud800\"}",
      "{\"s\": \"\\udc00\"}",
      "{\"s\": \"\\ud83d\\ude00\"}",
      "{\"s\": \"\\x\"}",
      "{\"s\": \"a\x01\"}",
      "{\"s\": \"a\x7f\"}",
      "{\"s\": \"\xc0\xaf\"}",
      "{\"s\": \"\xed\xa0\x80\"}",
      "{\"s\": \"\xf8\x88\x80\x80\x80\"}",
      "{\"s\": \"\xe2\x82\"}",
      "{\"a\": [1,]}",
      "{\"a\": 1,}",
      "{,}",
      "{\"a\" 1}",
      "{\"a\": tru}",
      "{\"a\": nul}",
      "{\"a\": NaN}",
      "{\"a\": 1} x",
      "{\"a\": 1}\n\t ",
      "{'a': 1}",
      "{\"a\": [" + std::string(2000, '[') + std::string(2000, ']') + "]}"};
  for (const auto& text : texts)
    CHECK_MESSAGE(is_json_object(text) == rapidjson_object(text), text);
  // And on thousands of damaged copies of a real payload.
  std::string payload = oceand::test::read_file(std::string(OCEAN_CORPORA_DIR) +
                                                "/github/pull_request__opened.payload.json");
  std::mt19937 random(7);
  const std::string bytes = "{}[]\",:0123456789.eE-+ \\utfnl\x01\x80\xbf\xc3\xe2\xff";
  size_t refused = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string damaged = payload;
    int edits = 1 + static_cast<int>(random() % 3);
    for (int e = 0; e < edits; ++e)
      damaged[random() % damaged.size()] = bytes[random() % bytes.size()];
    bool expected = rapidjson_object(damaged);
    refused += !expected;
    REQUIRE_MESSAGE(is_json_object(damaged) == expected, damaged);
  }
  CHECK(refused > 1000);  // the damage really reaches the checks
}

TEST_CASE("form decoding") {
  CHECK(url_decode("a+b%20c%7B").value() == "a b c{");
  CHECK_FALSE(url_decode("%").has_value());
  CHECK_FALSE(url_decode("%4").has_value());
  CHECK_FALSE(url_decode("%zz").has_value());
  CHECK(form_payload("x=1&payload=%7B%7D&y=2").value() == "{}");
  CHECK_FALSE(form_payload("x=1").has_value());
}
