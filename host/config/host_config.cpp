#include "config/host_config.hpp"
#include "config/yaml_json.hpp"
#include "core/text.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

extern char** environ;

namespace oceand {

namespace {

constexpr const char* kEnvPrefix = "OCEAN__";

std::vector<std::string> split_env_path(const std::string& name) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (true) {
    size_t next = name.find("__", pos);
    parts.push_back(
        lower(name.substr(pos, next == std::string::npos ? std::string::npos : next - pos)));
    if (next == std::string::npos) break;
    pos = next + 2;
  }
  return parts;
}

// The paths whose value is a section (a mapping) rather than one setting: the top-level sections,
// one integration, and an integration's plugin config.
bool is_section(const std::vector<std::string>& path) {
  static const char* const kSections[] = {"server", "plugins", "queue",        "port",
                                          "admin",  "mapping", "integrations", "integration"};
  if (path.size() == 1)
    return std::any_of(std::begin(kSections), std::end(kSections),
                       [&](const char* s) { return path[0] == s; });
  if (path[0] == "integration") return path.size() == 2 && path[1] == "config";  // Ocean's
  if (path[0] != "integrations") return false;
  return path.size() == 2 || (path.size() == 3 && path[2] == "config");
}

// Applies OCEAN__A__B=value as a.b = value. A setting's value arrives verbatim, whatever its first
// character ({, [, *, &, !, #, quotes, null, ~, yes): a secret such as "{x}" must never be read as
// YAML and silently dropped. Only a whole section may be given as a YAML/JSON flow mapping
// (OCEAN__INTEGRATIONS__GITHUB__CONFIG={"token": "..."}), as Ocean's settings accept JSON.
// Where each setting given in the environment came from, by dotted path ("server.port" ->
// "OCEAN__SERVER__PORT"), so that a refusal can name the variable to fix.
using EnvSources = std::map<std::string, std::string>;

void apply_environment(YAML::Node& root, const std::vector<std::string>& environment,
                       std::vector<std::string>& problems, EnvSources& sources) {
  for (const auto& raw_entry : environment) {
    // Ocean reads its variables in any case (OCEAN__Integration__Type) and its log level from
    // APPLICATION__LOG_LEVEL.
    std::string entry = raw_entry;
    const std::string upper_name = upper(entry.substr(0, entry.find('=')));
    if (upper_name == "APPLICATION__LOG_LEVEL")
      entry = "OCEAN__LOG_LEVEL" + entry.substr(upper_name.size());
    if (upper(entry.substr(0, std::string(kEnvPrefix).size())) != kEnvPrefix) continue;
    auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    auto path = split_env_path(
        entry.substr(std::string(kEnvPrefix).size(), eq - std::string(kEnvPrefix).size()));
    {
      std::string dotted;
      for (const auto& p : path) dotted += (dotted.empty() ? "" : ".") + p;
      sources[dotted] = raw_entry.substr(0, raw_entry.find('='));
    }
    std::string value = entry.substr(eq + 1);
    if (std::any_of(path.begin(), path.end(), [](const std::string& p) { return p.empty(); })) {
      problems.push_back("environment variable " + entry.substr(0, eq) + ": empty path segment");
      continue;
    }
    YAML::Node cursor(root);
    bool reachable = true;
    for (size_t i = 0; i + 1 < path.size(); ++i) {
      if (cursor[path[i]].IsDefined() && !cursor[path[i]].IsMap() && !cursor[path[i]].IsNull()) {
        problems.push_back("environment variable " + entry.substr(0, eq) + ": '" + path[i] +
                           "' is not a section");
        reachable = false;
        break;
      }
      YAML::Node next = cursor[path[i]];
      if (!next.IsMap()) next = YAML::Node(YAML::NodeType::Map);
      cursor[path[i]] = next;
      cursor.reset(next);
    }
    if (!reachable) continue;
    YAML::Node parsed(value);
    if (is_section(path)) {
      try {
        parsed = YAML::Load(value);
      } catch (const YAML::Exception& e) {
        problems.push_back("environment variable " + entry.substr(0, eq) +
                           ": not a YAML or JSON mapping: " + e.msg);
        continue;
      }
    }
    cursor[path.back()] = parsed;
  }
}

// A plugin config key that holds a credential, by its name (until plugins declare their keys).
bool is_secret_key(const std::string& key) {
  std::string k = lower(key);
  for (const char* word : {"secret", "token", "password", "private_key", "api_key", "apikey"})
    if (k.find(word) != std::string::npos) return true;
  return false;
}

// A secret that is not a plain string would be flattened or emptied, and a check that compares
// against it would silently pass or fail open: refused instead.
void check_secret(const YAML::Node& node, const std::string& where,
                  std::vector<std::string>& problems) {
  if (node.IsScalar()) return;
  problems.push_back(where + ": a secret must be a string (quote it in YAML: '" +
                     where.substr(where.rfind('.') + 1) + ": \"...\"')" +
                     (node.IsNull() ? "; it is empty (null)" : "; it is a mapping or a list"));
}

// Every secret-named key of a plugin config block, at any depth (a nested `app: {private_key:
// ...}` too).
void check_secrets(const YAML::Node& node, const std::string& where,
                   std::vector<std::string>& problems) {
  for (const auto& setting : node) {
    std::string key = setting.first.as<std::string>();
    if (is_secret_key(key)) check_secret(setting.second, where + "." + key, problems);
    if (setting.second.IsMap()) check_secrets(setting.second, where + "." + key, problems);
  }
}

void flatten(const YAML::Node& node, const std::string& prefix,
             std::map<std::string, std::string>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node)
      flatten(
          kv.second,
          prefix.empty() ? kv.first.as<std::string>() : prefix + "." + kv.first.as<std::string>(),
          out);
  } else if (node.IsScalar()) {
    out[prefix] = node.Scalar();
  } else if (node.IsSequence()) {
    YAML::Emitter emitter;
    emitter << YAML::Flow << node;
    out[prefix] = emitter.c_str();
  } else if (node.IsNull() && !prefix.empty()) {
    out[prefix] = "";
  }
}

