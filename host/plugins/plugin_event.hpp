#pragma once

#include <cstdint>
#include <vector>

#include "core/event.hpp"
#include "ocean/plugin_abi.h"
#include "plugins/host_api.hpp"

namespace oceand {

// A stored event as plugin hooks see it: what the ABI's ocean_event points into (the headers'
// views, the per-event cache slot), alive as long as the event's job. Only plugins/ builds the
// ocean_event itself (ProcessorInstance), so the layers above never touch an ABI struct.
class PluginEvent {
 public:
  explicit PluginEvent(const Event& event) : event_(event) {
    headers_.reserve(event.headers.size());
    for (const auto& [k, v] : event.headers) headers_.push_back({to_ocean(k), to_ocean(v)});
  }
  PluginEvent(const PluginEvent&) = delete;
  PluginEvent& operator=(const PluginEvent&) = delete;

  // The view for one hook call; `attempt` as ocean_event.attempt (0 for group_key).
  ocean_event view(uint32_t attempt) {
    ocean_event e{};
    e.struct_size = sizeof e;
    e.id = event_.id;
    e.integration = to_ocean(event_.integration);
    e.route = to_ocean(event_.route);
    auto payload = event_.payload_json();
    e.payload = ocean_str{payload.data(), payload.size()};
    e.raw_body = to_ocean(event_.body);
    e.headers = headers_.data();
    e.header_count = headers_.size();
    e.delivery_id = to_ocean(event_.delivery_id);
    e.received_at_ms = event_.received_at_ms;
    e.attempt = attempt;
    e.host_private = &cache_;
    return e;
  }
  // Frees what the plugin cached for the event (its job is done with plugins).
  void release_cache() { cache_.release(); }

 private:
  const Event& event_;
  std::vector<ocean_header> headers_;
  EventCacheSlot cache_;
};

// The event of one hook call: which event, and which attempt the hook is told it is.
struct HookEvent {
  PluginEvent& event;
  uint32_t attempt;
  ocean_event view() const { return event.view(attempt); }
};

}  // namespace oceand
