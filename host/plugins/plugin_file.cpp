#include "plugins/plugin_file.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>

#include <boost/dll/library_info.hpp>

#include "core/log.hpp"
#include "ocean/plugin_abi.h"
#include "plugins/plugin_library.hpp"

namespace oceand {

namespace {

constexpr uint64_t kMaxPluginBytes = 512ull << 20;

#if defined(__x86_64__)
constexpr uint16_t kMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr uint16_t kMachine = EM_AARCH64;
#else
constexpr uint16_t kMachine = EM_NONE;
#endif

// The first bytes of a file: is it a 64-bit ELF shared library for this machine?
void check_elf_header(const char* bytes, size_t size) {
  if (size < 4 || std::memcmp(bytes, ELFMAG, SELFMAG) != 0)
    throw PluginLoadError("not an ELF shared library");
  if (size < sizeof(Elf64_Ehdr)) throw PluginLoadError("truncated ELF header");
  Elf64_Ehdr eh;
  std::memcpy(&eh, bytes, sizeof eh);
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) throw PluginLoadError("not a 64-bit ELF library");
  if (kMachine != EM_NONE && eh.e_machine != kMachine)
    throw PluginLoadError("built for another CPU architecture");
  if (eh.e_type != ET_DYN) throw PluginLoadError("an ELF file but not a shared library");
}

// Who may have written a file or directory: its owner only, and that owner root or us.
std::string mode_problem(const struct stat& st, const char* what) {
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return std::string(what) + " is writable by " +
           ((st.st_mode & S_IWOTH) ? "others" : "its group") +
           " (chmod go-w it, or set plugins.strict_modes: false)";
  if (st.st_uid != 0 && st.st_uid != ::geteuid())
    return std::string(what) + " is owned by uid " + std::to_string(st.st_uid) +
           ", neither root nor oceand's user (uid " + std::to_string(::geteuid()) +
           "; chown it, or set plugins.strict_modes: false)";
  return {};
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads up to `n` bytes at the fd's position; fewer only at the end of the file.
size_t read_some(int fd, char* into, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t got = ::read(fd, into + done, n - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw PluginLoadError("cannot read: " + std::string(std::strerror(errno)));
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

}  // namespace

std::string plugin_dir_problem(const PluginFileRules& rules) {
  if (!rules.strict_modes) return {};
  struct stat st {};
  if (::stat(rules.dir.c_str(), &st) != 0) return {};
  return mode_problem(st, ("plugins.dir " + rules.dir.string()).c_str());
}

std::string read_plugin_file(const std::filesystem::path& file, const PluginFileRules& rules) {
  std::error_code ec;
  // A link may point anywhere; only a target inside plugins.dir is what ops put there.
  auto target = std::filesystem::canonical(file, ec);
  if (ec) throw PluginLoadError("cannot resolve: " + ec.message());
  auto dir = std::filesystem::canonical(rules.dir, ec);
  if (ec) throw PluginLoadError("cannot resolve plugins.dir: " + ec.message());
  auto relative = target.lexically_relative(dir);
  if (relative.empty() || *relative.begin() == "..")
    throw PluginLoadError("a symlink resolving outside plugins.dir (to " + target.string() + ")");

  Fd fd(::open(target.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0)
    throw PluginLoadError("cannot open for reading: " + std::string(std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    throw PluginLoadError("cannot stat: " + std::string(std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) throw PluginLoadError("not a regular file");
  if (rules.strict_modes) {
    if (std::string problem = mode_problem(st, "the file"); !problem.empty())
      throw PluginLoadError(problem);
  }
  char head[sizeof(Elf64_Ehdr)];
  size_t got = read_some(fd.get(), head, sizeof head);
  check_elf_header(head, got);
  if (static_cast<uint64_t>(st.st_size) > kMaxPluginBytes)
    throw PluginLoadError("larger than 512 MiB");
  std::string bytes(head, got);
  bytes.resize(static_cast<size_t>(st.st_size) > got ? static_cast<size_t>(st.st_size) : got);
  size_t rest = read_some(fd.get(), bytes.data() + got, bytes.size() - got);
  bytes.resize(got + rest);
  return bytes;
}

// dlopen trusts the file's headers; a truncated or foreign file is refused here first, with a
// reason an operator can act on.
void check_elf(const std::string& bytes) {
  check_elf_header(bytes.data(), bytes.size());
  Elf64_Ehdr eh;
  std::memcpy(&eh, bytes.data(), sizeof eh);
  const uint64_t size = bytes.size();
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phoff > size ||
      (size - eh.e_phoff) / sizeof(Elf64_Phdr) < eh.e_phnum)
    throw PluginLoadError("truncated or corrupt ELF program headers");
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, bytes.data() + eh.e_phoff + i * sizeof(Elf64_Phdr), sizeof ph);
    if ((ph.p_type == PT_LOAD || ph.p_type == PT_DYNAMIC) &&
        (ph.p_offset > size || ph.p_filesz > size - ph.p_offset))
      throw PluginLoadError("truncated file: a segment ends past the end of the file");
  }
  if (eh.e_shoff != 0 && (eh.e_shoff > size || eh.e_shentsize != sizeof(Elf64_Shdr) ||
                          (size - eh.e_shoff) / sizeof(Elf64_Shdr) < eh.e_shnum))
    throw PluginLoadError("truncated file: section headers end past the end of the file");
}

std::vector<std::filesystem::path> list_plugin_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    OCEAND_LOG_WARN("plugins") << "plugins.dir " << dir << " is not a directory: no plugins loaded";
    return files;
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".so") continue;
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

void inspect_plugin_file(const std::filesystem::path& file, const PluginFileRules& rules) {
  check_elf(read_plugin_file(file, rules));
  std::vector<std::string> symbols;
  try {
    boost::dll::library_info info(std::filesystem::canonical(file).string());
    symbols = info.symbols();
  } catch (const std::exception& e) {
    throw PluginLoadError(std::string("unreadable ELF symbol table: ") + e.what());
  }
  if (std::find(symbols.begin(), symbols.end(), OCEAN_PLUGIN_ENTRY_SYMBOL) == symbols.end())
    throw PluginLoadError("no entry symbol '" OCEAN_PLUGIN_ENTRY_SYMBOL
                          "' (is it an oceand plugin, built with OCEAN_PLUGIN?)");
}

}  // namespace oceand