class Reader {
 public:
  Reader(const YAML::Node& root, std::vector<std::string>& problems)
      : root_(root), problems_(problems) {}

  // A section that is not a mapping is reported by check_known.
  template <class T>
  void read(const char* section, const char* key, T& out) {
    YAML::Node node = section ? root_[section] : root_;
    if (!node.IsDefined() || node.IsNull() || !node.IsMap()) return;
    YAML::Node v = node[key];
    if (!v.IsDefined() || v.IsNull()) return;
    std::string where = section ? std::string(section) + "." + key : key;
    if (!v.IsScalar()) return problems_.push_back(where + ": must be a scalar");
    try {
      out = v.as<T>();
    } catch (const YAML::Exception&) {
      problems_.push_back(where + ": '" + v.Scalar() + "' is not a valid value");
    }
  }

 private:
  const YAML::Node& root_;
  std::vector<std::string>& problems_;
};

// The environment variable a setting came from, as " (from NAME)", or "".
thread_local const EnvSources* g_sources = nullptr;  // set while load_host_config runs
std::string from_environment(const std::string& dotted) {
  if (!g_sources) return {};
  auto it = g_sources->find(dotted);
  // Or a variable that set something inside it (OCEAN__EVENT_LISTENER__TYPE for event_listener).
  if (it == g_sources->end()) {
    it = g_sources->lower_bound(dotted + ".");
    if (it != g_sources->end() && it->first.rfind(dotted + ".", 0) != 0) it = g_sources->end();
  }
  return it == g_sources->end() ? std::string() : " (from environment variable " + it->second + ")";
}

void check_known(const YAML::Node& node, const std::string& where,
                 std::initializer_list<const char*> known, std::vector<std::string>& problems) {
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsMap())
    return problems.push_back(where + ": must be a mapping" + from_environment(where));
  for (const auto& kv : node) {
    auto key = kv.first.as<std::string>();
    const std::string dotted = (where.empty() ? "" : where + ".") + key;
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; }))
      problems.push_back(dotted + ": unknown key" + from_environment(dotted));
  }
}

