#include "port/port_applier.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "client/http_client.hpp"
#include "core/json_text.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/thread_name.hpp"

namespace oceand {

namespace {

const char* flag(bool b) {
  return b ? "true" : "false";
}

std::string excerpt(const std::string& body) {
  return body.size() > 300 ? body.substr(0, 300) + "..." : body;
}

std::string describe(const HttpResult& result) {
  if (result.status == 0) return result.timed_out ? "timed out" : "no answer: " + result.error;
  return "HTTP " + std::to_string(result.status) + " " + excerpt(result.body);
}

// Port's description of one refused entity: {"index", "identifier", "statusCode", "error",
// "message"}.
std::string entity_error(const rapidjson::Value& e) {
  std::string text;
  for (const char* key : {"statusCode", "error", "message"}) {
    auto m = e.FindMember(key);
    if (m == e.MemberEnd()) continue;
    if (!text.empty()) text += ' ';
    if (m->value.IsString())
      text += m->value.GetString();
    else if (m->value.IsNumber())
      text += std::to_string(m->value.GetInt64());
  }
  return text.empty() ? "refused" : text;
}

// Two writes of one entity in one batch, as Port's merge=true leaves it when both arrive in turn:
// `later`'s fields replace `earlier`'s, except `properties` and `relations`, which are merged key
// by key (later wins per key). Two resource blocks that fill different properties of one entity
// then both reach the catalog, as with Ocean. Either text unreadable: `later`.
std::string merged_entity(const std::string& earlier, const std::string& later) {
  rapidjson::Document a, b;
  a.Parse(earlier.data(), earlier.size());
  b.Parse(later.data(), later.size());
  if (a.HasParseError() || b.HasParseError() || !a.IsObject() || !b.IsObject()) return later;
  auto& alloc = a.GetAllocator();
  for (auto& member : b.GetObject()) {
    const std::string key(member.name.GetString(), member.name.GetStringLength());
    auto existing = a.FindMember(member.name);
    const bool keywise = (key == "properties" || key == "relations") && member.value.IsObject() &&
                         existing != a.MemberEnd() && existing->value.IsObject();
    if (keywise) {
      for (auto& field : member.value.GetObject()) {
        auto old = existing->value.FindMember(field.name);
        if (old != existing->value.MemberEnd())
          old->value.CopyFrom(field.value, alloc);
        else
          existing->value.AddMember(rapidjson::Value(field.name, alloc),
                                    rapidjson::Value(field.value, alloc), alloc);
      }
    } else if (existing != a.MemberEnd()) {
      existing->value.CopyFrom(member.value, alloc);
    } else {
      a.AddMember(rapidjson::Value(member.name, alloc), rapidjson::Value(member.value, alloc),
                  alloc);
    }
  }
  return json_text(a);
}

}  // namespace

struct PortApplier::Completion {
  std::atomic<size_t> remaining{0};
  std::mutex mutex;
  std::string error;
  ApplyDone done;

  void settle(const std::string& failure) {
    if (!failure.empty()) {
      std::lock_guard lock(mutex);
      if (error.empty()) error = failure;
    }
    if (remaining.fetch_sub(1) != 1) return;
    std::string e;
    {
      std::lock_guard lock(mutex);
      e = error;
    }
    done(e.empty() ? ApplyOutcome::applied() : ApplyOutcome::failed(e));
  }
};

PortApplier::PortApplier(PortClient& client, PortApplierSettings settings, Metrics& metrics)
    : client_(client), settings_(settings), metrics_(metrics) {
  int n = std::max(1, settings_.max_concurrent_requests);
  for (int i = 0; i < n; ++i)
    senders_.emplace_back([this] {
      name_this_thread("port-sender");
      send_loop();
    });
}

PortApplier::~PortApplier() {
  stop();
}

void PortApplier::stop() {
  size_t dropped = 0;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && senders_.empty()) return;
    stopping_ = true;
    for (const auto& [_, b] : open_) dropped += b->items.size();
    for (const auto& b : ready_) dropped += b->items.size();
    for (const auto& b : retries_) dropped += b->items.size();
  }
  idle_.notify_all();
  timer_.notify_all();
  for (auto& t : senders_)
    if (t.joinable()) t.join();
  senders_.clear();
  if (dropped > 0) {
    OCEAND_LOG_WARN("port")
        << dropped << " entity change(s) not sent at shutdown: their events stay unfinished";
  }
}

