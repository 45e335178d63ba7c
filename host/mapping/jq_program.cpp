#include "mapping/jq_program.hpp"

#include <cmath>
#include <mutex>

#include "mapping/jq_compat.hpp"
#include "mapping/jq_guard.hpp"

namespace oceand {

namespace {
void collect_message(void* data, jv message) {
  auto* out = static_cast<std::string*>(data);
  if (jv_get_kind(message) == JV_KIND_STRING) {
    if (!out->empty()) out->append("; ");
    out->append(jv_string_value(message));
  }
  jv_free(message);
}

std::string invalid_message(jv invalid) {
  jv msg = jv_invalid_get_msg(invalid);
  std::string text;
  if (jv_get_kind(msg) == JV_KIND_STRING) {
    text = jv_string_value(msg);
  } else if (jv_get_kind(msg) != JV_KIND_NULL) {
    jv dumped = jv_dump_string(jv_copy(msg), 0);
    text = jv_string_value(dumped);
    jv_free(dumped);
  }
  jv_free(msg);
  return text;
}
}  // namespace

// Put before every program, on the expression's own first line (error positions stay right):
// `halt` would end the evaluation from inside, and a halt from the time bound while the program
// halts itself makes libjq assert; a mapping has no business ending oceand's evaluation anyway.
constexpr const char* kPrelude =
    "def halt: error(\"halt is not available in a mapping\"); "
    "def halt_error: error(\"halt_error is not available in a mapping\"); "
    "def halt_error($code): error(\"halt_error is not available in a mapping\"); ";

namespace {
std::mutex g_env_mutex;
std::string g_env_prelude = "def env: {}; {} as $ENV | ";
}  // namespace

void set_jq_environment(const std::string& json_object) {
  std::lock_guard lock(g_env_mutex);
  // Ocean's own way: `env` and `$ENV` are redefined ahead of the program.
  g_env_prelude = "def env: " + json_object + "; " + json_object + " as $ENV | ";
}

static std::string env_prelude() {
  std::lock_guard lock(g_env_mutex);
  return g_env_prelude;
}

JqProgram::JqProgram(const std::string& expression) : expression_(expression) {
  state_ = jq_init();
  if (!state_) throw JqCompileError("jq_init failed");
  // jq_init leaves these callbacks unset (garbage), and `input` or `debug` would call them.
  jq_set_input_cb(state_, nullptr, nullptr);
  jq_set_debug_cb(state_, nullptr, nullptr);
  jq_set_nomem_handler(state_, nullptr, nullptr);
  jq_set_error_cb(state_, &collect_message, &messages_);
  std::string source;
  try {
    source = jq18_source(expression);
  } catch (const JqCompatError& e) {
    jq_teardown(&state_);
    throw JqCompileError("jq expression '" + expression + "': " + e.what());
  }
  if (!jq_compile(state_, (kPrelude + jq18_prelude(source) + env_prelude() + source).c_str())) {
    std::string why = messages_.empty() ? "does not compile" : messages_;
    jq_teardown(&state_);
    throw JqCompileError("jq expression '" + expression + "': " + why);
  }
}

JqProgram::~JqProgram() {
  if (state_) jq_teardown(&state_);
}

namespace {
// Runs `jq` on `input` (consumed) under the evaluation bounds, handing each output to `take` until
// it returns false. False, with `error` set, on a jq error or a bound; the outputs taken before
// stay taken.
template <class Take>
bool evaluate(jq_state* jq, jv input, std::string& error, Take take) {
  JqEvaluation bounded(jq);
  jq_start(jq, input, 0);
  bool ok = true;
  for (;;) {
    jv result = jq_next(jq);
    if (jv_is_valid(result)) {
      if (take(result)) continue;
      break;
    }
    if (jv_invalid_has_msg(jv_copy(result))) {
      error = invalid_message(result);
      ok = false;
    } else {
      jv_free(result);  // no more output
    }
    break;
  }
  if (JqStop stop = bounded.end(); stop != JqStop::none) {
    error = jq_stop_message(stop);
    return false;
  }
  return ok;
}
}  // namespace

std::optional<jv> JqProgram::first(jv input, std::string& error) {
  std::optional<jv> got;
  const bool ok = evaluate(state_, input, error, [&](jv value) {
    got = value;
    return false;
  });
  if (!ok) {
    if (got) jv_free(*got);
    return std::nullopt;
  }
  return got ? *got : jv_null();  // null: no output
}

bool JqProgram::outputs(jv input, std::vector<jv>& out, std::string& error, size_t limit) {
  return evaluate(state_, input, error, [&](jv value) {
    out.push_back(value);
    return out.size() < limit;
  });
}

rapidjson::Value from_jv(jv v, rapidjson::Document::AllocatorType& a) {
  rapidjson::Value out;
  switch (jv_get_kind(v)) {
    case JV_KIND_TRUE:
      out.SetBool(true);
      break;
    case JV_KIND_FALSE:
      out.SetBool(false);
      break;
    case JV_KIND_NUMBER: {
      double d = jv_number_value(v);
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9007199254740992.0)
        out.SetInt64(static_cast<int64_t>(d));
      else if (std::isfinite(d))
        out.SetDouble(d);
      break;
    }
    case JV_KIND_STRING:
      out.SetString(jv_string_value(v),
                    static_cast<rapidjson::SizeType>(jv_string_length_bytes(jv_copy(v))), a);
      break;
    case JV_KIND_ARRAY: {
      out.SetArray();
      int n = jv_array_length(jv_copy(v));
      for (int i = 0; i < n; ++i) out.PushBack(from_jv(jv_array_get(jv_copy(v), i), a), a);
      break;
    }
    case JV_KIND_OBJECT: {
      out.SetObject();
      jv_object_foreach(v, key, value) {
        rapidjson::Value name(
            jv_string_value(key),
            static_cast<rapidjson::SizeType>(jv_string_length_bytes(jv_copy(key))), a);
        out.AddMember(name, from_jv(value, a), a);
        jv_free(key);
      }
      break;
    }
    default:
      break;  // null and invalid stay null
  }
  jv_free(v);
  return out;
}

}  // namespace oceand