// Ocean's settings that mean nothing for live events (resyncs, its event listener, its runtime):
// an Ocean deployment's environment carries them, so they are accepted, each named once in a WARN.
constexpr const char* kOceanOnly[] = {"event_listener",
                                      "initialize_port_resources",
                                      "scheduled_resync_interval",
                                      "send_raw_data_examples",
                                      "runtime",
                                      "client_timeout",
                                      "resources_path",
                                      "metrics",
                                      "caching_storage_mode",
                                      "lakehouse_enabled",
                                      "lakehouse_buffer_interval_seconds",
                                      "lakehouse_buffer_max_count",
                                      "processing_mode",
                                      "yield_items_to_parse_batch_size",
                                      "process_in_queue_timeout",
                                      "process_in_queue_max_workers",
                                      "streaming",
                                      "actions_processor",
                                      "live_events",
                                      "ssl",
                                      "status_heartbeat_interval_seconds",
                                      "create_port_resources_origin",
                                      "oauth_access_token_file_path",
                                      "path_prefix",
                                      "events_debug_logging",
                                      "disable_ip_outbound_blocker"};
constexpr const char* kOceanOnlyPort[] = {
    "port_app_config_cache_ttl", "feature_flags_cache_ttl_seconds", "blueprint_cache_ttl_seconds"};

// Takes Ocean's settings that oceand has no use for out of `root`, naming them in `warnings`.
void set_aside_ocean_only(YAML::Node& root, std::vector<std::string>& warnings) {
  for (const char* key : kOceanOnly)
    if (root[key].IsDefined()) {
      warnings.push_back(std::string(key) + from_environment(key) +
                         ": an Ocean setting with no meaning for oceand's live events; ignored");
      root.remove(key);
    }
  if (root["port"].IsMap())
    for (const char* key : kOceanOnlyPort)
      if (root["port"][key].IsDefined()) {
        const std::string dotted = std::string("port.") + key;
        warnings.push_back(dotted + from_environment(dotted) +
                           ": an Ocean setting with no meaning for oceand; ignored");
        root["port"].remove(key);
      }
}

// Ocean's one integration (OCEAN__INTEGRATION__IDENTIFIER, __TYPE, __CONFIG__*) as
// integrations.<identifier> with plugin <type> (lower-cased, as Ocean does); the identifier
// defaults to Ocean's "my-<type>-integration".
void adopt_ocean_integration(YAML::Node& root, std::vector<std::string>& problems,
                             std::vector<std::string>& warnings) {
  YAML::Node ocean = root["integration"];
  if (!ocean.IsDefined()) return;
  if (!ocean.IsMap()) {
    problems.push_back("integration: must be a mapping (Ocean's identifier, type, config)" +
                       from_environment("integration"));
    root.remove("integration");
    return;
  }
  for (const auto& kv : ocean) {
    const std::string key = kv.first.as<std::string>();
    if (key == "incremental_sync_enabled" || key == "incremental_sync_interval") {
      warnings.push_back("integration." + key + from_environment("integration." + key) +
                         ": an Ocean setting with no meaning for oceand's live events; ignored");
    } else if (key != "identifier" && key != "type" && key != "config") {
      problems.push_back("integration." + key + ": unknown key" +
                         from_environment("integration." + key));
    }
  }
  const std::string type = ocean["type"].IsScalar() ? lower(ocean["type"].Scalar()) : "";
  if (type.empty()) {
    problems.push_back("integration.type: Ocean's integration needs a type (the plugin's name)" +
                       from_environment("integration"));
    root.remove("integration");
    return;
  }
  const std::string identifier =
      ocean["identifier"].IsScalar() && !ocean["identifier"].Scalar().empty()
          ? ocean["identifier"].Scalar()
          : "my-" + type + "-integration";
  YAML::Node integrations = root["integrations"];
  if (!integrations.IsDefined() || integrations.IsNull())
    integrations = YAML::Node(YAML::NodeType::Map);
  if (!integrations.IsMap()) return;  // reported as integrations: must be a mapping
  YAML::Node target = integrations[identifier];
  if (!target.IsDefined() || target.IsNull()) target = YAML::Node(YAML::NodeType::Map);
  if (target.IsMap()) {
    if (!target["plugin"].IsDefined()) target["plugin"] = type;
    if (ocean["config"].IsMap()) {
      YAML::Node config = target["config"];
      if (!config.IsDefined() || config.IsNull()) config = YAML::Node(YAML::NodeType::Map);
      for (const auto& kv : ocean["config"]) config[kv.first] = kv.second;
      target["config"] = config;
    }
    integrations[identifier] = target;
  }
  root["integrations"] = integrations;
  root.remove("integration");
}