void PortApplier::apply(EntityChanges changes, ApplyDone done) {
  const size_t total = changes.upserts.size() + changes.deletions.size();
  if (total == 0) {
    done(ApplyOutcome::applied());
    return;
  }
  auto completion = std::make_shared<Completion>();
  completion->remaining = total;
  completion->done = std::move(done);
  std::vector<BatchPtr> closed;
  std::lock_guard lock(mutex_);
  if (stopping_) return;  // the event stays unfinished; see Applier
  for (const auto& e : changes.upserts) add(Batch::Op::upsert, e, changes, completion, closed);
  for (const auto& e : changes.deletions) add(Batch::Op::remove, e, changes, completion, closed);
  for (auto& b : closed) {
    ready_.push_back(std::move(b));
    wake_for_ready();
  }
}

void PortApplier::add(Batch::Op op, const MappedEntity& entity, const EntityChanges& changes,
                      const CompletionPtr& completion, std::vector<BatchPtr>& closed) {
  const ApplyOptions& options = changes.options;
  std::string key = std::string(op == Batch::Op::upsert ? "u" : "d") + '\n' + entity.blueprint +
                    '\n' + flag(options.merge) + flag(options.create_missing_related) +
                    flag(options.delete_dependents) + '\n' + changes.user_agent;
  const size_t size =
      op == Batch::Op::upsert ? entity.json.size() + 1 : entity.identifier.size() + 3;
  const size_t max_items =
      op == Batch::Op::upsert ? settings_.batch_max_entities : settings_.delete_batch_max;
  auto it = open_.find(key);
  if (it != open_.end()) {
    Batch& b = *it->second;
    auto known = b.index.find(entity.identifier);
    if (known != b.index.end()) {
      Item& item = b.items[known->second];
      if (op == Batch::Op::upsert) {
        // With merge (enableMergeEntity, the default) Port would merge the two writes: so do we.
        // Without it Port would replace the entity: the last write wins.
        std::string json = options.merge ? merged_entity(item.json, entity.json) : entity.json;
        b.bytes = b.bytes - item.json.size() + json.size();
        item.json = std::move(json);
      }
      item.waiters.push_back(completion);
      return;
    }
    if (b.bytes + size > settings_.batch_max_bytes) {
      closed.push_back(std::move(it->second));
      open_.erase(it);
      it = open_.end();
    }
  }
  if (it == open_.end()) {
    auto b = std::make_unique<Batch>();
    b->op = op;
    b->blueprint = entity.blueprint;
    b->user_agent = changes.user_agent;
    b->options = options;
    b->flush_at = Clock::now() + settings_.linger;
    wake_for(b->flush_at);
    it = open_.emplace(key, std::move(b)).first;
  }
  Batch& b = *it->second;
  b.index[entity.identifier] = b.items.size();
  b.items.push_back(
      Item{entity.identifier, op == Batch::Op::upsert ? entity.json : std::string(), {completion}});
  b.bytes += size;
  if (b.items.size() >= max_items || b.bytes >= settings_.batch_max_bytes) {
    closed.push_back(std::move(it->second));
    open_.erase(it);
  }
}

// Moves the retries and open batches that are due into ready_; returns when the next one is due.
PortApplier::Clock::time_point PortApplier::promote_due() {
  auto now = Clock::now();
  auto next = Clock::time_point::max();
  for (auto it = retries_.begin(); it != retries_.end();) {
    if ((*it)->due <= now) {
      ready_.push_back(std::move(*it));
      it = retries_.erase(it);
    } else {
      next = std::min(next, (*it)->due);
      ++it;
    }
  }
  for (auto it = open_.begin(); it != open_.end();) {
    if (it->second->flush_at <= now) {
      ready_.push_back(std::move(it->second));
      it = open_.erase(it);
    } else {
      next = std::min(next, it->second->flush_at);
      ++it;
    }
  }
  return next;
}

// At most one sender sleeps until the next batch is due (the timekeeper); the others sleep until a
// batch is ready. Waking every sender for every change cost several thread switches per event.
PortApplier::BatchPtr PortApplier::take() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    auto next = promote_due();
    if (!ready_.empty()) {
      BatchPtr b = std::move(ready_.front());
      ready_.pop_front();
      // What is left needs a sender, or a timekeeper now that this one goes sending.
      if (!ready_.empty())
        wake_for_ready();
      else if (next != Clock::time_point::max() && !timekeeper_)
        idle_.notify_one();
      return b;
    }
    if (next == Clock::time_point::max() || timekeeper_) {
      ++idle_senders_;
      idle_.wait(lock);
      --idle_senders_;
      continue;
    }
    timekeeper_ = true;
    timekeeper_until_ = next;
    timer_.wait_until(lock, next);
    timekeeper_ = false;
    timekeeper_until_ = Clock::time_point::max();
  }
  return nullptr;
}

