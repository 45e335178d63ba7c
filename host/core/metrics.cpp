#include "core/metrics.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace oceand {

namespace {
std::string escape_label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out.append("\\n");
      continue;
    }
    out.push_back(c);
  }
  return out;
}

// The shortest text that reads back as the same double: le="0.0025", not "0.0025000000000000001".
std::string format_value(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}

// Every family has HELP text (promtool lints one without): counters plugins keep under their own
// names are described here, since no host code knows them in advance.
std::string help_of(const std::string& name, const std::string& help) {
  if (!help.empty()) return help;
  if (name.rfind("oceand_plugin_", 0) == 0)
    return "A counter a plugin keeps (ocean::metric_add), by plugin.";
  return "oceand metric " + name + ".";
}

std::string with_label(const std::string& labels, const std::string& extra) {
  if (labels.empty()) return "{" + extra + "}";
  return labels.substr(0, labels.size() - 1) + "," + extra + "}";
}
}  // namespace

Metrics::Metrics()
    : bounds_{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120} {
}

std::string Metrics::render_labels(const Labels& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out.push_back(',');
    out.append(labels[i].first).append("=\"").append(escape_label(labels[i].second)).append("\"");
  }
  out.push_back('}');
  return out;
}

void Metrics::describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard lock(mutex_);
  auto& f = families_[name];
  f.type = type;
  f.help = help;
  f.described = true;
}

void Metrics::add(const std::string& name, const Labels& labels, double delta) {
  auto key = render_labels(labels);
  std::lock_guard lock(mutex_);
  families_[name].values[key] += delta;
}

void Metrics::observe(const std::string& name, const Labels& labels, double value) {
  auto key = render_labels(labels);
  std::lock_guard lock(mutex_);
  auto& f = families_[name];
  f.type = "histogram";
  auto& h = f.histograms[key];
  if (h.counts.empty()) h.counts.assign(bounds_.size() + 1, 0);
  for (size_t i = 0; i < bounds_.size(); ++i)
    if (value <= bounds_[i]) h.counts[i] += 1;
  h.counts.back() += 1;
  h.sum += value;
  h.count += 1;
}

void Metrics::gauge(const std::string& name, const Labels& labels, std::function<double()> read) {
  auto key = render_labels(labels);
  std::lock_guard lock(mutex_);
  auto& f = families_[name];
  // A counter read on demand (process_cpu_seconds_total) keeps the type it was described with.
  if (!f.described) f.type = "gauge";
  f.gauges[key] = std::move(read);
}

double Metrics::value(const std::string& name, const Labels& labels) const {
  auto key = render_labels(labels);
  std::lock_guard lock(mutex_);
  auto f = families_.find(name);
  if (f == families_.end()) return 0;
  auto v = f->second.values.find(key);
  if (v != f->second.values.end()) return v->second;
  auto h = f->second.histograms.find(key);
  return h == f->second.histograms.end() ? 0 : h->second.count;
}

double Metrics::total(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto f = families_.find(name);
  if (f == families_.end()) return 0;
  double sum = 0;
  for (const auto& [_, v] : f->second.values) sum += v;
  for (const auto& [_, h] : f->second.histograms) sum += h.count;
  return sum;
}

std::string Metrics::render() const {
  std::ostringstream out;
  std::lock_guard lock(mutex_);
  for (const auto& [name, f] : families_) {
    if (f.values.empty() && f.histograms.empty() && f.gauges.empty()) continue;
    out << "# HELP " << name << ' ' << help_of(name, f.help) << '\n';
    out << "# TYPE " << name << ' ' << f.type << '\n';
    for (const auto& [labels, v] : f.values)
      out << name << labels << ' ' << format_value(v) << '\n';
    for (const auto& [labels, read] : f.gauges)
      out << name << labels << ' ' << format_value(read()) << '\n';
    for (const auto& [labels, h] : f.histograms) {
      for (size_t i = 0; i < bounds_.size(); ++i)
        out << name << "_bucket" << with_label(labels, "le=\"" + format_value(bounds_[i]) + "\"")
            << ' ' << format_value(h.counts[i]) << '\n';
      out << name << "_bucket" << with_label(labels, "le=\"+Inf\"") << ' '
          << format_value(h.counts.back()) << '\n';
      out << name << "_sum" << labels << ' ' << format_value(h.sum) << '\n';
      out << name << "_count" << labels << ' ' << format_value(h.count) << '\n';
    }
  }
  return out.str();
}

}  // namespace oceand
