#include "plugins/plugin_library.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <openssl/evp.h>

#include "config/host_config.hpp"
#include "core/busy_marks.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "plugins/guarded_call.hpp"
#include "plugins/plugin_file.hpp"

namespace oceand {

namespace {

constexpr std::uintmax_t kMaxPluginBytes = 512ull << 20;

std::string read_file(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) throw PluginLoadError("not a regular file");
  auto size = std::filesystem::file_size(file, ec);
  if (ec) throw PluginLoadError("cannot stat: " + ec.message());
  if (size > kMaxPluginBytes) throw PluginLoadError("larger than 512 MiB");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw PluginLoadError("cannot open for reading");
  std::string bytes;
  bytes.resize(size);
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  bytes.resize(static_cast<size_t>(in.gcount()));
  return bytes;
}

std::string sha256_hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr);
  return to_hex(std::string_view(reinterpret_cast<const char*>(digest), len));
}

// Writes the bytes we hashed (not the file again, which may be changing under us) to
// <cache>/<sha256>.so, atomically.
std::filesystem::path write_private_copy(const std::string& bytes, const std::string& sha,
                                         const std::filesystem::path& cache_dir) {
  std::error_code ec;
  std::filesystem::create_directories(cache_dir, ec);
  if (ec)
    throw PluginLoadError("cannot create plugin cache " + cache_dir.string() + ": " + ec.message());
  // Code oceand will run: nobody else may add to or read the cache.
  std::filesystem::permissions(cache_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  auto target = cache_dir / (sha + ".so");
  if (std::filesystem::exists(target, ec)) {
    try {
      if (sha256_hex(read_file(target)) == sha) return target;
    } catch (const PluginLoadError&) {
    }
  }
  auto temp = cache_dir / (sha + ".so.tmp." + std::to_string(::getpid()));
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0500);
  if (fd < 0)
    throw PluginLoadError("cannot write private copy " + temp.string() + ": " +
                          std::strerror(errno));
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      ::unlink(temp.c_str());
      throw PluginLoadError("cannot write private copy: " + std::string(std::strerror(errno)));
    }
    written += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  std::filesystem::rename(temp, target, ec);
  if (ec) throw PluginLoadError("cannot place private copy: " + ec.message());
  return target;
}

bool valid_plugin_name(const char* s) {
  if (!s) return false;
  size_t n = ::strnlen(s, 65);
  return n > 0 && n <= 64 && std::all_of(s, s + n, [](unsigned char c) {
           return std::islower(c) || std::isdigit(c) || c == '-' || c == '_';
         });
}

bool valid_path(const char* s) {
  if (!s) return false;
  size_t n = ::strnlen(s, 257);
  if (n == 0 || n > 256 || s[0] != '/') return false;
  return std::all_of(s, s + n, [](unsigned char c) {
    return std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~';
  });
}

// ABI 1.1 fields are read only from a descriptor large enough to hold them.
bool has_delivery_id_headers(const ocean_plugin_descriptor* d) {
  return d->struct_size >= offsetof(ocean_plugin_descriptor, delivery_id_header_count) +
                               sizeof(d->delivery_id_header_count);
}

bool has_sender_claims(const ocean_plugin_descriptor* d) {
  return d->struct_size >= offsetof(ocean_plugin_descriptor, sender_body_field_count) +
                               sizeof(d->sender_body_field_count);
}

bool valid_header_name(const char* s) {
  if (!s) return false;
  size_t n = ::strnlen(s, 65);
  return n > 0 && n <= 64 && std::all_of(s, s + n, [](unsigned char c) {
           return std::isalnum(c) || c == '-' || c == '_';
         });
}

bool valid_text(const char* s, size_t max) {
  return s && ::strnlen(s, max + 1) <= max;
}

bool has_config_keys(const ocean_plugin_descriptor* d) {
  return d->struct_size >=
         offsetof(ocean_plugin_descriptor, config_key_count) + sizeof(d->config_key_count);
}

bool valid_config_key_name(const char* s) {
  if (!s) return false;
  size_t n = ::strnlen(s, 129);
  return n > 0 && n <= 128 && std::all_of(s, s + n, [](unsigned char c) {
           return std::isalnum(c) || c == '_' || c == '-' || c == '.';
         });
}

