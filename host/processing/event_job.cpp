#include "processing/event_job.hpp"

namespace oceand {

EventJob::EventJob(EventPtr e) : event(std::move(e)), plugin_event(*event) {}

EventJob::~EventJob() {
  release_plugin_state();
}

void EventJob::release_plugin_state() {
  for (auto& p : processors) p.instance.destroy();
  processors.clear();
  tasks.clear();
  plugin_event.release_cache();
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
