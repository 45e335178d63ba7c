#pragma once

#include <exception>
#include <string>

namespace oceand {

// Runs `fn`, a call into plugin code, and returns "" or what escaped it. The ABI forbids unwinding
// across it, but a plugin written without the SDK can still throw; without this the exception
// reaches std::terminate and takes every integration down.
template <class Fn>
[[nodiscard]] std::string call_guarded(Fn&& fn) noexcept {
  try {
    fn();
    return {};
  } catch (const std::exception& e) {
    return std::string("an exception escaped the plugin: ") + e.what();
  } catch (...) {
    return "a non-standard exception escaped the plugin";
  }
}

}  // namespace oceand