// "host:port" or "[v6]:port", port 0..65535.
bool split_listen(const std::string& text, std::string& host, int& port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  host = text.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return false;  // a bare IPv6 address is ambiguous: write [::1]:9901
  }
  std::string digits = text.substr(colon + 1);
  if (digits.size() > 5 ||
      !std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c); }))
    return false;
  port = std::stoi(digits);
  return port <= 65535;
}

bool valid_identifier(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::islower(c) || std::isdigit(c) || c == '-' || c == '_';
  });
}

}  // namespace

const IntegrationConfig* HostConfig::integration(const std::string& identifier) const {
  for (const auto& i : integrations)
    if (i.identifier == identifier) return &i;
  return nullptr;
}

std::string HostConfig::admin_host() const {
  std::string host;
  int port = 0;
  return split_listen(admin_listen, host, port) ? host : std::string();
}

int HostConfig::admin_port() const {
  std::string host;
  int port = -1;
  return split_listen(admin_listen, host, port) ? port : -1;
}

int HostConfig::default_max_concurrency() const {
  return std::max(1, event_workers_count * 3 / 4);
}

int HostConfig::max_concurrency(const std::string& identifier) const {
  const IntegrationConfig* ic = integration(identifier);
  int limit = ic && ic->max_concurrency > 0 ? ic->max_concurrency : default_max_concurrency();
  return std::min(limit, event_workers_count);
}

std::vector<std::string> process_environment() {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) out.emplace_back(*e);
  return out;
}

std::vector<std::string> start_only_changes(const HostConfig& before, const HostConfig& after) {
  std::vector<std::string> changed;
  auto check = [&](const char* key, bool same) {
    if (!same) changed.emplace_back(key);
  };
  check("server.host", before.server.host == after.server.host);
  check("server.port", before.server.port == after.server.port);
  check("server.max_body_bytes", before.server.max_body_bytes == after.server.max_body_bytes);
  check("server.threads", before.server.threads == after.server.threads);
  check("server.max_queued_connections",
        before.server.max_queued_connections == after.server.max_queued_connections);
  check("server.max_connections", before.server.max_connections == after.server.max_connections);
  check("server.io_threads", before.server.io_threads == after.server.io_threads);
  check("server.idle_timeout_seconds",
        before.server.idle_timeout_seconds == after.server.idle_timeout_seconds);
  check("server.request_timeout_seconds",
        before.server.request_timeout_seconds == after.server.request_timeout_seconds);
  check("event_workers_count", before.event_workers_count == after.event_workers_count);
  check("event_workers_nice", before.event_workers_nice == after.event_workers_nice);
  check("event_workers_policy", before.event_workers_policy == after.event_workers_policy);
  check("event_workers_on_cpu", before.event_workers_on_cpu == after.event_workers_on_cpu);
  check("max_event_processing_seconds",
        before.max_event_processing_seconds == after.max_event_processing_seconds);
  check("max_wait_seconds_before_shutdown",
        before.max_wait_seconds_before_shutdown == after.max_wait_seconds_before_shutdown);
  check("on_start_timeout_seconds",
        before.on_start_timeout_seconds == after.on_start_timeout_seconds);
  check("plugins.crash_limit", before.plugins_crash_limit == after.plugins_crash_limit);
  check("queue.backend", before.queue.backend == after.queue.backend);
  check("queue.path", before.queue.path == after.queue.path);
  check("queue.url", before.queue.url == after.queue.url);
  check("queue.handover_seconds", before.queue.handover_seconds == after.queue.handover_seconds);
  check("queue.max_pending", before.queue.max_pending == after.queue.max_pending);
  check("queue.dedupe_window_seconds",
        before.queue.dedupe_window_seconds == after.queue.dedupe_window_seconds);
  check("port.applier", before.port.applier == after.port.applier);
  check("port.local_db", before.port.local_db == after.port.local_db);
  check("port.base_url", before.port.base_url == after.port.base_url);
  check("port.client_id", before.port.client_id == after.port.client_id);
  check("port.client_secret", before.port.client_secret == after.port.client_secret);
  check("port.request_timeout_seconds",
        before.port.request_timeout_seconds == after.port.request_timeout_seconds);
  check("port.max_retries", before.port.max_retries == after.port.max_retries);
  check("upsert_entities_batch_max_length",
        before.port.upsert_batch_max_length == after.port.upsert_batch_max_length);
  check("upsert_entities_batch_max_size_in_bytes",
        before.port.upsert_batch_max_bytes == after.port.upsert_batch_max_bytes);
  check("delete_entities_max_batch_size",
        before.port.delete_batch_max_size == after.port.delete_batch_max_size);
  check("port.mapping_refresh_seconds",
        before.port.mapping_refresh_seconds == after.port.mapping_refresh_seconds);
  check("port.max_concurrent_requests",
        before.port.max_concurrent_requests == after.port.max_concurrent_requests);
  check("admin.token", before.admin_token == after.admin_token);
  check("admin.listen", before.admin_listen == after.admin_listen);
  check("log_level", before.log_level == after.log_level);
  check("log_format", before.log_format == after.log_format);
  return changed;
}