// The declared config keys, or the first problem with them.
std::string check_config_keys(const ocean_plugin_descriptor* d) {
  if (!has_config_keys(d) || d->config_key_count == 0) return {};
  if (d->config_key_count > 256) return "more than 256 config_keys";
  if (!d->config_keys) return "config_key_count is set but config_keys is NULL";
  std::set<std::string> seen;
  for (size_t i = 0; i < d->config_key_count; ++i) {
    const ocean_config_key& k = d->config_keys[i];
    std::string where = "config_keys[" + std::to_string(i) + "]";
    if (k.struct_size < sizeof(ocean_config_key)) return where + ": table too small";
    if (!valid_config_key_name(k.name))
      return where + ": name must be 1-128 characters of letters, digits, '_', '-' and '.'";
    if (k.description && !valid_text(k.description, 512))
      return where + " (" + k.name + "): description longer than 512 characters";
    if (k.alias_count > 16) return where + " (" + k.name + "): more than 16 aliases";
    if (k.alias_count && !k.aliases) return where + " (" + k.name + "): aliases is NULL";
    std::vector<const char*> names = {k.name};
    for (size_t a = 0; a < k.alias_count; ++a) {
      if (!valid_config_key_name(k.aliases[a]))
        return where + " (" + k.name + "): alias #" + std::to_string(a) + " is not a key name";
      names.push_back(k.aliases[a]);
    }
    // An alias may spell the name itself differently (webhookSecret); another key's may not.
    std::set<std::string> own;
    for (const char* n : names) own.insert(config_key_folded(n));
    for (const auto& n : own)
      if (!seen.insert(n).second)
        return where + " (" + k.name + "): '" + n + "' is also another key's name or alias";
  }
  return {};
}

// A delay past a day is a bug in the plugin (1e308 was once accepted and, overflowing the
// clock, retried at once), never a policy.
constexpr double kMaxRetryDelaySeconds = 24 * 3600;

bool sane_delay(double v) {
  return std::isfinite(v) && v >= 0 && v <= kMaxRetryDelaySeconds;
}

}  // namespace

bool has_checked_hooks(const ocean_processor_vtable* v) {
  return v->struct_size >= offsetof(ocean_processor_vtable, validate_payload_checked) +
                               sizeof(v->validate_payload_checked);
}

std::string check_descriptor(const ocean_plugin_descriptor* d) {
  if (!d) return "entry function returned no descriptor (the plugin refused this host)";
  if (d->struct_size < OCEAN_PLUGIN_DESCRIPTOR_SIZE_1_0)
    return "descriptor is smaller than ABI 1.0 requires";
  if (!valid_plugin_name(d->name))
    return "descriptor name must be 1-64 characters of a-z, 0-9, '-' and '_'";
  if (!valid_text(d->version, 64))
    return "descriptor version is missing or longer than 64 characters";
  if (d->processor_count > 1024) return "more than 1024 processors";
  if (d->processor_count && !d->processors) return "processor_count is set but processors is NULL";
  if (d->direct_route_count > 1024) return "more than 1024 direct routes";
  if (d->direct_route_count && !d->direct_routes)
    return "direct_route_count is set but direct_routes is NULL";
  std::set<std::string> processor_routes;
  for (size_t i = 0; i < d->processor_count; ++i) {
    const auto& f = d->processors[i];
    std::string where = "processor #" + std::to_string(i);
    if (f.struct_size < sizeof(ocean_processor_factory)) return where + ": factory table too small";
    if (!valid_text(f.name, 128) || !*f.name) return where + ": missing name";
    where += " (" + std::string(f.name) + ")";
    if (!valid_path(f.route)) return where + ": route must be a path like /webhook";
    if (f.retry.struct_size < sizeof(ocean_retry_policy))
      return where + ": retry policy table too small";
    if (f.retry.max_retries > 100) return where + ": max_retries above 100";
    if (!sane_delay(f.retry.initial_retry_delay_seconds) ||
        !sane_delay(f.retry.max_retry_delay_seconds))
      return where + ": retry delays must be finite, from 0 to 86400 seconds (24 h)";
    if (!std::isfinite(f.retry.exponential_base_seconds) || f.retry.exponential_base_seconds <= 0 ||
        f.retry.exponential_base_seconds > kMaxRetryDelaySeconds)
      return where + ": exponential_base_seconds must be finite, above 0 and at most 86400";
    const auto* v = f.vtable;
    if (!v) return where + ": no vtable";
    if (v->struct_size < OCEAN_PROCESSOR_VTABLE_SIZE_1_0) return where + ": vtable too small";
    const bool checked = has_checked_hooks(v);
    if (!v->create || !v->destroy || !v->get_matching_kinds || !v->handle_event ||
        (!v->should_process_event && !(checked && v->should_process_event_checked)) ||
        (!v->authenticate && !(checked && v->authenticate_checked)) ||
        (!v->validate_payload && !(checked && v->validate_payload_checked)))
      return where + ": vtable lacks a required function";
    processor_routes.insert(f.route);
  }
  if (has_delivery_id_headers(d)) {
    if (d->delivery_id_header_count > 16) return "more than 16 delivery_id_headers";
    if (d->delivery_id_header_count && !d->delivery_id_headers)
      return "delivery_id_header_count is set but delivery_id_headers is NULL";
    for (size_t i = 0; i < d->delivery_id_header_count; ++i)
      if (!valid_header_name(d->delivery_id_headers[i]))
        return "delivery_id_headers[" + std::to_string(i) +
               "] must be a header name of 1-64 characters (letters, digits, '-', '_')";
  }
  if (has_sender_claims(d)) {
    for (auto [names, count, what] :
         {std::tuple{d->sender_headers, d->sender_header_count, "sender_headers"},
          std::tuple{d->sender_body_fields, d->sender_body_field_count, "sender_body_fields"}}) {
      if (count > 16) return std::string("more than 16 ") + what;
      if (count && !names) return std::string(what) + " has a count but is NULL";
      for (size_t i = 0; i < count; ++i)
        if (!valid_header_name(names[i]))
          return std::string(what) + "[" + std::to_string(i) +
                 "] must be a name of 1-64 characters (letters, digits, '-', '_')";
    }
  }
  if (auto problem = check_config_keys(d); !problem.empty()) return problem;
  for (size_t i = 0; i < d->direct_route_count; ++i) {
    const auto& r = d->direct_routes[i];
    std::string where = "direct route #" + std::to_string(i);
    if (r.struct_size < sizeof(ocean_direct_route)) return where + ": table too small";
    if (!valid_text(r.method, 16) || !*r.method) return where + ": missing method";
    if (!valid_path(r.path)) return where + ": path must be a path like /hook";
    if (!r.handle) return where + ": no handler";
    if (processor_routes.count(r.path))
      return where + ": path " + r.path + " is also a processor route";
  }
  return {};
}

