// Evaluates jq expressions the way oceand's mappings do (libjq 1.6 with the jq 1.8 layer), for
// tests/jq/oracle.mjs to compare with jq 1.8.1. Reads one JSON object per line on stdin,
// {"expr": "...", "input": <json>} or {"expr": "...", "input_text": "<json text>"}, and writes one
// per line: {"outputs": [...]} or
// {"error": "...", "compile": true|false}.
#include <rapidjson/document.h>

#include <iostream>
#include <string>

#include "core/json_text.hpp"
#include "mapping/jq_program.hpp"

using namespace oceand;

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    rapidjson::Document req;
    req.Parse(line.data(), line.size());
    rapidjson::Document res;
    res.SetObject();
    auto& a = res.GetAllocator();
    if (req.HasParseError() || !req.IsObject() || !req.HasMember("expr") ||
        !req["expr"].IsString()) {
      res.AddMember("error", "bad request line", a);
      std::cout << json_text(res) << "\n" << std::flush;
      continue;
    }
    // input_text: the input as written (1.0, 1E+2 and big integers keep their text).
    std::string input = req.HasMember("input_text") && req["input_text"].IsString()
                            ? req["input_text"].GetString()
                        : req.HasMember("input") ? json_text(req["input"])
                                                 : "null";
    try {
      JqProgram program(req["expr"].GetString());
      std::vector<jv> outs;
      std::string error;
      bool ok = program.outputs(jv_parse(input.c_str()), outs, error);
      rapidjson::Value list(rapidjson::kArrayType);
      for (jv o : outs) list.PushBack(from_jv(o, a), a);
      res.AddMember("outputs", list, a);
      if (!ok) {
        res.AddMember("error", rapidjson::Value(error.c_str(), a), a);
        res.AddMember("compile", false, a);
      }
    } catch (const JqCompileError& e) {
      res.AddMember("error", rapidjson::Value(e.what(), a), a);
      res.AddMember("compile", true, a);
    }
    std::cout << json_text(res) << "\n" << std::flush;
  }
  return 0;
}
