#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace oceand {

// True when `text` is exactly one well-formed JSON object (whitespace around it allowed). Checks
// with a SAX reader, iteratively: no document is built, no recursion depth to exhaust.
bool is_json_object(std::string_view text);

// True when `text` is well-formed UTF-8 (RFC 3629: no overlong forms, surrogates or code points
// above U+10FFFF).
bool is_valid_utf8(std::string_view text);

// application/x-www-form-urlencoded decoding ('+' is a space). nullopt on a malformed escape.
std::optional<std::string> url_decode(std::string_view text);

// The decoded value of the `payload` field of a form body (GitHub's form content type), or nullopt
// when there is no such field.
std::optional<std::string> form_payload(std::string_view body);

}  // namespace oceand