std::string PluginLibrary::sha256_of(const std::string& bytes) {
  return sha256_hex(bytes);
}

std::shared_ptr<PluginLibrary> PluginLibrary::load(const std::filesystem::path& file,
                                                   std::string bytes,
                                                   const std::filesystem::path& cache_dir,
                                                   HostServices& services) {
  check_elf(bytes);
  std::shared_ptr<PluginLibrary> lib(new PluginLibrary());
  lib->file_ = file.string();
  lib->sha256_ = sha256_hex(bytes);
  lib->private_copy_ = write_private_copy(bytes, lib->sha256_, cache_dir).string();
  bytes.clear();
  bytes.shrink_to_fit();

  lib->host_ = std::make_unique<ocean_host>();
  lib->host_->services = &services;
  lib->host_->file = file.filename().string();
  lib->api_ = make_host_api(lib->host_.get());

  boost::system::error_code ec;
  lib->library_.load(lib->private_copy_,
                     boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec) {
    // dlerror() names the real cause (missing symbol, bad ELF); boost's message does not.
    const char* why = ::dlerror();
    throw PluginLoadError("cannot load: " + std::string(why ? why : ec.message().c_str()));
  }
  if (!lib->library_.has(OCEAN_PLUGIN_ENTRY_SYMBOL))
    throw PluginLoadError("no entry symbol '" OCEAN_PLUGIN_ENTRY_SYMBOL
                          "' (is it an oceand plugin, built with OCEAN_PLUGIN?)");
  auto entry = lib->library_.get<const ocean_plugin_descriptor*(const ocean_host_api*)>(
      OCEAN_PLUGIN_ENTRY_SYMBOL);
  const ocean_plugin_descriptor* d = nullptr;
  std::string escaped;
  {
    BusyMark mark(BusyMark::What{0, nullptr, nullptr, &lib->file_, "ocean_plugin_entry"});
    lib->host_->in_entry = true;
    escaped = call_guarded([&] { d = entry(&lib->api_); });
    lib->host_->in_entry = false;
  }
  if (!escaped.empty()) throw PluginLoadError("entry function failed: " + escaped);
  if (!d) {
    std::lock_guard lock(lib->host_->refusal_mutex);
    if (!lib->host_->refusal.empty())
      throw PluginLoadError("the plugin refused this host: " + lib->host_->refusal);
  }
  if (d && d->struct_size >= offsetof(ocean_plugin_descriptor, name) &&
      (d->abi_major != OCEAN_ABI_VERSION_MAJOR || d->abi_minor > OCEAN_ABI_VERSION_MINOR)) {
    std::ostringstream why;
    why << "built for ABI " << d->abi_major << "." << d->abi_minor << ", this host speaks "
        << OCEAN_ABI_VERSION_MAJOR << "." << OCEAN_ABI_VERSION_MINOR
        << (d->abi_major != OCEAN_ABI_VERSION_MAJOR ? " (different major)"
                                                    : " (plugin needs a newer host)");
    throw PluginLoadError(why.str());
  }
  if (auto problem = check_descriptor(d); !problem.empty())
    throw PluginLoadError("malformed descriptor: " + problem);
  lib->descriptor_ = d;
  lib->delivery_id_headers_ = {"x-github-delivery", "x-atlassian-webhook-identifier", "webhook-id"};
  if (has_delivery_id_headers(d) && d->delivery_id_header_count > 0) {
    lib->delivery_id_headers_.clear();
    for (size_t i = 0; i < d->delivery_id_header_count; ++i)
      lib->delivery_id_headers_.push_back(lower(d->delivery_id_headers[i]));
  }
  if (has_sender_claims(d)) {
    for (size_t i = 0; i < d->sender_header_count; ++i)
      lib->sender_headers_.push_back(lower(d->sender_headers[i]));
    for (size_t i = 0; i < d->sender_body_field_count; ++i)
      lib->sender_body_fields_.push_back(d->sender_body_fields[i]);
  }
  if (has_config_keys(d)) {
    for (size_t i = 0; i < d->config_key_count; ++i) {
      const ocean_config_key& k = d->config_keys[i];
      ConfigKey key{k.name, k.description ? k.description : "", k.required, k.secret, {}};
      for (size_t a = 0; a < k.alias_count; ++a) key.aliases.emplace_back(k.aliases[a]);
      lib->host_->config_keys.push_back(std::move(key));
    }
    lib->validate_config_ = d->validate_config;
  }
  lib->name_ = d->name;
  lib->version_ = d->version;
  lib->host_->plugin_name = lib->name_;
  return lib;
}