// Called under mutex_ after a batch went into ready_: an idle sender takes it, or else the
// timekeeper (with one sender, or all others busy, nobody else would until the timekeeper's time
// comes).
void PortApplier::wake_for_ready() {
  if (idle_senders_ > 0)
    idle_.notify_one();
  else if (timekeeper_)
    timer_.notify_one();
}

// Called under mutex_ after a batch became due at `due`: a sleeping timekeeper is woken only when
// the batch is due before the time it waits for; without a timekeeper an idle sender becomes one.
void PortApplier::wake_for(Clock::time_point due) {
  if (!timekeeper_)
    idle_.notify_one();
  else if (due < timekeeper_until_)
    timer_.notify_one();
}

void PortApplier::send_loop() {
  while (BatchPtr batch = take()) {
    try {
      send(std::move(batch));
    } catch (const std::exception& e) {
      OCEAND_LOG_ERROR("port") << "unexpected error while applying: " << e.what();
    }
  }
}

void PortApplier::send(BatchPtr batch) {
  ++batch->attempts;
  if (batch->single)
    send_single(std::move(batch));
  else if (batch->op == Batch::Op::upsert)
    send_upserts(std::move(batch));
  else
    send_deletes(std::move(batch));
}

void PortApplier::settle(Item& item, const std::string& error) {
  metrics_.add("oceand_port_entities_total", {{"outcome", error.empty() ? "applied" : "failed"}});
  for (auto& w : item.waiters) w->settle(error);
  item.waiters.clear();
}

void PortApplier::fail_all(Batch& batch, const std::string& error) {
  OCEAND_LOG_WARN("port") << (batch.op == Batch::Op::upsert ? "upsert" : "delete") << " of "
                          << batch.items.size() << " entit"
                          << (batch.items.size() == 1 ? "y" : "ies") << " of blueprint "
                          << batch.blueprint << " failed: " << error;
  for (auto& item : batch.items) settle(item, error);
}

// What Ocean retries on Port (408, 429, 502-504, no answer), and 500 besides: every write is an
// idempotent upsert or deletion, and a dead letter for a passing Port fault helps no one. A 401 is
// answered by the client itself, with a fresh token and one more try (as Ocean's token transport
// does); credentials Port refuses fail at once.
static bool port_retryable(const HttpResult& r) {
  return r.status == 0 || r.status == 408 || r.status == 429 || r.status >= 500;
}

void PortApplier::retry_or_fail(BatchPtr batch, const HttpResult& result, const char* what) {
  if (!port_retryable(result) && batch->items.size() > 1) {
    // Port refused the request as a whole (a 422 for one entity with dependents, say): each
    // entity is tried on its own, so that only the events whose entities Port refuses fail.
    OCEAND_LOG_INFO("port") << what << " of " << batch->items.size() << " entities of blueprint "
                            << batch->blueprint << " refused (" << describe(result)
                            << "): trying them one by one";
    split(std::move(batch));
    return;
  }
  if (!port_retryable(result) || batch->attempts > settings_.max_retries) {
    std::string error = std::string("Port ") + what + " of blueprint " + batch->blueprint +
                        " failed: " + describe(result);
    if (port_retryable(result))
      error += " (after " + std::to_string(batch->attempts) + " attempts)";
    fail_all(*batch, error);
    return;
  }
  double delay = settings_.initial_retry_delay_seconds * std::pow(2.0, batch->attempts - 1);
  delay = std::min(delay, settings_.max_retry_delay_seconds);
  // Retry-After, or else Port's x-ratelimit-reset, as Ocean reads them.
  const std::string after = result.header("retry-after");
  delay = std::max(delay,
                   parse_retry_after(after.empty() ? result.header("x-ratelimit-reset") : after));
  OCEAND_LOG_INFO("port") << what << " of " << batch->items.size() << " entit"
                          << (batch->items.size() == 1 ? "y" : "ies") << " of blueprint "
                          << batch->blueprint << ": " << describe(result) << "; retry "
                          << batch->attempts << "/" << settings_.max_retries << " in " << delay
                          << " s";
  metrics_.add("oceand_port_retries_total", {{"operation", what}});
  batch->due = Clock::now() +
               std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(delay));
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  wake_for(batch->due);
  retries_.push_back(std::move(batch));
}

