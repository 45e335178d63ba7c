#pragma once

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "mapping/port_app_config.hpp"
#include "plugins/generation.hpp"
#include "processing/result_sink.hpp"
#include "queue/event.hpp"

namespace oceand {

// Counts and logs raw results without applying them: what oceand does until an applier is set.
class LogSink final : public ResultSink {
 public:
  explicit LogSink(Metrics& metrics) : metrics_(metrics) {}
  ApplyOutcome apply(const Integration& integration, const ResourceMapping& resource,
                     const Event& event, RawResults& results) override {
    metrics_.add("oceand_raw_results_total",
                 {{"integration", integration.config.identifier},
                  {"kind", resource.kind},
                  {"op", "updated"}},
                 static_cast<double>(results.updated.size()));
    metrics_.add("oceand_raw_results_total",
                 {{"integration", integration.config.identifier},
                  {"kind", resource.kind},
                  {"op", "deleted"}},
                 static_cast<double>(results.deleted.size()));
    LOG_INFO("results") << "event " << event.id << " kind=" << resource.kind << ": "
                        << results.updated.size() << " updated, " << results.deleted.size()
                        << " deleted raw result(s)";
    return ApplyOutcome::applied();
  }

 private:
  Metrics& metrics_;
};

}  // namespace oceand
