#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace oceand {

// What a file in plugins.dir must be before any byte of it runs (sshd's StrictModes applied to
// plugins): checked on the open file, so what is checked is what is read.
struct PluginFileRules {
  std::filesystem::path dir;  // plugins.dir
  // plugins.strict_modes: the file and the directory writable only by their owner, and owned by
  // root or by oceand's own user.
  bool strict_modes = true;
};

// Why `dir` itself cannot be trusted under the rules (writable by group or others, owned by
// another user), or empty. A missing directory is not a problem here.
std::string plugin_dir_problem(const PluginFileRules& rules);

// The file's bytes, after: a symlink must resolve inside plugins.dir; it must be a regular file;
// under strict modes, owned by root or oceand's user and not writable by group or others; its ELF
// header must be a 64-bit shared library for this machine (checked before the rest is read, so
// a large foreign file costs one small read); at most 512 MiB. Throws PluginLoadError.
std::string read_plugin_file(const std::filesystem::path& file, const PluginFileRules& rules);

// The ELF checks dlopen would otherwise trust (headers, program and section tables within the
// file). Throws PluginLoadError.
void check_elf(const std::string& bytes);

// The *.so files of plugins.dir, sorted (empty, with a warning, when it is not a directory).
std::vector<std::filesystem::path> list_plugin_files(const std::filesystem::path& dir);

// Everything that can be known of a plugin file without running any of its code (oceand --check):
// the rules above, the ELF checks, and the entry symbol among its exported dynamic symbols (read
// by Boost.DLL's library_info, which parses the file and maps nothing). Throws PluginLoadError.
void inspect_plugin_file(const std::filesystem::path& file, const PluginFileRules& rules);

}  // namespace oceand
