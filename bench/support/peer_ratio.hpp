// Google Benchmark main with a peer table: each benchmark may name a peer benchmark measured in the
// same run ("unimem vs plain CUDA"); after the normal output, one line per pair gives the ratio of
// their real times; counters registered with check_counter() are listed when outside their range.
// Header-only; include it from exactly one .cpp/.cu per benchmark binary and call
// unimem::bench::run_with_peer_table(argc, argv) from main.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

namespace unimem::bench {

/// Pairs (subject, peer) of benchmark names whose time ratio is printed after the run.
inline std::vector<std::pair<std::string, std::string>>& peer_pairs() {
  static std::vector<std::pair<std::string, std::string>> pairs;
  return pairs;
}

/// Declares that `subject` should be reported relative to `peer` (full benchmark names).
inline void compare(std::string subject, std::string peer) { peer_pairs().emplace_back(std::move(subject), std::move(peer)); }

/// True under UNIMEM_BENCH_QUICK=1 (the README's run command): benchmarks then run a reduced sweep
/// so that the whole suite stays short.
inline bool quick_mode() {
  const char* quick = std::getenv("UNIMEM_BENCH_QUICK");
  return quick != nullptr && std::string(quick) == "1";
}

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

// Google Benchmark 1.8 replaced Run::error_occurred with Run::skipped; Debian 12 ships 1.7, Ubuntu
// 24.04 ships 1.8.3.
template <class R>
auto run_failed(const R& r, int) -> decltype(static_cast<bool>(r.skipped)) {
  return static_cast<bool>(r.skipped);
}
template <class R>
bool run_failed(const R& r, long) {
  return r.error_occurred;
}

class peer_reporter : public ::benchmark::ConsoleReporter {
 public:
  // Colour only on a terminal: run.sh tees the output into build/results/*.txt.
  peer_reporter() : ConsoleReporter(::isatty(::fileno(stdout)) ? OO_Defaults : OO_Tabular) {}

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
    ConsoleReporter::ReportRuns(runs);
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    print_counter_checks();
    if (peer_pairs().empty()) return;
    std::printf("\n%-60s %-40s %8s\n", "subject", "peer (same run)", "ratio");
    for (const auto& [subject, peer] : peer_pairs()) {
      const auto s = times_.find(subject), p = times_.find(peer);
      if (s == times_.end() && p == times_.end()) continue;  // filtered out or skipped
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

// Google Benchmark 1.8 spells a minimum time "0.05s", 1.7 "0.05"; State::SkipWithMessage exists
// only in 1.8, which tells the two apart at compile time.
template <class S>
auto quick_min_time(S*, int) -> decltype(std::declval<S&>().SkipWithMessage(""), "--benchmark_min_time=0.05s") {
  return "--benchmark_min_time=0.05s";
}
template <class S>
const char* quick_min_time(S*, long) {
  return "--benchmark_min_time=0.05";
}

/// With UNIMEM_BENCH_QUICK=1 in the environment (the README's run command sets it) and no
/// --benchmark_min_time on the command line, appends a 0.05 s minimum time to the arguments.
/// `storage` keeps the new argv alive; call before ::benchmark::Initialize.
inline void apply_quick_mode(int& argc, char**& argv, std::vector<char*>& storage) {
  static std::string quick_flag = quick_min_time(static_cast<::benchmark::State*>(nullptr), 0);
  storage.assign(argv, argv + argc);
  bool has_min_time = false;
  for (int i = 1; i < argc; ++i) has_min_time |= std::string(argv[i]).rfind("--benchmark_min_time", 0) == 0;
  if (quick_mode() && !has_min_time) storage.push_back(quick_flag.data());
  storage.push_back(nullptr);
  argc = static_cast<int>(storage.size()) - 1;
  argv = storage.data();
}

/// Runs the registered benchmarks and prints the peer table (quick mode as above).
inline int run_with_peer_table(int argc, char** argv) {
  std::vector<char*> args;
  apply_quick_mode(argc, argv, args);
  ::benchmark::Initialize(&argc, argv);
  if (::benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  peer_reporter reporter;
  // A file reporter (--benchmark_out) still gets the JSON; the console gets the table.
  ::benchmark::RunSpecifiedBenchmarks(&reporter);
  ::benchmark::Shutdown();
  return 0;
}

}  // namespace unimem::bench
