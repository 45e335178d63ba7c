#pragma once

#include <string>

namespace oceand {

// A Port entity produced by a mapping: {"identifier", "blueprint", "title"?, "icon"?, "team"?,
// "properties": {...}, "relations": {...}} as JSON text.
struct MappedEntity {
  std::string blueprint;
  std::string identifier;
  std::string json;
};

}  // namespace oceand