void PortApplier::send_upserts(BatchPtr batch) {
  std::string body = "{\"entities\":[";
  body.reserve(batch->bytes + 16);
  for (size_t i = 0; i < batch->items.size(); ++i) {
    if (i) body += ',';
    body += batch->items[i].json;
  }
  body += "]}";
  std::string path =
      "/v1/blueprints/" + encode_path_segment(batch->blueprint) +
      "/entities/bulk?upsert=true&merge=" + flag(batch->options.merge) +
      "&create_missing_related_entities=" + flag(batch->options.create_missing_related);
  HttpResult result = client_.send("POST", path, body, "bulk_upsert", batch->user_agent);

  if (result.status == 413 && batch->items.size() > 1) {
    OCEAND_LOG_INFO("port") << "Port refused a bulk upsert of " << batch->items.size()
                            << " entities as too large (413): sending them one by one";
    split(std::move(batch));
    return;
  }
  if (result.status < 200 || result.status >= 300) {
    retry_or_fail(std::move(batch), result, "bulk upsert");
    return;
  }
  rapidjson::Document doc;
  doc.Parse(result.body.data(), result.body.size());
  const rapidjson::Value* entities = nullptr;
  const rapidjson::Value* errors = nullptr;
  if (!doc.HasParseError() && doc.IsObject()) {
    auto e = doc.FindMember("entities");
    if (e != doc.MemberEnd() && e->value.IsArray()) entities = &e->value;
    auto r = doc.FindMember("errors");
    if (r != doc.MemberEnd() && r->value.IsArray()) errors = &r->value;
  }
  if (!entities && !errors) {  // nothing itemised: the request as a whole succeeded
    for (auto& item : batch->items) settle(item, "");
    return;
  }
  std::vector<std::string> outcome(batch->items.size(), "Port did not report this entity");
  auto index_of = [&](const rapidjson::Value& v) -> long {
    if (!v.IsObject()) return -1;
    auto i = v.FindMember("index");
    if (i != v.MemberEnd() && i->value.IsInt()) return i->value.GetInt();
    auto id = v.FindMember("identifier");
    if (id != v.MemberEnd() && id->value.IsString()) {
      auto known = batch->index.find(id->value.GetString());
      if (known != batch->index.end()) return static_cast<long>(known->second);
    }
    return -1;
  };
  if (entities)
    for (const auto& v : entities->GetArray()) {
      long i = index_of(v);
      if (i >= 0 && static_cast<size_t>(i) < outcome.size()) outcome[i].clear();
    }
  if (errors)
    for (const auto& v : errors->GetArray()) {
      long i = index_of(v);
      if (i >= 0 && static_cast<size_t>(i) < outcome.size())
        outcome[i] = "Port refused entity " + batch->blueprint + "/" + batch->items[i].identifier +
                     ": " + entity_error(v);
    }
  for (size_t i = 0; i < batch->items.size(); ++i) {
    if (!outcome[i].empty()) {
      OCEAND_LOG_WARN("port") << outcome[i];
    }
    settle(batch->items[i], outcome[i]);
  }
}

// One request per entity of `batch`, each with its own retries: upserts through the single-entity
// endpoint, deletions as bulk deletions of one.
void PortApplier::split(BatchPtr batch) {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  for (auto& item : batch->items) {
    auto one = std::make_unique<Batch>();
    one->op = batch->op;
    one->blueprint = batch->blueprint;
    one->user_agent = batch->user_agent;
    one->options = batch->options;
    one->single = batch->op == Batch::Op::upsert;
    one->bytes = item.json.size();
    one->index[item.identifier] = 0;
    one->items.push_back(std::move(item));
    ready_.push_back(std::move(one));
  }
  idle_.notify_all();
  timer_.notify_all();
}

void PortApplier::send_single(BatchPtr batch) {
  Item& item = batch->items.front();
  std::string path =
      "/v1/blueprints/" + encode_path_segment(batch->blueprint) +
      "/entities?upsert=true&merge=" + flag(batch->options.merge) +
      "&create_missing_related_entities=" + flag(batch->options.create_missing_related);
  HttpResult result = client_.send("POST", path, item.json, "upsert", batch->user_agent);
  if (result.status >= 200 && result.status < 300) {
    settle(item, "");
    return;
  }
  retry_or_fail(std::move(batch), result, "upsert");
}

