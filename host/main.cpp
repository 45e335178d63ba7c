// oceand: the live-events host. See docs/ and README.md.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstring>
#include <iostream>
#include <optional>
#include <set>
#include <string>

#include <Poco/Exception.h>

#include "app/host.hpp"
#include "config/host_config.hpp"
#include "core/log.hpp"
#include "mapping/entity_mapper.hpp"
#include "mapping/port_app_config.hpp"
#include "ocean/plugin_abi.h"
#include "plugins/plugin_file.hpp"
#include "plugins/plugin_library.hpp"

namespace {

constexpr const char* kUsage =
    "usage: oceand [--config FILE] [--check]\n"
    "  --config FILE  read FILE (YAML); without it the embedded defaults are used\n"
    "  --check        validate configuration, mappings and plugins, print what would run, and "
    "exit\n"
    "Every key can be overridden by OCEAN__<PATH> environment variables, e.g. "
    "OCEAN__SERVER__PORT=8001.\n";

// Validates what start would, without running any plugin code: files are judged by their
// owner, mode, ELF headers and exported symbols (no dlopen, so no constructor runs and nothing
// is written to the plugin cache), and mappings are loaded as start loads them.
int check(const std::optional<std::string>& config_path) {
  using namespace oceand;
  HostConfig config = load_host_config(config_path, process_environment());
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
  std::cout << "listen  " << config.server.host << ":" << config.server.port << ", admin "
            << (config.admin_listen.empty() ? "off" : config.admin_listen) << "\n"
            << "queue   " << config.queue.backend
            << (config.queue.backend == "sqlite" ? " " + config.queue.path : std::string()) << "\n"
            << "applier " << config.port.applier
            << (config.port.applier == "port" ? " " + config.port.base_url
                                              : " " + config.port.local_db)
            << "\n";
  std::cout << (problems ? "check found problems\n" : "check ok\n");
  return problems ? 1 : 0;
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
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = arg.substr(9);
    } else if (arg == "--check") {
      check_only = true;
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
    if (check_only) return check(config_path);
    oceand::Host host(oceand::HostOptions{config_path, oceand::process_environment(), nullptr});
    host.start();
    while (true) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) continue;
      if (sig == SIGHUP) {
        LOG_INFO("oceand") << "SIGHUP: reloading";
        host.reload();
        continue;
      }
      LOG_INFO("oceand") << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << " received";
      break;
    }
    host.stop();
  } catch (const oceand::ConfigError& e) {
    oceand::Log::write(oceand::LogLevel::error, "oceand",
                       std::string("configuration error: ") + e.what());
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
