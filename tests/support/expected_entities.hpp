#pragma once

// What an integration test expects Port to end up with, written by hand, and the check that maps
// captured raw results with the integration's real mapping and compares. Kept apart from the
// capture so that a later check against the applied store can reuse the same expectations.

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "fakes/fake_server.hpp"
#include "mapping/entity_mapper.hpp"
#include "mapping/port_app_config.hpp"
#include "support/test_host.hpp"

namespace oceand::test {

struct ExpectedEntity {
  enum class Op { upsert, remove };
  Op op;
  std::string blueprint;
  std::string identifier;
  // Dotted paths into the entity ("title", "properties.status", "relations.repository") and the
  // expected value as JSON text.
  std::map<std::string, std::string> fields;
};

inline ExpectedEntity upsert(std::string blueprint, std::string identifier,
                             std::map<std::string, std::string> fields = {}) {
  return {ExpectedEntity::Op::upsert, std::move(blueprint), std::move(identifier),
          std::move(fields)};
}
inline ExpectedEntity removal(std::string blueprint, std::string identifier) {
  return {ExpectedEntity::Op::remove, std::move(blueprint), std::move(identifier), {}};
}

struct MappedEntities {
  std::vector<MappedEntity> upserts, deletions;
};

// Maps every captured raw result with the resource of its kind in `mapping`.
inline MappedEntities map_captured(const std::vector<CapturingSink::Entry>& entries,
                                   const PortAppConfig& mapping) {
  MappedEntities out;
  for (const auto& entry : entries) {
    for (const ResourceMapping* resource : mapping.resources_of_kind(entry.kind)) {
      RawResults raw{entry.updated, entry.deleted};
      MappingResult r = EntityMapper::map(*resource, raw);
      out.upserts.insert(out.upserts.end(), r.upserts.begin(), r.upserts.end());
      out.deletions.insert(out.deletions.end(), r.deletions.begin(), r.deletions.end());
    }
  }
  return out;
}

// What one step of a plugin test produced: the third party's API calls, the raw results the
// test host captured, and the entities the mapping makes of them.
struct Step {
  std::vector<FakeRequest> api_calls;
  std::vector<CapturingSink::Entry> results;
  MappedEntities entities;
};

// Reads a test host's captured results step by step, mapping each step's results with one mapping
// file (loaded once: the mapper compiles each expression once per mapping and thread).
class CaptureCursor {
 public:
  explicit CaptureCursor(std::string mapping_path) : mapping_path_(std::move(mapping_path)) {}
  // The results captured since the previous call, and their entities.
  void next(TestHost& host, Step& step) {
    auto all = host.sink().entries();
    step.results.assign(all.begin() + static_cast<long>(seen_), all.end());
    seen_ = all.size();
    if (!mapping_) mapping_ = std::make_unique<PortAppConfig>(load_port_app_config(mapping_path_));
    step.entities = map_captured(step.results, *mapping_);
  }

 private:
  std::string mapping_path_;
  size_t seen_ = 0;
  std::unique_ptr<PortAppConfig> mapping_;
};

// Events dropped by any of `processors` of `integration` for `reason`.
template <size_t N>
double dropped_by(TestHost& host, const std::string& integration,
                  const char* const (&processors)[N], const std::string& reason) {
  double n = 0;
  for (const char* p : processors)
    n += host.host().metrics().value(
        "oceand_events_dropped_total",
        {{"integration", integration}, {"processor", p}, {"reason", reason}});
  return n;
}

inline const rapidjson::Value* at_path(const rapidjson::Value& root, const std::string& path) {
  const rapidjson::Value* v = &root;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t dot = path.find('.', pos);
    if (dot == std::string::npos) dot = path.size();
    std::string key = path.substr(pos, dot - pos);
    if (!v->IsObject() || !v->HasMember(key.c_str())) return nullptr;
    v = &(*v)[key.c_str()];
    pos = dot + 1;
  }
  return v;
}

// The entity (JSON text: a mapped entity, or one stored in Port or the local store) has the
// expected field values.
inline void check_fields(const std::string& entity_json, const ExpectedEntity& want) {
  rapidjson::Document entity;
  entity.Parse(entity_json.c_str());
  REQUIRE(entity.IsObject());
  for (const auto& [path, value] : want.fields) {
    INFO("field " << path << " of " << entity_json);
    rapidjson::Document expected_value;
    expected_value.Parse(value.c_str());
    REQUIRE_FALSE(expected_value.HasParseError());
    const rapidjson::Value* actual = at_path(entity, path);
    REQUIRE(actual != nullptr);
    CHECK(*actual == expected_value);
  }
}

