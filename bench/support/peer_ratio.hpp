// Google Benchmark main with a peer table: each benchmark may name a peer benchmark measured in the
// same run ("unimem vs plain CUDA"); after the normal output, one line per pair gives the ratio of
// their real times; counters registered with check_counter() are listed when outside their range.
// Header-only; include it from exactly one .cpp/.cu per benchmark binary and call
// unimem::bench::run_with_peer_table(argc, argv) from main.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "support/bench_main.hpp"

namespace unimem::bench {

/// Pairs (subject, peer) of benchmark names whose time ratio is printed after the run.
inline std::vector<std::pair<std::string, std::string>>& peer_pairs() {
  static std::vector<std::pair<std::string, std::string>> pairs;
  return pairs;
}

/// Declares that `subject` should be reported relative to `peer` (full benchmark names).
inline void compare(std::string subject, std::string peer) { peer_pairs().emplace_back(std::move(subject), std::move(peer)); }

/// A counter that every benchmark reporting it should keep within [lo, hi] (e.g. a ratio against
/// plain CUDA measured in the same loop); after the run the reporter lists the ones outside.
struct counter_check {
  std::string counter;
  double lo = 0;
  double hi = 0;
  std::string meaning;
};
inline std::vector<counter_check>& counter_checks() {
  static std::vector<counter_check> checks;
  return checks;
}
inline void check_counter(std::string counter, double lo, double hi, std::string meaning) {
  counter_checks().push_back({std::move(counter), lo, hi, std::move(meaning)});
}

class peer_reporter : public console_reporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (r.run_type == Run::RT_Iteration && !run_failed(r, 0)) {
        times_[r.benchmark_name()] = r.GetAdjustedRealTime();
        for (const auto& c : counter_checks()) {
          const auto it = r.counters.find(c.counter);
          if (it != r.counters.end()) checked_[c.counter][r.benchmark_name()] = it->second.value;
        }
      }
    }
    console_reporter::ReportRuns(runs);
  }
  void Finalize() override {
    console_reporter::Finalize();
    print_counter_checks();
    if (peer_pairs().empty()) return;
    std::printf("\n%-60s %-40s %8s\n", "subject", "peer (same run)", "ratio");
    for (const auto& [subject, peer] : peer_pairs()) {
      const auto s = times_.find(subject), p = times_.find(peer);
      if (s == times_.end() && p == times_.end()) continue;  // filtered out or skipped
      if (was_left_out(subject) || was_left_out(peer)) continue;  // the left-out line says why
      if (s == times_.end() || p == times_.end() || p->second <= 0) {
        std::printf("%-58s %-52s %8s\n", subject.c_str(), peer.c_str(), "n/a");
        continue;
      }
      std::printf("%-58s %-52s %7.2fx\n", subject.c_str(), peer.c_str(), s->second / p->second);
    }
  }

 private:
  void print_counter_checks() const {
    for (const auto& c : counter_checks()) {
      const auto found = checked_.find(c.counter);
      if (found == checked_.end()) continue;
      int outside = 0;
      for (const auto& [name, value] : found->second) outside += (value < c.lo || value > c.hi) ? 1 : 0;
      std::printf("\n%s in [%.2f, %.2f] (%s): %zu of %zu benchmarks\n", c.counter.c_str(), c.lo, c.hi, c.meaning.c_str(),
                  found->second.size() - static_cast<std::size_t>(outside), found->second.size());
      for (const auto& [name, value] : found->second) {
        if (value < c.lo || value > c.hi) std::printf("  outside: %-70s %8.3f\n", name.c_str(), value);
      }
    }
  }

  std::map<std::string, double> times_;
  std::map<std::string, std::map<std::string, double>> checked_;
};

/// Runs the registered benchmarks and prints the peer table (quick mode and the left-out line as
/// in begin_run).
inline int run_with_peer_table(int argc, char** argv) {
  peer_reporter reporter;
  return run_benchmarks(argc, argv, reporter);
}

}  // namespace unimem::bench
