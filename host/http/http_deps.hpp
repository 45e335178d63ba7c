#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace oceand {

struct HostConfig;
class Metrics;
class PluginManager;
class EventQueue;
class DeadLetterStore;
class RateWindow;
class RecentFailures;
class RawSamples;
class EntityStore;
struct ReloadReport;

// What the HTTP layer may ask of the host, one struct per handler, filled by the composition root
// (app/host.cpp). Handlers receive these, never the host: the layer below app sees only what it
// uses, and a test can hand a handler a fake. Each member is called as the host's method of the
// same name was; it is called on HTTP threads, concurrently.

// The ingress (webhooks and direct routes).
struct IngressDeps {
  std::function<const HostConfig&()> config;
  std::function<Metrics&()> metrics;
  std::function<PluginManager&()> plugins;
  std::function<EventQueue&()> queue;
  std::function<bool()> accepting;  // false while shutting down: 503
};

// The status page on the admin listener.
struct StatusDeps {
  std::function<const HostConfig&()> config;
  std::function<Metrics&()> metrics;
  std::function<PluginManager&()> plugins;
  std::function<EventQueue&()> queue;
  std::function<DeadLetterStore&()> dead_letters;
  std::function<const RecentFailures&()> recent_failures;
  std::function<RateWindow&()> status_rates;
  std::function<uint16_t()> port;               // the main listener's (known once it listens)
  std::function<std::string()> unready_reason;  // empty when ready
  std::function<ReloadReport()> reload;
  std::function<ReloadReport()> last_reload;
};

// /health, /ready, /metrics and /admin/* (and the status page it serves).
struct AdminDeps : StatusDeps {
  std::function<bool()> ready;
  std::function<const RawSamples&()> raw_samples;
};

// /api/entities: the embedded catalog (none with the Port applier).
struct EntitiesDeps {
  std::function<const HostConfig&()> config;
  std::function<EntityStore*()> entity_store;
};

struct HttpDeps {
  IngressDeps ingress;
  AdminDeps admin;
  EntitiesDeps entities;
};

}  // namespace oceand
