#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

// libjq 1.6 headers have no extern "C" of their own.
extern "C" {
#include <jq.h>
#include <jv.h>
}
#include <rapidjson/document.h>

namespace oceand {

// What `env` and `$ENV` give a mapping: a JSON object (Ocean's
// allow_environment_variables_jq_access: the environment, or {}). Set before mappings compile;
// programs compiled earlier keep what they had. Until set: {}.
void set_jq_environment(const std::string& json_object);

class JqCompileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One compiled jq expression. A jq_state is not thread-safe and never moves between threads: make
// one JqProgram per thread (see EntityMapper) and reuse it.
class JqProgram {
 public:
  explicit JqProgram(const std::string& expression);  // throws JqCompileError
  ~JqProgram();
  JqProgram(const JqProgram&) = delete;
  JqProgram& operator=(const JqProgram&) = delete;

  // Runs on `input` (consumed) and returns the first output, or jv_null() when there is none.
  // On a jq error returns nullopt and sets `error`.
  std::optional<jv> first(jv input, std::string& error);
  // Every output on `input` (consumed), at most `limit`; on a jq error returns false and sets
  // `error`, keeping the outputs before it. Under the same bounds as first().
  bool outputs(jv input, std::vector<jv>& out, std::string& error, size_t limit = 1000);
  const std::string& expression() const { return expression_; }

 private:
  jq_state* state_ = nullptr;
  std::string expression_;
  std::string messages_;
};

// jq's output as RapidJSON, without going through text. Consumes `value`.
rapidjson::Value from_jv(jv value, rapidjson::Document::AllocatorType& allocator);

}  // namespace oceand
