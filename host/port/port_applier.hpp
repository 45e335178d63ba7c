#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "port/applier.hpp"
#include "port/port_client.hpp"

namespace oceand {

class Metrics;
struct HttpResult;

struct PortApplierSettings {
  size_t batch_max_entities = 20;       // upsert_entities_batch_max_length (Port's bulk limit)
  size_t batch_max_bytes = 1 << 20;     // upsert_entities_batch_max_size_in_bytes
  size_t delete_batch_max = 100;        // delete_entities_max_batch_size, at most Port's 100
  std::chrono::milliseconds linger{5};  // how long a batch waits for company before it is sent
  int max_concurrent_requests = 8;
  unsigned max_retries = 8;
  double initial_retry_delay_seconds = 0.2;
  double max_retry_delay_seconds = 10;
};

// `port.applier: port`. Upserts from concurrent events are gathered per blueprint and options into
// bulk requests (two writes of an identifier within a batch are merged as Port merges them, or the
// last wins without merge) and sent by a few sender threads; deletions likewise. 408, 429, 5xx and
// timeouts are retried with backoff, at least as late as Retry-After or x-ratelimit-reset says; a
// batch Port refuses as a whole (413, 422, ...) is split into one request per entity; Port's
// per-entity errors fail only the events whose entities they name.
class PortApplier final : public Applier {
 public:
  PortApplier(PortClient& client, PortApplierSettings settings, Metrics& metrics);
  ~PortApplier() override;

  void apply(EntityChanges changes, ApplyDone done) override;
  void stop() override;
  std::string name() const override { return "port"; }

 private:
  struct Completion;
  using CompletionPtr = std::shared_ptr<Completion>;
  using Clock = std::chrono::steady_clock;

  struct Item {
    std::string identifier;
    std::string json;  // the entity (upserts); unused for deletions
    std::vector<CompletionPtr> waiters;
  };
  struct Batch {
    enum class Op { upsert, remove } op = Op::upsert;
    std::string blueprint;
    std::string user_agent;
    ApplyOptions options;
    std::vector<Item> items;
    std::unordered_map<std::string, size_t> index;  // identifier -> position in items
    size_t bytes = 0;
    bool single = false;  // one entity per request, after a 413
    unsigned attempts = 0;
    Clock::time_point flush_at{};
    Clock::time_point due{};
  };
  using BatchPtr = std::unique_ptr<Batch>;

  void add(Batch::Op op, const MappedEntity& entity, const EntityChanges& changes,
           const CompletionPtr& completion, std::vector<BatchPtr>& closed);
  BatchPtr take();
  Clock::time_point promote_due();
  void wake_for(Clock::time_point due);
  void wake_for_ready();
  void send_loop();
  void send(BatchPtr batch);
  void send_upserts(BatchPtr batch);
  void send_single(BatchPtr batch);
  void split(BatchPtr batch);
  void send_deletes(BatchPtr batch);
  bool owned(const Batch& batch, std::set<std::string>& found, HttpResult& failure);
  void retry_or_fail(BatchPtr batch, const HttpResult& result, const char* what);
  void fail_all(Batch& batch, const std::string& error);
  void settle(Item& item, const std::string& error);

  PortClient& client_;
  const PortApplierSettings settings_;
  Metrics& metrics_;

  std::mutex mutex_;
  std::condition_variable idle_;   // senders waiting for a ready batch
  std::condition_variable timer_;  // the timekeeper, waiting until timekeeper_until_
  int idle_senders_ = 0;
  bool timekeeper_ = false;
  Clock::time_point timekeeper_until_ = Clock::time_point::max();
  std::map<std::string, BatchPtr> open_;  // gathering, by op + blueprint + options
  std::deque<BatchPtr> ready_;            // full, or split out for single requests
  std::vector<BatchPtr> retries_;         // waiting for their due time
  bool stopping_ = false;
  std::vector<std::thread> senders_;
};

}  // namespace oceand
