// oceand_map_bench: entities/s of oceand's mapping engine (host/mapping, libjq) on one thread, over
// pull requests derived from the corpus payload, and the inputs for the same work done by the jq
// command line:
//
//   oceand_map_bench --mapping config/github/port-app-config.yaml --kind pull-request
//                    --payload pull_request__opened.payload.json --count 2000
//                    [--seconds 3] [--jq-program out.jq] [--jq-input out.jsonl]
//                    [--entities out.jsonl]
//
// --jq-program writes a jq program equivalent to the resource's selector and entity mappings,
// --jq-input the same raw results (one per line) the engine maps, --entities the engine's own
// entities, so the caller can check both produce the same thing before comparing their speed.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "bench_util.hpp"
#include "mapping/entity_mapper.hpp"
#include "mapping/port_app_config.hpp"

namespace {

std::string text(const rapidjson::Value& v) {
  rapidjson::StringBuffer b;
  rapidjson::Writer<rapidjson::StringBuffer> w(b);
  v.Accept(w);
  return {b.GetString(), b.GetSize()};
}

// The raw results the GitHub plugin hands the mapping for pull requests: the fetched pull
// request plus Ocean's `__repository` / `__organization`, here with distinct numbers and titles.
std::vector<std::string> pull_requests(const std::string& payload, size_t count) {
  rapidjson::Document d;
  d.Parse(payload.c_str());
  if (!d.IsObject() || !d.HasMember("pull_request")) throw std::runtime_error("not a PR payload");
  rapidjson::Document pr;
  pr.CopyFrom(d["pull_request"], pr.GetAllocator());
  auto& a = pr.GetAllocator();
  std::string full = d["repository"]["full_name"].GetString();
  std::string owner = full.substr(0, full.find('/')), name = full.substr(full.find('/') + 1);
  pr.RemoveMember("__repository");
  pr.RemoveMember("__organization");
  pr.AddMember("__repository", rapidjson::Value(name.c_str(), a), a);
  pr.AddMember("__organization", rapidjson::Value(owner.c_str(), a), a);
  std::vector<std::string> out;
  for (size_t i = 0; i < count; ++i) {
    pr["number"].SetInt64(static_cast<int64_t>(i + 1));
    pr["id"].SetInt64(static_cast<int64_t>(500000000 + i + 1));
    std::string title = "Bench pull request " + std::to_string(i + 1);
    pr["title"].SetString(title.c_str(), static_cast<rapidjson::SizeType>(title.size()), a);
    out.push_back(text(pr));
  }
  return out;
}

// A jq object construction for a mappings object: every leaf string is a jq expression.
std::string jq_object(const rapidjson::Value& node) {
  std::string out = "{";
  bool first = true;
  for (const auto& m : node.GetObject()) {
    if (!m.value.IsString() && !m.value.IsObject()) continue;
    if (!first) out += ", ";
    first = false;
    out += text(m.name) + ": ";
    out += m.value.IsString() ? "(" + std::string(m.value.GetString()) + ")" : jq_object(m.value);
  }
  return out + "}";
}

// select(<selector.query>) | {identifier: (...), ..., properties: {...}, relations: {...}}, with
// the empty sections oceand always writes.
std::string jq_program(const oceand::ResourceMapping& resource) {
  rapidjson::Document doc;
  doc.Parse(resource.config_json.c_str());
  std::string query = "true";
  if (doc.HasMember("selector") && doc["selector"].HasMember("query") &&
      doc["selector"]["query"].IsString())
    query = doc["selector"]["query"].GetString();
  rapidjson::Value& mappings = doc["port"]["entity"]["mappings"];
  auto& a = doc.GetAllocator();
  for (const char* section : {"properties", "relations"})
    if (!mappings.HasMember(section))
      mappings.AddMember(rapidjson::StringRef(section), rapidjson::Value(rapidjson::kObjectType),
                         a);
  return "select(" + query + ") | " + jq_object(mappings) + "\n";
}

}  // namespace

int main(int argc, char** argv) try {
  std::string mapping, kind = "pull-request", payload, jq_out, input_out, entities_out;
  size_t count = 2000;
  double seconds = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return bench::flag_value(argc, argv, i); };
    if (a == "--mapping")
      mapping = next();
    else if (a == "--kind")
      kind = next();
    else if (a == "--payload")
      payload = next();
    else if (a == "--count")
      count = std::stoul(next());
    else if (a == "--seconds")
      seconds = std::stod(next());
    else if (a == "--jq-program")
      jq_out = next();
    else if (a == "--jq-input")
      input_out = next();
    else if (a == "--entities")
      entities_out = next();
    else
      throw std::runtime_error("unknown argument " + a);
  }
  oceand::PortAppConfig config = oceand::load_port_app_config(mapping);
  auto resources = config.resources_of_kind(kind);
  if (resources.empty()) throw std::runtime_error("no resource of kind " + kind);
  const oceand::ResourceMapping& resource = *resources.front();
  std::vector<std::string> raws = pull_requests(bench::read_file(payload), count);

  if (!jq_out.empty()) std::ofstream(jq_out) << jq_program(resource);
  if (!input_out.empty()) {
    std::ofstream out(input_out);
    for (const auto& r : raws) out << r << "\n";
  }

  // One pass to compile the programs and check the output; then timed passes over all payloads,
  // each raw result mapped as the engine does it (one map call per handle_event result).
  size_t bytes = 0;
  {
    std::ofstream out;
    if (!entities_out.empty()) out.open(entities_out);
    for (const auto& r : raws) {
      bytes += r.size();
      auto result = oceand::EntityMapper::map(resource, oceand::RawResults{{r}, {}});
      if (result.upserts.size() != 1) throw std::runtime_error("a pull request did not map");
      if (out.is_open()) out << result.upserts.front().json << "\n";
    }
  }
  // The raw results as the plugin hands them over, built before the clock starts: copying 35 MB of
  // text into them is the plugin's delivery, not the mapping.
  std::vector<oceand::RawResults> delivered;
  for (const auto& r : raws) delivered.push_back(oceand::RawResults{{r}, {}});
  size_t entities = 0, passes = 0;
  int64_t start = bench::now_ns(), deadline = start + static_cast<int64_t>(seconds * 1e9);
  do {
    for (const auto& results : delivered)
      entities += oceand::EntityMapper::map(resource, results).upserts.size();
    ++passes;
  } while (bench::now_ns() < deadline);
  double elapsed = static_cast<double>(bench::now_ns() - start) / 1e9;
  printf("payloads=%zu avg_bytes=%zu passes=%zu entities=%zu seconds=%.3f entities_per_s=%.0f\n",
         raws.size(), bytes / raws.size(), passes, entities, elapsed,
         static_cast<double>(entities) / elapsed);
  return 0;
} catch (const std::exception& e) {
  std::cerr << "oceand_map_bench: " << e.what() << "\n";
  return 2;
}
