#include "processing/event_job.hpp"

namespace oceand {

EventJob::EventJob(EventPtr e) : event(std::move(e)) {
  abi_headers.reserve(event->headers.size());
  for (const auto& [k, v] : event->headers) abi_headers.push_back({to_ocean(k), to_ocean(v)});
}

EventJob::~EventJob() {
  release_plugin_state();
}

void EventJob::release_plugin_state() {
  for (auto& p : processors) p.instance.destroy();
  processors.clear();
  tasks.clear();
  cache.release();
}

ocean_event EventJob::abi_event(uint32_t attempt) {
  ocean_event e{};
  e.struct_size = sizeof e;
  e.id = event->id;
  e.integration = to_ocean(event->integration);
  e.route = to_ocean(event->route);
  auto payload = event->payload_json();
  e.payload = ocean_str{payload.data(), payload.size()};
  e.raw_body = to_ocean(event->body);
  e.headers = abi_headers.data();
  e.header_count = abi_headers.size();
  e.delivery_id = to_ocean(event->delivery_id);
  e.received_at_ms = event->received_at_ms;
  e.attempt = attempt;
  e.host_private = &cache;
  return e;
}

CallSite EventJob::call_site() const {
  CallSite site;
  site.event_id = event->id;
  site.integration = &event->integration;
  site.config = generation ? generation->config.get() : nullptr;
  return site;
}

unsigned EventJob::total_attempts() const {
  unsigned n = 0;
  for (const auto& t : tasks) n = std::max(n, t.attempts);
  return n;
}

}  // namespace oceand
