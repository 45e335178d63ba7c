// oceand: the live-events host. See docs/ and README.md.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>
#include <string>

#include <Poco/Exception.h>

#include "app/host.hpp"
#include "app/service_manager.hpp"
#include "client/http_client.hpp"
#include "config/host_config.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "mapping/entity_mapper.hpp"
#include "mapping/port_app_config.hpp"
#include "ocean/plugin_abi.h"
#include "plugins/plugin_file.hpp"
#include "plugins/plugin_library.hpp"
#include "plugins/plugin_manager.hpp"
#include "queue/pg_connection.hpp"

namespace {

constexpr const char* kUsage =
    "usage: oceand [--config FILE] [--check | --reload | --version]\n"
    "  --config FILE  read FILE (YAML); without it the embedded defaults are used\n"
    "  --check        validate configuration, mappings and plugins, print what would run, and "
    "exit\n"
    "  --check --load-plugins\n"
    "                 also load the plugin files that pass the checks (running their code) and\n"
    "                 check every integration's config as start does (required keys,\n"
    "                 validate_config)\n"
    "  --reload       ask the oceand running on this configuration to reload (its admin "
    "listener's\n"
    "                 POST /admin/reload), print its answer; exit 1 when the reload failed\n"
    "Every key can be overridden by OCEAN__<PATH> environment variables, e.g. "
    "OCEAN__SERVER__PORT=8001.\n";

// The configuration, or none after writing every problem to `out`, each on its line after `prefix`:
// fixing one should not merely reveal the next.
std::optional<oceand::HostConfig> load_or_report(const std::optional<std::string>& config_path,
                                                 std::ostream& out, const char* prefix) {
  try {
    return oceand::load_host_config(config_path, oceand::process_environment());
  } catch (const oceand::ConfigError& e) {
    for (const auto& problem : e.problems()) out << prefix << problem << "\n";
    return std::nullopt;
  }
}

// Validates what start would, without running any plugin code: files are judged by their
// owner, mode, ELF headers and exported symbols (no dlopen, so no constructor runs and nothing
// is written to the plugin cache), and mappings are loaded as start loads them.
// --check --load-plugins: the plugins that passed the file checks are loaded (their code runs,
// from a throwaway cache directory) and every integration is made as start makes it, so a config
// the plugin refuses is found here. Returns the number of problems.
int check_loaded(const oceand::HostConfig& config) {
  using namespace oceand;
  char pattern[] = "/tmp/oceand-check-XXXXXX";
  const char* cache = ::mkdtemp(pattern);
  if (!cache) {
    std::cout << "plugins REFUSED  no temporary directory for the plugin cache\n";
    return 1;
  }
  auto copy = std::make_shared<HostConfig>(config);
  copy->plugins_cache_dir = cache;
  int problems = 0;
  {
    Metrics metrics;
    HostServices services(metrics);
    PluginManager manager(services);
    try {
      auto generation = manager.build(copy);
      for (const auto& f : generation->files)
        if (f.state != "loaded") {
          std::cout << "plugin  REFUSED  " << f.file << ": " << f.error << "\n";
          ++problems;
        }
      for (const auto& [id, integration] : generation->integrations)
        if (integration.plugin)
          std::cout << "integration " << id << ": config accepted by plugin "
                    << integration.plugin->name() << "\n";
    } catch (const ConfigError& e) {
      for (const auto& problem : e.problems()) std::cout << "config  REFUSED  " << problem << "\n";
      problems += static_cast<int>(e.problems().size());
    } catch (const std::exception& e) {
      std::cout << "plugins REFUSED  " << e.what() << "\n";
      ++problems;
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(cache, ec);
  return problems;
}

int check(const std::optional<std::string>& config_path, bool load_plugins) {
  using namespace oceand;
  std::optional<HostConfig> loaded = load_or_report(config_path, std::cout, "config  REFUSED  ");
  if (!loaded) {
    std::cout << "check found problems\n";
    return 1;
  }
  const HostConfig& config = *loaded;
  for (const auto& warning : config.warnings) std::cout << "config  WARN     " << warning << "\n";
  int problems = 0;
  const PluginFileRules rules{config.plugins_dir, config.plugins_strict_modes};
  const std::string dir_problem = plugin_dir_problem(rules);
  std::set<std::string> stems;
  for (const auto& file : list_plugin_files(config.plugins_dir)) {
    try {
      if (!dir_problem.empty()) throw PluginLoadError(dir_problem);
      inspect_plugin_file(file, rules);
      stems.insert(file.stem().string());
      std::cout << "plugin  ok       " << file.string() << " (checked without running it)\n";
    } catch (const std::exception& e) {
      std::cout << "plugin  REFUSED  " << file.string() << ": " << e.what() << "\n";
      ++problems;
    }
  }
  for (const auto& ic : config.integrations) {
    std::cout << "integration " << ic.identifier << " -> plugin " << ic.plugin;
    // A plugin's name is in its descriptor, which only running it reveals; files are named after
    // their plugin by convention.
    if (!stems.count(ic.plugin)) {
      std::cout << " (no loadable " << ic.plugin << ".so in plugins.dir)";
      ++problems;
    }
    try {
      if (!ic.mapping_path.empty()) {
        auto mapping = load_port_app_config(ic.mapping_path);
        std::cout << ", " << mapping.resources.size() << " mapped resource(s)";
        // Every expression that does not compile, not only the first.
        for (const auto& problem : mapping_problems(mapping)) {
          std::cout << "\n  mapping REFUSED " << ic.mapping_path << ": " << problem;
          ++problems;
        }
      }
      std::cout << "\n";
    } catch (const std::exception& e) {
      std::cout << "\n  mapping REFUSED " << ic.mapping_path << ": " << e.what() << "\n";
      ++problems;
    }
  }
  // Only files that passed the checks are ever loaded, and only when asked.
  if (load_plugins && problems == 0) problems += check_loaded(config);
  std::cout << "listen  " << config.server.host << ":" << config.server.port << ", admin "
            << (config.admin_listen.empty() ? "off" : config.admin_listen) << "\n"
            << "queue   " << config.queue.backend
            << (config.queue.backend == "sqlite"     ? " " + config.queue.path
                : config.queue.backend == "postgres" ? " " + redact_pg_url(config.queue.url)
                                                     : std::string())
            << "\n"
            << "applier " << config.port.applier
            << (config.port.applier == "port" ? " " + config.port.base_url
                                              : " " + redact_pg_url(config.port.local_db))
            << "\n";
  std::cout << (problems ? "check found problems\n" : "check ok\n");
  return problems ? 1 : 0;
}

// The oceand serving `config_path` reloads through its admin listener (or, without one, the main
// listener with admin.token), so a failed reload fails the caller: systemd's ExecReload, unlike
// kill -HUP, which cannot tell.
int request_reload(const std::optional<std::string>& config_path) {
  using namespace oceand;
  std::optional<HostConfig> loaded = load_or_report(config_path, std::cerr, "oceand: ");
  if (!loaded) return 1;
  const HostConfig& config = *loaded;
  // A wildcard address is reached on loopback.
  auto reachable = [](std::string host) {
    if (host.empty() || host == "0.0.0.0") return std::string("127.0.0.1");
    if (host == "::") return std::string("[::1]");
    return host.find(':') != std::string::npos ? "[" + host + "]" : host;
  };
  std::string url;
  if (!config.admin_listen.empty())
    url = "http://" + reachable(config.admin_host()) + ":" + std::to_string(config.admin_port());
  else
    url = "http://" + reachable(config.server.host) + ":" + std::to_string(config.server.port);
  HeaderList headers;
  if (!config.admin_token.empty())
    headers.emplace_back("Authorization", "Bearer " + config.admin_token);
  // A reload waits for on_start of changed integrations: allow for it.
  const auto timeout =
      std::chrono::milliseconds(static_cast<long>((config.on_start_timeout_seconds + 30) * 1000));
  HttpResult result = HttpClient::request("POST", url + "/admin/reload", headers, "", timeout);
  if (result.status == 0) {
    std::cerr << "oceand: no answer from " << url << "/admin/reload: " << result.error << "\n";
    return 1;
  }
  std::cout << result.body << (result.body.empty() || result.body.back() != '\n' ? "\n" : "");
  if (result.status != 200) {
    std::cerr << "oceand: the reload failed (HTTP " << result.status << ")\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Everything oceand creates (queue, catalog, crash ledger, plugin cache, var/) holds webhook
  // payloads, headers or code it will run: its user's only. Files 0600, directories 0700.
  ::umask(077);
  // Every connection is a file, and idle ones are cheap now: take the whole open-files allowance
  // the system grants (the soft limit is often 1024, the hard one far higher), as nginx's
  // worker_rlimit_nofile or Go's runtime do. server.max_connections is held to what this leaves.
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &files);
  }
  std::optional<std::string> config_path;
  bool check_only = false, reload_only = false, load_plugins = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = arg.substr(9);
    } else if (arg == "--check") {
      check_only = true;
    } else if (arg == "--load-plugins") {
      load_plugins = true;
    } else if (arg == "--reload") {
      reload_only = true;
    } else if (arg == "--version") {
      std::cout << "oceand " << OCEAND_VERSION << " (plugin ABI " << OCEAN_ABI_VERSION_MAJOR << "."
                << OCEAN_ABI_VERSION_MINOR << ")\n";
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else {
      std::cerr << "oceand: unknown argument '" << arg << "'\n" << kUsage;
      return 2;
    }
  }

  // Signals are blocked here, before any thread exists, so every thread inherits the mask and only
  // the sigwait loop below ever sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  try {
    if (load_plugins && !check_only) {
      std::cerr << "oceand: --load-plugins goes with --check\n" << kUsage;
      return 2;
    }
    if (check_only) return check(config_path, load_plugins);
    if (reload_only) return request_reload(config_path);
    oceand::Host host(oceand::HostOptions{config_path, oceand::process_environment(), nullptr});
    host.start();
    // Type=notify: systemd counts the service started once it listens.
    oceand::notify_service_manager("READY=1\nSTATUS=serving");
    while (true) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) continue;
      if (sig == SIGHUP) {
        OCEAND_LOG_INFO("oceand") << "SIGHUP: reloading";
        oceand::notify_reloading();
        oceand::ReloadReport report = host.reload();
        oceand::notify_service_manager(report.ok
                                           ? "READY=1\nSTATUS=serving"
                                           : "READY=1\nSTATUS=serving; the last reload failed");
        continue;
      }
      OCEAND_LOG_INFO("oceand") << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << " received";
      break;
    }
    oceand::notify_service_manager("STOPPING=1");
    host.stop();
  } catch (const oceand::ConfigError& e) {
    for (const auto& problem : e.problems())
      oceand::Log::write(oceand::LogLevel::error, "oceand", "configuration error: " + problem);
    return 1;
  } catch (const Poco::Exception& e) {
    // what() is only the exception's name ("Net Exception"); displayText() says what failed, e.g.
    // "Net Exception: Address already in use: 127.0.0.1:8000".
    oceand::Log::write(oceand::LogLevel::error, "oceand", "fatal: " + e.displayText());
    return 1;
  } catch (const std::exception& e) {
    oceand::Log::write(oceand::LogLevel::error, "oceand", std::string("fatal: ") + e.what());
    return 1;
  }
  return 0;
}
