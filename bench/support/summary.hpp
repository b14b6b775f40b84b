// Bench support: a reporter that shows the usual console output and keeps every run, so that a
// benchmark can print ratios against peers measured in the same run.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

namespace unimem::bench {

namespace detail {
// Google Benchmark 1.8 renamed Run::error_occurred to Run::skipped; accept both.
template <class R>
auto skipped(const R& r, int) -> decltype(static_cast<bool>(r.skipped)) {
  return static_cast<bool>(r.skipped);
}
template <class R>
bool skipped(const R& r, long) {
  return r.error_occurred;
}
}  // namespace detail

class keeping_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration || detail::skipped(r, 0)) continue;
      // Both the registered name and the full name with arguments ("bm_x/65536") find a run.
      kept_[r.run_name.function_name] = r;
      kept_[r.benchmark_name()] = r;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  /// The run called `name`, or null.
  const Run* find(const std::string& name) const {
    auto it = kept_.find(name);
    return it == kept_.end() ? nullptr : &it->second;
  }
  /// A user counter of a run (0 when missing).
  double counter(const std::string& name, const std::string& key) const {
    const Run* r = find(name);
    if (r == nullptr) return 0.0;
    auto it = r->counters.find(key);
    return it == r->counters.end() ? 0.0 : static_cast<double>(it->second);
  }

 private:
  std::map<std::string, Run> kept_;
};

}  // namespace unimem::bench
