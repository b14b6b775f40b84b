// Bench support: a reporter that shows the usual console output and keeps every run, so that a
// benchmark can print ratios against peers measured in the same run.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "support/bench_main.hpp"

namespace unimem::bench {

class keeping_reporter : public console_reporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration || run_failed(r, 0)) continue;
      // Both the registered name and the full name with arguments ("bm_x/65536") find a run.
      kept_[r.run_name.function_name] = r;
      kept_[r.benchmark_name()] = r;
    }
    console_reporter::ReportRuns(runs);
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