// The $datasource rules of an integration's entities, from its User-Agent
// "port-ocean/<type>/<version>/<identifier>/exporter" (as Ocean searches them); none without one.
static std::string datasource_rules(const std::string& user_agent) {
  std::vector<std::string> parts;
  for (size_t at = 0, next; at <= user_agent.size(); at = next + 1) {
    next = user_agent.find('/', at);
    if (next == std::string::npos) next = user_agent.size();
    parts.push_back(user_agent.substr(at, next - at));
  }
  if (parts.size() != 5 || parts[0] != "port-ocean") return {};
  return ",{\"property\":\"$datasource\",\"operator\":\"contains\",\"value\":" +
         json_string("port-ocean/" + parts[1] + "/") +
         "},{\"property\":\"$datasource\",\"operator\":\"contains\",\"value\":" +
         json_string("/" + parts[3] + "/exporter") + "}";
}

// Which of the batch's identifiers exist in Port as this integration's entities (Ocean deletes a
// live event's entity only then: an identifier another exporter owns is not ours to delete).
// False when Port did not answer the search (the batch is retried).
bool PortApplier::owned(const Batch& batch, std::set<std::string>& found, HttpResult& failure) {
  const std::string datasource = datasource_rules(batch.user_agent);
  if (datasource.empty()) {
    for (const auto& item : batch.items) found.insert(item.identifier);
    return true;
  }
  std::string ids = "[";
  for (size_t i = 0; i < batch.items.size(); ++i)
    ids += (i ? "," : "") + json_string(batch.items[i].identifier);
  ids += "]";
  const std::string query =
      "{\"combinator\":\"and\",\"rules\":[{\"property\":\"$blueprint\",\"operator\":\"=\","
      "\"value\":" +
      json_string(batch.blueprint) +
      "},{\"property\":\"$identifier\",\"operator\":\"in\",\"value\":" + ids + "}" + datasource +
      "]}";
  HttpResult result =
      client_.send("POST",
                   "/v1/entities/search?exclude_calculated_properties=true&include=blueprint"
                   "&include=identifier",
                   query, "search", batch.user_agent);
  if (result.status < 200 || result.status >= 300) {
    failure = std::move(result);
    return false;
  }
  rapidjson::Document doc;
  doc.Parse(result.body.data(), result.body.size());
  auto entities = doc.IsObject() ? doc.FindMember("entities") : rapidjson::Value::MemberIterator();
  if (!doc.IsObject() || entities == doc.MemberEnd() || !entities->value.IsArray()) {
    failure = std::move(result);
    failure.status = 502;  // an answer we cannot read: worth a retry
    return false;
  }
  for (const auto& e : entities->value.GetArray())
    if (e.IsObject() && e.HasMember("identifier") && e["identifier"].IsString())
      found.insert(e["identifier"].GetString());
  return true;
}

void PortApplier::send_deletes(BatchPtr batch) {
  std::set<std::string> found;
  HttpResult failure;
  if (!owned(*batch, found, failure)) {
    retry_or_fail(std::move(batch), failure, "search before delete");
    return;
  }
  // Absent, or another exporter's: nothing of ours to delete, which is success.
  std::vector<Item> ours;
  for (auto& item : batch->items) {
    if (found.count(item.identifier)) {
      ours.push_back(std::move(item));
    } else {
      OCEAND_LOG_DEBUG("port") << "deletion of " << batch->blueprint << "/" << item.identifier
                               << " skipped: not in Port as this integration's entity";
      settle(item, "");
    }
  }
  batch->items = std::move(ours);
  batch->index.clear();
  for (size_t i = 0; i < batch->items.size(); ++i) batch->index[batch->items[i].identifier] = i;
  if (batch->items.empty()) return;
  std::string body = "{\"entities\":[";
  for (size_t i = 0; i < batch->items.size(); ++i) {
    if (i) body += ',';
    body += json_string(batch->items[i].identifier);
  }
  body += "]}";
  std::string path =
      "/v1/blueprints/" + encode_path_segment(batch->blueprint) +
      "/bulk/entities/delete?delete_dependents=" + flag(batch->options.delete_dependents);
  HttpResult result = client_.send("POST", path, body, "bulk_delete", batch->user_agent);
  // Deleting what is already gone succeeds: that is what makes replays and at-least-once safe.
  if (result.status == 404 || (result.status >= 200 && result.status < 300)) {
    for (auto& item : batch->items) settle(item, "");
    return;
  }
  retry_or_fail(std::move(batch), result, "bulk delete");
}

}  // namespace oceand
