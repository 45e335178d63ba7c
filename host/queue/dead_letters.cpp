#include "queue/dead_letters.hpp"

#include "core/log.hpp"

namespace oceand {

uint64_t MemoryDeadLetters::add(DeadLetter letter) {
  std::lock_guard lock(mutex_);
  letter.id = next_id_++;
  letters_.push_back(std::move(letter));
  while (letters_.size() > retention_) {
    OCEAND_LOG_WARN("dead-letters")
        << "retention bound " << retention_ << " reached: dropping dead letter "
        << letters_.front().id << " (event " << letters_.front().event->id << ")";
    letters_.pop_front();
  }
  return letters_.back().id;
}

std::vector<DeadLetter> MemoryDeadLetters::list(size_t limit, size_t offset) const {
  std::lock_guard lock(mutex_);
  std::vector<DeadLetter> out;
  if (offset >= letters_.size()) return out;
  for (auto it = letters_.rbegin() + static_cast<std::ptrdiff_t>(offset);
       it != letters_.rend() && out.size() < limit; ++it)
    out.push_back(*it);
  return out;
}

std::optional<DeadLetter> MemoryDeadLetters::get(uint64_t id) const {
  std::lock_guard lock(mutex_);
  for (const auto& letter : letters_)
    if (letter.id == id) return letter;
  return std::nullopt;
}

std::optional<DeadLetter> MemoryDeadLetters::take(uint64_t id) {
  std::lock_guard lock(mutex_);
  for (auto it = letters_.begin(); it != letters_.end(); ++it) {
    if (it->id == id) {
      DeadLetter letter = std::move(*it);
      letters_.erase(it);
      return letter;
    }
  }
  return std::nullopt;
}

size_t MemoryDeadLetters::size() const {
  std::lock_guard lock(mutex_);
  return letters_.size();
}

}  // namespace oceand
