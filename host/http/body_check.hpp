#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace oceand {

// True when `text` is exactly one well-formed JSON object (whitespace around it allowed).
// `readable_after`: how many bytes after the text are readable memory (a string's spare capacity,
// see body_check_slack); with at least body_check_slack of them the text is checked where it is,
// without a copy.
bool is_json_object(std::string_view text, size_t readable_after = 0);

// The spare capacity a body's string should have for is_json_object to check it in place.
size_t body_check_slack();

// True when `text` is well-formed UTF-8 (RFC 3629: no overlong forms, surrogates or code points
// above U+10FFFF).
bool is_valid_utf8(std::string_view text);

// application/x-www-form-urlencoded decoding ('+' is a space). nullopt on a malformed escape.
std::optional<std::string> url_decode(std::string_view text);

// The decoded value of the `payload` field of a form body (GitHub's form content type), or nullopt
// when there is no such field.
std::optional<std::string> form_payload(std::string_view body);

}  // namespace oceand
