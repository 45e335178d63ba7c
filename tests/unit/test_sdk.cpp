// The SDK's helpers: signatures against published test vectors
// (shared/corpora/signature_vectors.json), and JSON parsing.
#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include "ocean/sdk.hpp"
#include "support/test_host.hpp"

using namespace oceand::test;

namespace {
rapidjson::Document vectors() {
  rapidjson::Document d;
  d.Parse(read_file(fs::path(OCEAN_CORPORA_DIR) / "signature_vectors.json").c_str());
  REQUIRE(!d.HasParseError());
  return d;
}
}  // namespace

TEST_CASE("verify_hmac_sha256 accepts GitHub's published vector and rejects tampering") {
  auto d = vectors();
  const auto& gh = d["github_x_hub_signature_256"];
  std::string secret = gh["secret"].GetString();
  std::string payload = gh["payload"].GetString();
  std::string hex = gh["signature_hex"].GetString();
  CHECK(ocean::hmac_sha256_hex(secret, payload) == hex);
  CHECK(ocean::verify_hmac_sha256(secret, payload, "sha256=" + hex));
  CHECK(ocean::verify_hmac_sha256(secret, payload, hex));
  std::string upper = hex;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(ocean::verify_hmac_sha256(secret, payload, "sha256=" + upper));
  CHECK_FALSE(ocean::verify_hmac_sha256(secret, payload + " ", "sha256=" + hex));
  CHECK_FALSE(ocean::verify_hmac_sha256("other secret", payload, "sha256=" + hex));
  CHECK_FALSE(ocean::verify_hmac_sha256(secret, payload, "sha256=" + hex.substr(1)));
  CHECK_FALSE(ocean::verify_hmac_sha256(secret, payload, ""));
}

TEST_CASE(
    "verify_standard_webhook accepts the reference vector and rejects the negative examples") {
  auto d = vectors();
  const auto& sw = d["standard_webhooks_v1"];
  std::string secret = sw["secret"].GetString();
  std::string id = sw["webhook-id"].GetString();
  std::string ts = sw["webhook-timestamp"].GetString();
  std::string payload = sw["payload"].GetString();
  std::string sig = sw["webhook-signature"].GetString();
  long long now = std::stoll(ts);
  CHECK(ocean::verify_standard_webhook(secret, id, ts, payload, sig, now));
  CHECK(ocean::verify_standard_webhook(secret, id, ts, payload, "v1,bogus " + sig, now));
  for (const auto& neg : sw["negative_examples_from_go_tests"].GetArray())
    CHECK_FALSE(ocean::verify_standard_webhook(secret, id, ts, payload, neg.GetString(), now));
  CHECK_FALSE(ocean::verify_standard_webhook(secret, id, ts, payload + " ", sig, now));
  CHECK_FALSE(ocean::verify_standard_webhook(secret, id, ts, payload, sig,
                                             now + 301));  // outside tolerance
  CHECK(ocean::verify_standard_webhook(secret, id, ts, payload, sig, now + 299));
}

TEST_CASE("base64 round trip and constant-time compare") {
  CHECK(ocean::base64_encode("hello") == "aGVsbG8=");
  CHECK(ocean::base64_decode("aGVsbG8=").value() == "hello");
  CHECK(ocean::base64_decode("aGVsbG8").has_value() == false);
  CHECK(ocean::constant_time_equal("abc", "abc"));
  CHECK_FALSE(ocean::constant_time_equal("abc", "abd"));
  CHECK_FALSE(ocean::constant_time_equal("abc", "abcd"));
}

TEST_CASE(
    "parse_json_in_place reads what parse_json reads, escapes included, and outlives a move") {
  const std::string text =
      read_file(fs::path(OCEAN_CORPORA_DIR) / "github" / "pull_request__opened.payload.json");
  rapidjson::Document copied;
  REQUIRE(ocean::parse_json(copied, text));
  std::unique_ptr<char[]> storage;
  rapidjson::Document in_place;
  REQUIRE(ocean::parse_json_in_place(in_place, text, storage));
  CHECK(in_place == copied);

  const std::string escaped = R"({"a":"line\nbreak \"quoted\" \u00e9","b":[1,2.5,null,true]})";
  REQUIRE(ocean::parse_json(copied, escaped));
  REQUIRE(ocean::parse_json_in_place(in_place, escaped, storage));
  CHECK(in_place == copied);
  CHECK(std::string(in_place["a"].GetString()) == "line\nbreak \"quoted\" \xc3\xa9");

  // Moved together, as plugins keep them: the strings still read the same.
  std::unique_ptr<char[]> moved_storage = std::move(storage);
  rapidjson::Document moved(std::move(in_place));
  CHECK(std::string(moved["a"].GetString()) == "line\nbreak \"quoted\" \xc3\xa9");

  CHECK_FALSE(ocean::parse_json_in_place(in_place, std::string_view("{\"a\":1}\0", 8), storage));
  CHECK_FALSE(ocean::parse_json_in_place(in_place, "{\"a\":", storage));
}
