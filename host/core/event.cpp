#include "core/event.hpp"

namespace oceand {

size_t Event::memory_bytes() const {
  size_t n = sizeof(Event) + integration.size() + route.size() + body.size() + payload.size() +
             delivery_id.size();
  for (const auto& [k, v] : headers) n += k.size() + v.size() + 2 * sizeof(std::string);
  return n;
}

}  // namespace oceand
