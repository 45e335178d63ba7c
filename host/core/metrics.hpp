#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace oceand {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Counters, gauges and histograms, rendered in the Prometheus text exposition format.
class Metrics {
 public:
  Metrics();

  void describe(const std::string& name, const std::string& type, const std::string& help);
  void add(const std::string& name, const Labels& labels, double delta = 1.0);
  void observe(const std::string& name, const Labels& labels, double value);
  // A gauge read when /metrics is rendered.
  void gauge(const std::string& name, const Labels& labels, std::function<double()> read);

  double value(const std::string& name, const Labels& labels = {}) const;
  // Sum over every label set of `name`.
  double total(const std::string& name) const;
  std::string render() const;

 private:
  struct Histogram {
    std::vector<double> counts;  // one per bucket bound, then +Inf
    double sum = 0;
    double count = 0;
  };
  struct Family {
    std::string type = "counter";
    bool described = false;  // by describe(): its type stands
    std::string help;
    std::map<std::string, double> values;  // rendered label set -> value
    std::map<std::string, Histogram> histograms;
    std::map<std::string, std::function<double()>> gauges;
  };

  static std::string render_labels(const Labels& labels);

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
  std::vector<double> bounds_;
};

}  // namespace oceand