std::string PluginLibrary::check_integration(const IntegrationConfig& integration,
                                             const HostConfig& config,
                                             std::vector<std::string>& unknown) const {
  const auto& keys = host_->config_keys;
  if (!keys.empty()) {
    // The blocks set, by folded name: a nested block (`app: {id: 1}`) sets `app.id`, not `app`.
    std::set<std::string> nested;
    for (const auto& [key, value] : integration.settings) {
      if (value.empty()) continue;  // "" is unset, as in Ocean's config
      for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1))
        nested.insert(config_key_folded(key.substr(0, dot)));
    }
    std::set<std::string> known;
    for (const auto& k : keys) {
      const std::set<std::string> names = k.folded_names();
      known.insert(names.begin(), names.end());
      const bool present = declared_value(integration.settings, k) != nullptr;
      const bool is_block = std::any_of(names.begin(), names.end(),
                                        [&](const std::string& n) { return nested.count(n) > 0; });
      if (k.secret && is_block && !present)
        return "config key '" + k.name + "' is a secret: it must be a string, not a block";
      if (k.required && !present && !is_block)
        return "config key '" + k.name + "' is required by plugin '" + name_ + "'" +
               (k.description.empty() ? "" : " (" + k.description + ")");
    }
    for (const auto& [key, value] : integration.settings) {
      std::string top = key.substr(0, key.find('.'));
      if (!known.count(config_key_folded(key)) && !known.count(config_key_folded(top)) &&
          std::find(unknown.begin(), unknown.end(), top) == unknown.end())
        unknown.push_back(top);
    }
  }
  if (!validate_config_) return {};
  CallContext context;
  context.config = &config;
  CallScope scope(context);
  ocean_string_out out;
  ocean_status status = OCEAN_STATUS_FAILED;
  std::string escaped;
  {
    BusyMark mark(BusyMark::What{0, &integration.identifier, nullptr, &file_, "validate_config"});
    LentOutput lent(&out);
    escaped = call_guarded([&] {
      status = validate_config_(to_ocean(integration.identifier), lent.token<ocean_string_out>());
    });
  }
  if (!escaped.empty()) return "validate_config failed: " + escaped;
  if (status == OCEAN_STATUS_OK) return {};
  return "plugin '" + name_ + "' refused the config: " +
         (out.value.empty() ? std::string("(no reason given)") : out.value);
}

std::string PluginLibrary::abi_version() const {
  if (!descriptor_) return {};
  return std::to_string(descriptor_->abi_major) + "." + std::to_string(descriptor_->abi_minor);
}

PluginLibrary::~PluginLibrary() {
  if (descriptor_ && descriptor_->shutdown) {
    BusyMark mark(BusyMark::What{0, nullptr, nullptr, &file_, "shutdown"});
    std::string escaped = call_guarded([&] { descriptor_->shutdown(); });
    if (!escaped.empty()) {
      OCEAND_LOG_ERROR("plugins") << file_ << ": shutdown failed: " << escaped;
    }
  }
  if (library_.is_loaded()) {
    OCEAND_LOG_DEBUG("plugins") << "unloading " << (name_.empty() ? file_ : name_) << " ("
                                << sha256_.substr(0, 12) << ")";
    library_.unload();
  }
}

}  // namespace oceand
