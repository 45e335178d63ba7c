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
  // Whatever happens below (a throw included), the renewal is handed back and what was learnt
  // recorded.
  bool poor = false;
  std::shared_ptr<const CompressionDictionary> renewed;
  struct Record {
    BodyDictionaries& self;
    const std::string& integration;
    const std::shared_ptr<const CompressionDictionary>& dictionary;
    const bool& may_renew;
    const bool& poor;
    std::shared_ptr<const CompressionDictionary>& renewed;
    ~Record() {
      std::lock_guard lock(self.mutex_);
      Current& c = self.current_[integration];
      if (renewed) {
        c.dictionary = std::move(renewed);
        c.poor = 0;
      } else if (poor && dictionary && c.dictionary == dictionary) {
        ++c.poor;
      }
      if (may_renew) c.renewing = false;
    }
  } record{*this, event.integration, dictionary, may_renew, poor, renewed};
  auto compress = [&](const std::string& bytes) {
    return dictionary ? dictionary->compress(bytes) : compress_bytes(bytes);
  };
  Compressed out{compress(event.body),
                 event.payload.empty() ? std::string() : compress(event.payload), dictionary};
  const size_t stored = out.body.size() + out.payload.size();
  poor = stored * 8 > raw * kPoorEighths;
  // The body that did not resemble the dictionary joins it (as the newest part) — unless it does
  // not compress at all, which would only push useful bytes out.
  if (may_renew && poor && stored < raw) {
    renewed = std::make_shared<const CompressionDictionary>(
        next_id_.fetch_add(1), dictionary ? dictionary->bytes() : std::string_view(),
        event.payload_json());
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
