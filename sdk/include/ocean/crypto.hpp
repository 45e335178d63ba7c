// oceand C++ SDK — signatures: HMAC-SHA256 (GitHub, Jira), Standard Webhooks, hex and base64,
// constant-time comparison. Needs OpenSSL's libcrypto.
#pragma once

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace ocean {

// ----------------------------------------------------------------------------------------------
// Signatures
// ----------------------------------------------------------------------------------------------

inline std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len))
    return {};
  return std::string(reinterpret_cast<const char*>(mac), len);
}

// The SDK's one hex writer: two digits for `byte`, lower-case unless `upper`.
inline void append_hex(std::string& out, unsigned char byte, bool upper = false) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  out.push_back(digits[byte >> 4]);
  out.push_back(digits[byte & 15]);
}

inline std::string to_hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) append_hex(out, c);
  return out;
}

// Percent-encodes one URL path segment (RFC 3986: all but letters, digits and -._~), so that a
// name taken from a payload cannot reach another path with a '/' or '?'.
inline std::string path_segment(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      append_hex(out, c, true);
    }
  }
  return out;
}

inline std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  return to_hex(hmac_sha256(key, data));
}

// Compares in time that depends only on the lengths.
inline bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// True when `signature` is the hex HMAC-SHA256 of `body` under `secret`. Accepts an optional
// "sha256=" prefix (GitHub's X-Hub-Signature-256 format) and upper-case hex.
inline bool verify_hmac_sha256(std::string_view secret, std::string_view body,
                               std::string_view signature) {
  constexpr std::string_view prefix = "sha256=";
  if (signature.substr(0, prefix.size()) == prefix) signature.remove_prefix(prefix.size());
  std::string given(signature);
  for (auto& c : given) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return constant_time_equal(hmac_sha256_hex(secret, body), given);
}

inline std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

inline std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(3 * text.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

// Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature: "v1,<base64>" entries
// separated by spaces). `secret` is "whsec_<base64 key>" or the base64 key itself. The timestamp
// must be within `tolerance_seconds` of `now_unix`.
inline bool verify_standard_webhook(std::string_view secret, std::string_view webhook_id,
                                    std::string_view webhook_timestamp, std::string_view body,
                                    std::string_view signature_header, long long now_unix,
                                    long long tolerance_seconds = 300) {
  constexpr std::string_view prefix = "whsec_";
  if (secret.substr(0, prefix.size()) == prefix) secret.remove_prefix(prefix.size());
  auto key = base64_decode(secret);
  if (!key || webhook_timestamp.empty() || webhook_timestamp.size() > 18) return false;
  long long ts = 0;
  for (char c : webhook_timestamp) {
    if (c < '0' || c > '9') return false;
    ts = ts * 10 + (c - '0');
  }
  if (ts > now_unix + tolerance_seconds || ts < now_unix - tolerance_seconds) return false;
  std::string content;
  content.reserve(webhook_id.size() + webhook_timestamp.size() + body.size() + 2);
  content.append(webhook_id).append(".").append(webhook_timestamp).append(".").append(body);
  const std::string expected = base64_encode(hmac_sha256(*key, content));
  bool ok = false;
  size_t pos = 0;
  while (pos < signature_header.size()) {
    size_t end = signature_header.find(' ', pos);
    if (end == std::string_view::npos) end = signature_header.size();
    std::string_view entry = signature_header.substr(pos, end - pos);
    if (entry.substr(0, 3) == "v1,") ok = constant_time_equal(entry.substr(3), expected) || ok;
    pos = end + 1;
  }
  return ok;
}

}  // namespace ocean
