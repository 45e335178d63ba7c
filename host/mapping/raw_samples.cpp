#include "mapping/raw_samples.hpp"

namespace oceand {

void RawSamples::record(const std::string& integration, const std::string& kind,
                        const RawResults& raw) {
  std::lock_guard lock(mutex_);
  auto key = std::make_pair(integration, kind);
  auto it = kept_.find(key);
  if (it == kept_.end()) {
    if (kept_.size() >= kMaxKeys) return;  // kinds named by plugins: never an unbounded map
    it = kept_.emplace(std::move(key), std::deque<Item>{}).first;
  }
  auto keep = [&](const std::string& text, bool deleted) {
    if (text.size() > kMaxItemBytes) return;
    // Two resources of one kind map the same results: kept once.
    const size_t n = it->second.size();
    for (size_t i = n > 8 ? n - 8 : 0; i < n; ++i)
      if (it->second[i].deleted == deleted && it->second[i].text == text) return;
    it->second.push_back({text, deleted});
    bytes_ += text.size();
    // Over either bound, this kind's oldest go first (then, if need be, the first kind's).
    while (it->second.size() > kPerKind || (bytes_ > kMaxTotalBytes && it->second.size() > 1)) {
      bytes_ -= it->second.front().text.size();
      it->second.pop_front();
    }
    for (auto other = kept_.begin(); bytes_ > kMaxTotalBytes && other != kept_.end(); ++other)
      while (other != it && !other->second.empty() && bytes_ > kMaxTotalBytes) {
        bytes_ -= other->second.front().text.size();
        other->second.pop_front();
      }
  };
  for (const auto& text : raw.updated) keep(text, false);
  for (const auto& text : raw.deleted) keep(text, true);
}

RawResults RawSamples::samples(const std::string& integration, const std::string& kind) const {
  std::lock_guard lock(mutex_);
  RawResults out;
  auto it = kept_.find({integration, kind});
  if (it == kept_.end()) return out;
  for (const auto& item : it->second)
    (item.deleted ? out.deleted : out.updated).push_back(item.text);
  return out;
}

}  // namespace oceand
