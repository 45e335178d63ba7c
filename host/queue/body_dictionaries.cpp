#include "queue/body_dictionaries.hpp"

#include "queue/event_codec.hpp"

namespace oceand {

std::optional<BodyDictionaries::Compressed> BodyDictionaries::compress(const Event& event) {
  const size_t raw = event.body.size() + event.payload.size();
  if (raw < kMinCompressible) return std::nullopt;
  std::shared_ptr<const CompressionDictionary> dictionary;
  bool may_renew = false;
  {
    std::lock_guard lock(mutex_);
    Current& c = current_[event.integration];
    dictionary = c.dictionary;
    may_renew = !c.renewing && (!c.dictionary || c.poor >= kPoorBeforeRenewal);
    if (may_renew) c.renewing = true;
  }
  auto compress = [&](const std::string& bytes) {
    return dictionary ? dictionary->compress(bytes) : compress_bytes(bytes);
  };
  Compressed out{compress(event.body),
                 event.payload.empty() ? std::string() : compress(event.payload), dictionary};
  const size_t stored = out.body.size() + out.payload.size();
  const bool poor = stored * 8 > raw * kPoorEighths;
  // The body that did not resemble the dictionary joins it (as the newest part).
  std::shared_ptr<const CompressionDictionary> renewed;
  if (may_renew && poor) {
    renewed = std::make_shared<const CompressionDictionary>(
        next_id_.fetch_add(1), dictionary ? dictionary->bytes() : std::string_view(),
        event.payload_json());
  }
  {
    std::lock_guard lock(mutex_);
    Current& c = current_[event.integration];
    if (renewed) {
      c.dictionary = std::move(renewed);
      c.poor = 0;
    } else if (poor && dictionary && c.dictionary == dictionary) {
      ++c.poor;
    }
    if (may_renew) c.renewing = false;
  }
  if (stored >= raw) return std::nullopt;
  return out;
}

void BodyDictionaries::clear() {
  std::lock_guard lock(mutex_);
  // A pusher renewing meanwhile installs its dictionary into a fresh entry: harmless.
  current_.clear();
}

std::vector<uint64_t> BodyDictionaries::current_ids() {
  std::lock_guard lock(mutex_);
  std::vector<uint64_t> ids;
  for (const auto& [integration, c] : current_)
    if (c.dictionary) ids.push_back(c.dictionary->id());
  return ids;
}

}  // namespace oceand