// The mapped entities are exactly `expected` (in any order), with the expected field values.
inline void check_entities(const MappedEntities& got, const std::vector<ExpectedEntity>& expected) {
  size_t upserts = 0, removals = 0;
  for (const auto& want : expected) {
    bool up = want.op == ExpectedEntity::Op::upsert;
    (up ? upserts : removals)++;
    const auto& pool = up ? got.upserts : got.deletions;
    const MappedEntity* found = nullptr;
    for (const auto& e : pool)
      if (e.blueprint == want.blueprint && e.identifier == want.identifier) found = &e;
    INFO(std::string(up ? "upsert " : "deletion ") << want.blueprint << "/" << want.identifier);
    REQUIRE(found != nullptr);
    check_fields(found->json, want);
  }
  CHECK(got.upserts.size() == upserts);
  CHECK(got.deletions.size() == removals);
}

// One payload of shared/corpora/<integration> and what it must become when signed right.
struct CorpusCase {
  std::string file;
  std::string fetch_path;  // the REST call expected, or "" when none
  std::string outcome;     // oceand_events_processed_total outcome with a right signature
  std::vector<ExpectedEntity> entities;
};

// Expected by hand from the payloads (octokit/webhooks examples) and config/github's mapping.
inline std::vector<CorpusCase> github_corpus_cases() {
  return {
      {"installation__created.payload.json", "", "unsupported", {}},
      {"ping__payload.json", "", "unsupported", {}},
      {"issues__opened.payload.json",
       "/repos/Codertocat/Hello-World/issues/1",
       "ok",
       {upsert("githubIssue", "Hello-World-1",
               {{"title", R"("Spelling error in the README file")"},
                {"properties.status", R"("open")"},
                {"properties.issueNumber", "1"},
                {"properties.creator", R"("Codertocat")"},
                {"properties.labels", R"(["bug"])"},
                {"properties.link", R"("https://github.com/Codertocat/Hello-World/issues/1")"},
                {"relations.repository", R"("Hello-World")"}})}},
      {"issues__deleted.payload.json", "", "ok", {removal("githubIssue", "Hello-World-1")}},
      {"pull_request__opened.payload.json",
       "/repos/Codertocat/Hello-World/pulls/2",
       "ok",
       {upsert("githubPullRequest", "Hello-World279147437",
               {{"title", R"("Update the README with new information.")"},
                {"properties.status", R"("open")"},
                {"properties.prNumber", "2"},
                {"properties.reviewers", R"(["octocat"])"},
                {"relations.repository", R"("Hello-World")"}})}},
      // Closed, and the default selector keeps only open pull requests: deleted, no fetch.
      {"pull_request__closed.payload.json",
       "",
       "ok",
       {removal("githubPullRequest", "Hello-World279147437")}},
      {"push__payload.json",
       "/repos/Codertocat/Hello-World",
       "ok",
       {upsert("githubRepository", "Hello-World",
               {{"properties.url", R"("https://github.com/Codertocat/Hello-World")"},
                {"properties.defaultBranch", R"("master")"}})}},
      {"repository__created.payload.json",
       "/repos/Octocoders/Hello-World",
       "ok",
       {upsert("githubRepository", "Hello-World",
               {{"properties.url", R"("https://github.com/Octocoders/Hello-World")"},
                {"properties.visibility", R"("public")"}})}},
  };
}

// Expected by hand from the payloads (mattermost-plugin-jira test data) and config/jira's mapping.
inline std::vector<CorpusCase> jira_corpus_cases() {
  return {
      {"mattermost__webhook-cloud-comment-created.json", "", "unsupported", {}},
      {"mattermost__webhook-issue-created.json",
       "/rest/api/3/issue/TES-41",
       "ok",
       {upsert("jiraIssue", "TES-41",
               {{"title", R"("Unit test summary")"},
                {"properties.url", R"("https://some-instance-test.atlassian.net/browse/TES-41")"},
                {"properties.status", R"("To Do")"},
                {"properties.issueType", R"("Story")"},
                {"properties.priority", R"("High")"},
                {"relations.project", R"("TES")"}})}},
      {"mattermost__webhook-issue-updated-edited.json",
       "/rest/api/3/issue/TES-41",
       "ok",
       {upsert("jiraIssue", "TES-41",
               {{"title", R"("Unit test summary 1")"}, {"relations.project", R"("TES")"}})}},
      {"mattermost__webhook-issue-deleted.json", "", "ok", {removal("jiraIssue", "IDT-19")}},
  };
}

}  // namespace oceand::test
