#include <doctest/doctest.h>

#include <string>

#include "http/body_check.hpp"
#include "support/test_host.hpp"

using namespace oceand;

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

TEST_CASE("form decoding") {
  CHECK(url_decode("a+b%20c%7B").value() == "a b c{");
  CHECK_FALSE(url_decode("%").has_value());
  CHECK_FALSE(url_decode("%4").has_value());
  CHECK_FALSE(url_decode("%zz").has_value());
  CHECK(form_payload("x=1&payload=%7B%7D&y=2").value() == "{}");
  CHECK_FALSE(form_payload("x=1").has_value());
}