HostConfig load_host_config(const std::optional<std::string>& path,
                            const std::vector<std::string>& environment) {
  HostConfig config;
  std::vector<std::string> problems;
  auto fail = [&](std::string problem) { problems.push_back(std::move(problem)); };
  YAML::Node root;
  if (path) {
    std::ifstream in(*path);
    if (!in) throw ConfigError("cannot read config file " + *path);
    std::stringstream text;
    text << in.rdbuf();
    try {
      root = YAML::Load(text.str());
    } catch (const YAML::Exception& e) {
      throw ConfigError(*path + ": " + e.what());
    }
    if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
    if (!root.IsMap()) throw ConfigError(*path + ": the top level must be a mapping");
    bool unreadable = false;
    problems = duplicate_keys(root, *path, &unreadable);
    if (unreadable) throw ConfigError(std::move(problems));
    config.source = *path;
    auto dir = std::filesystem::path(*path).parent_path();
    config.config_dir = dir.empty() ? "." : dir.string();
  } else {
    root = YAML::Node(YAML::NodeType::Map);
  }
  EnvSources sources;
  g_sources = &sources;
  struct Forget {
    ~Forget() { g_sources = nullptr; }
  } forget;
  apply_environment(root, environment, problems, sources);
  set_aside_ocean_only(root, config.warnings);
  adopt_ocean_integration(root, problems, config.warnings);
  {
    // A section given in the environment as a flow mapping is read the same way.
    bool unreadable = false;
    auto structure = duplicate_keys(root, "configuration", &unreadable);
    if (unreadable) {
      problems.push_back(structure.back());
      throw ConfigError(std::move(problems));
    }
  }

  check_known(root, "",
              {"server",
               "base_url",
               "event_workers_count",
               "event_workers_nice",
               "event_workers_policy",
               "event_workers_on_cpu",
               "max_event_processing_seconds",
               "max_wait_seconds_before_shutdown",
               "on_start_timeout_seconds",
               "plugins",
               "queue",
               "port",
               "admin",
               "integrations",
               "log_level",
               "log_format",
               "mapping",
               "upsert_entities_batch_max_length",
               "upsert_entities_batch_max_size_in_bytes",
               "delete_entities_max_batch_size",
               "allow_environment_variables_jq_access"},
              problems);
  check_known(root["mapping"], "mapping", {"max_eval_seconds", "max_eval_memory_mb"}, problems);
  check_known(root["server"], "server",
              {"host", "port", "max_body_bytes", "threads", "max_queued_connections",
               "max_connections", "io_threads", "idle_timeout_seconds", "request_timeout_seconds"},
              problems);
  check_known(root["plugins"], "plugins", {"dir", "cache_dir", "crash_limit", "strict_modes"},
              problems);
  check_known(root["queue"], "queue",
              {"backend", "path", "url", "handover_seconds", "max_pending", "dedupe_window_seconds",
               "dead_letter_retention"},
              problems);
  check_known(
      root["port"], "port",
      {"applier", "local_db", "base_url", "client_id", "client_secret", "request_timeout_seconds",
       "max_retries", "max_concurrent_requests", "mapping_refresh_seconds"},
      problems);
  check_known(root["admin"], "admin", {"token", "listen"}, problems);

  // queue.url may carry a password (postgresql://user:password@host/db).
  for (const auto& [section, key] :
       {std::pair{"port", "client_secret"}, {"admin", "token"}, {"queue", "url"}}) {
    YAML::Node node = root[section];
    if (node.IsMap() && node[key].IsDefined())
      check_secret(node[key], std::string(section) + "." + key, problems);
  }

  Reader r(root, problems);
  r.read("server", "host", config.server.host);
  r.read("server", "port", config.server.port);
  r.read("server", "max_body_bytes", config.server.max_body_bytes);
  r.read("server", "threads", config.server.threads);
  r.read("server", "max_queued_connections", config.server.max_queued_connections);
  r.read("server", "max_connections", config.server.max_connections);
  r.read("server", "io_threads", config.server.io_threads);
  r.read("server", "idle_timeout_seconds", config.server.idle_timeout_seconds);
  r.read("server", "request_timeout_seconds", config.server.request_timeout_seconds);
  r.read(nullptr, "base_url", config.base_url);
  r.read(nullptr, "event_workers_count", config.event_workers_count);
  r.read(nullptr, "event_workers_nice", config.event_workers_nice);
  r.read(nullptr, "event_workers_policy", config.event_workers_policy);
  r.read(nullptr, "event_workers_on_cpu", config.event_workers_on_cpu);
  r.read(nullptr, "max_event_processing_seconds", config.max_event_processing_seconds);
  r.read(nullptr, "max_wait_seconds_before_shutdown", config.max_wait_seconds_before_shutdown);
  r.read(nullptr, "on_start_timeout_seconds", config.on_start_timeout_seconds);
  r.read(nullptr, "log_level", config.log_level);
  // Ocean's levels, in any case: DEBUG, INFO, WARNING, ERROR, CRITICAL.
  config.log_level = lower(config.log_level);
  if (config.log_level == "warn") config.log_level = "warning";
  if (config.log_level == "critical") config.log_level = "error";
  r.read(nullptr, "log_format", config.log_format);
  r.read(nullptr, "allow_environment_variables_jq_access", config.jq_environment);
  r.read(nullptr, "upsert_entities_batch_max_length", config.port.upsert_batch_max_length);
  r.read(nullptr, "upsert_entities_batch_max_size_in_bytes", config.port.upsert_batch_max_bytes);
  r.read(nullptr, "delete_entities_max_batch_size", config.port.delete_batch_max_size);
  r.read("plugins", "dir", config.plugins_dir);
  r.read("plugins", "cache_dir", config.plugins_cache_dir);
  r.read("plugins", "crash_limit", config.plugins_crash_limit);
  r.read("plugins", "strict_modes", config.plugins_strict_modes);
  r.read("queue", "backend", config.queue.backend);
  r.read("queue", "path", config.queue.path);
  r.read("queue", "url", config.queue.url);
  r.read("queue", "handover_seconds", config.queue.handover_seconds);
  r.read("queue", "max_pending", config.queue.max_pending);
  r.read("queue", "dedupe_window_seconds", config.queue.dedupe_window_seconds);
  r.read("queue", "dead_letter_retention", config.queue.dead_letter_retention);
  r.read("port", "applier", config.port.applier);
  r.read("port", "local_db", config.port.local_db);
  r.read("port", "base_url", config.port.base_url);
  r.read("port", "client_id", config.port.client_id);
  r.read("port", "client_secret", config.port.client_secret);
  r.read("port", "request_timeout_seconds", config.port.request_timeout_seconds);
  r.read("port", "max_retries", config.port.max_retries);
  r.read("port", "max_concurrent_requests", config.port.max_concurrent_requests);
  r.read("port", "mapping_refresh_seconds", config.port.mapping_refresh_seconds);
  r.read("admin", "token", config.admin_token);
  r.read("admin", "listen", config.admin_listen);
  r.read("mapping", "max_eval_seconds", config.mapping_max_eval_seconds);
  r.read("mapping", "max_eval_memory_mb", config.mapping_max_eval_memory_mb);

  if (!config.admin_listen.empty()) {
    std::string host;
    int port = -1;
    if (!split_listen(config.admin_listen, host, port))
      fail("admin.listen: '" + config.admin_listen +
           "' is not host:port (e.g. 127.0.0.1:9901, [::1]:9901; empty: no admin "
           "listener)");
  }
  if (config.server.port < 0 || config.server.port > 65535) fail("server.port: must be 0..65535");
  if (config.server.max_body_bytes == 0 || config.server.max_body_bytes > (1u << 30))
    fail("server.max_body_bytes: must be 1..1073741824");
  if (config.server.threads < 1 || config.server.threads > 1024)
    fail("server.threads: must be 1..1024");
  if (config.server.max_connections < 1 || config.server.max_connections > 1'000'000)
    fail("server.max_connections: must be 1..1000000");
  if (config.server.io_threads < 0 || config.server.io_threads > 64)
    fail("server.io_threads: must be 0..64 (0: one per core, at most 8)");
  if (config.server.idle_timeout_seconds < 1 || config.server.idle_timeout_seconds > 86400)
    fail("server.idle_timeout_seconds: must be 1..86400");
  if (config.server.request_timeout_seconds < 1 || config.server.request_timeout_seconds > 86400)
    fail("server.request_timeout_seconds: must be 1..86400");
  if (config.event_workers_count < 1 || config.event_workers_count > 4096)
    fail("event_workers_count: must be 1..4096");
  if (config.event_workers_nice < 0 || config.event_workers_nice > 19)
    fail("event_workers_nice: must be 0..19 (0: the same priority as ingress)");
  if (config.event_workers_policy != "idle" && config.event_workers_policy != "normal")
    fail("event_workers_policy: '" + config.event_workers_policy + "' is not one of idle, normal");
  if (config.event_workers_on_cpu < 0 || config.event_workers_on_cpu > 4096)
    fail("event_workers_on_cpu: must be 0..4096 (0: one per CPU oceand may run on)");
  if (!(config.max_event_processing_seconds > 0)) fail("max_event_processing_seconds: must be > 0");
  if (config.max_wait_seconds_before_shutdown < 0)
    fail("max_wait_seconds_before_shutdown: must be >= 0");
  if (!(config.on_start_timeout_seconds > 0)) fail("on_start_timeout_seconds: must be > 0");
  if (!(config.mapping_max_eval_seconds > 0) || config.mapping_max_eval_seconds > 3600)
    fail("mapping.max_eval_seconds: must be > 0 and <= 3600");
  if (config.mapping_max_eval_memory_mb < 1 || config.mapping_max_eval_memory_mb > 65536)
    fail("mapping.max_eval_memory_mb: must be 1..65536");
  if (config.plugins_crash_limit < 1 || config.plugins_crash_limit > 100)
    fail("plugins.crash_limit: must be 1..100");
  if (config.queue.backend != "memory" && config.queue.backend != "sqlite" &&
      config.queue.backend != "postgres")
    fail("queue.backend: '" + config.queue.backend + "' is not one of memory, sqlite, postgres");
  if (config.queue.backend == "postgres" && config.queue.url.empty())
    fail(
        "queue.backend is 'postgres' but queue.url is empty (a libpq connection string or URI, "
        "e.g. postgresql://oceand@db.internal/oceand; OCEAN__QUEUE__URL keeps the password out "
        "of the file)");
  if (config.queue.handover_seconds < 1 || config.queue.handover_seconds > 3600)
    fail("queue.handover_seconds: must be 1..3600");
  if (config.queue.max_pending == 0) fail("queue.max_pending: must be > 0");
  if (config.queue.dead_letter_retention < 1 || config.queue.dead_letter_retention > 10000000)
    fail("queue.dead_letter_retention: must be 1..10000000");
  if (config.queue.dedupe_window_seconds < 0) fail("queue.dedupe_window_seconds: must be >= 0");
  if (config.port.applier != "local" && config.port.applier != "port")
    fail("port.applier: '" + config.port.applier + "' is not one of local, port");
  if (!(config.port.request_timeout_seconds > 0) || config.port.request_timeout_seconds > 3600)
    fail("port.request_timeout_seconds: must be > 0 and <= 3600");
  if (config.port.max_retries > 100) fail("port.max_retries: must be 0..100");
  if (!(config.port.mapping_refresh_seconds >= 0) || config.port.mapping_refresh_seconds > 86400)
    fail("port.mapping_refresh_seconds: must be 0..86400 (0: no refresh)");
  if (config.port.max_concurrent_requests < 1 || config.port.max_concurrent_requests > 256)
    fail("port.max_concurrent_requests: must be 1..256");
  if (config.port.applier == "port" &&
      (config.port.client_id.empty() || config.port.client_secret.empty()))
    fail(
        "port.applier is 'port' but port.client_id or port.client_secret is empty (set them, or "
        "OCEAN__PORT__CLIENT_ID and OCEAN__PORT__CLIENT_SECRET)");
  if (config.log_level != "debug" && config.log_level != "info" && config.log_level != "warning" &&
      config.log_level != "error")
    fail("log_level: must be one of debug, info, warning, error");
  if (config.port.upsert_batch_max_length < 1 || config.port.upsert_batch_max_length > 1000)
    fail("upsert_entities_batch_max_length: must be 1..1000");
  if (config.port.upsert_batch_max_bytes < 1024 || config.port.upsert_batch_max_bytes > (64u << 20))
    fail("upsert_entities_batch_max_size_in_bytes: must be 1024..67108864");
  if (config.port.delete_batch_max_size < 1 || config.port.delete_batch_max_size > 100000)
    fail("delete_entities_max_batch_size: must be 1..100000 (Port takes at most 100 per request)");
  if (config.log_format != "text" && config.log_format != "json")
    fail("log_format: '" + config.log_format + "' is not one of text, json");

  YAML::Node integrations = root["integrations"];
  if (integrations.IsDefined() && !integrations.IsNull()) {
    if (!integrations.IsMap()) fail("integrations: must be a mapping of identifier to settings");
    for (const auto& kv : integrations.IsMap() ? integrations : YAML::Node()) {
      IntegrationConfig ic;
      ic.identifier = kv.first.as<std::string>();
      const std::string where = "integrations." + ic.identifier;
      if (!valid_identifier(ic.identifier))
        fail(where + ": identifiers are 1-64 characters of a-z, 0-9, '-' and '_'");
      check_known(kv.second, where, {"plugin", "mapping", "config", "max_concurrency"}, problems);
      if (kv.second.IsMap()) {
        YAML::Node plugin = kv.second["plugin"], mapping = kv.second["mapping"];
        if (plugin.IsDefined() && plugin.IsScalar()) ic.plugin = plugin.Scalar();
        YAML::Node concurrency = kv.second["max_concurrency"];
        if (concurrency.IsDefined() && !concurrency.IsNull()) {
          try {
            ic.max_concurrency = concurrency.as<int>();
            if (ic.max_concurrency < 1 || ic.max_concurrency > 4096)
              fail(where + ".max_concurrency: must be 1..4096");
          } catch (const YAML::Exception&) {
            fail(where + ".max_concurrency: must be an integer");
          }
        }
        if (mapping.IsDefined() && mapping.IsScalar()) ic.mapping_path = mapping.Scalar();
        YAML::Node settings = kv.second["config"];
        if (settings.IsDefined() && !settings.IsNull()) {
          if (!settings.IsMap()) {
            fail(where + ".config: must be a mapping");
          } else {
            check_secrets(settings, where + ".config", problems);
            flatten(settings, "", ic.settings);
          }
        }
      }
      if (ic.plugin.empty()) ic.plugin = ic.identifier;
      config.integrations.push_back(std::move(ic));
    }
  }
  if (!problems.empty()) throw ConfigError(std::move(problems));
  return config;
}

}  // namespace oceand
