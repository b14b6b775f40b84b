// What every benchmark binary's main() shares: quick mode (UNIMEM_BENCH_QUICK=1), registration
// that leaves out what cannot run on this machine, and the differences between Google Benchmark
// 1.7 (Debian 12, the CI machine) and 1.8 (Ubuntu 24.04, the GPU machine). Header-only.
//
// A benchmark that cannot run here (no GPU, or a capability the device lacks, such as
// pageableMemoryAccess = 0 for kernels reading malloc'd memory) is not registered at all: no table
// row then reads ERROR OCCURRED for an absence that is expected. Instead the binary prints one line
// before its table, for example
//   bench_bandwidth: left out 2 of 43 benchmarks: copy_sm/h2d/pageable, copy_sm/d2h/pageable: a kernel
//   reading or writing pageable memory needs pageableMemoryAccess = 1 (NVIDIA H200: 0; ...)
// and puts the same line in the JSON context as "unimem_left_out" (scripts/summarize_results.py
// reads it). Registering in main() after checking the device works with 1.7, which has no
// State::SkipWithMessage, as well as with 1.8.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

namespace unimem::bench {

/// True under UNIMEM_BENCH_QUICK=1 (the README's run command): benchmarks then run a reduced sweep
/// so that the whole suite stays short.
inline bool quick_mode() {
  const char* quick = std::getenv("UNIMEM_BENCH_QUICK");
  return quick != nullptr && std::string(quick) == "1";
}

// ------------------------------------------------------------------------------------------------
// Google Benchmark 1.7 and 1.8. 1.8 replaced Run::error_occurred/error_message with
// Run::skipped/skip_message and added State::SkipWithMessage; each pair below picks what exists.

template <class R>
auto run_failed(const R& r, int) -> decltype(static_cast<bool>(r.skipped)) {
  return static_cast<bool>(r.skipped);
}
template <class R>
bool run_failed(const R& r, long) {
  return r.error_occurred;
}

template <class R>
auto run_message(const R& r, int) -> decltype(std::string(r.skip_message)) {
  return r.skip_message;
}
template <class R>
std::string run_message(const R& r, long) {
  return r.error_message;
}

/// The prefix of a run skipped on purpose while running (a size predicted to take too long): the
/// console shows such a run as skipped, not as an error.
inline constexpr const char* skipped_prefix = "skipped: ";

template <class S>
auto skip_state(S& state, const std::string& message, int) -> decltype(state.SkipWithMessage(message)) {
  return state.SkipWithMessage(message);
}
template <class S>
void skip_state(S& state, const std::string& message, long) {
  state.SkipWithError(message.c_str());
}

/// Skips the current run on purpose, with `why` (1.8: SkipWithMessage; 1.7: SkipWithError, shown
/// as skipped by console_reporter). For what is known before the run, leave_out() is the way.
inline void skip_run(::benchmark::State& state, const std::string& why) {
  skip_state(state, skipped_prefix + why, 0);
}

/// Google Benchmark's console output, except that a run skipped with skip_run() reads
/// "skipped: ..." rather than "ERROR OCCURRED". Colour only on a terminal: run.sh keeps the
/// output in build/results/*.txt.
class console_reporter : public ::benchmark::ConsoleReporter {
 public:
  console_reporter() : ConsoleReporter(::isatty(::fileno(stdout)) ? OO_Defaults : OO_Tabular) {}

 protected:
  void PrintRunData(const Run& r) override {
    const std::string message = run_failed(r, 0) ? run_message(r, 0) : std::string();
    if (message.rfind(skipped_prefix, 0) != 0) {
      ConsoleReporter::PrintRunData(r);
      return;
    }
    std::fprintf(stdout, "%-*s %s\n", static_cast<int>(name_field_width_), r.benchmark_name().c_str(), message.c_str());
    std::fflush(stdout);
  }
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

// ------------------------------------------------------------------------------------------------
// Registration and what is left out.

/// What one binary registered and left out.
struct registration_log {
  struct group {
    std::string reason;
    std::vector<std::string> names;
  };
  std::size_t registered = 0;
  std::vector<group> left_out;  ///< in the order first seen, one group per reason
};

inline registration_log& registrations() {
  static registration_log log;
  return log;
}

/// Registers a benchmark (the arguments of benchmark::RegisterBenchmark) and counts it.
template <class... Args>
::benchmark::internal::Benchmark* add(const std::string& name, Args&&... args) {
  ++registrations().registered;
  return ::benchmark::RegisterBenchmark(name.c_str(), std::forward<Args>(args)...);
}

/// Records that `name` is not registered here because of `reason`: one short clause that names
/// the capability and this device's value, e.g. "registered memory (cudaHostRegister) needs
/// hostRegisterSupported = 1 (Jetson Nano: 0)" (bench_env.hpp's needs_capability writes them).
inline void leave_out(const std::string& name, const std::string& reason) {
  auto& groups = registrations().left_out;
  for (auto& g : groups) {
    if (g.reason == reason) {
      g.names.push_back(name);
      return;
    }
  }
  groups.push_back({reason, {name}});
}

/// "<binary>: left out K of N benchmarks: <names or a count>: <reason>; ...", or "" when nothing
/// was left out. Up to three names are listed per reason; more are counted.
inline std::string left_out_line(const std::string& binary) {
  const registration_log& log = registrations();
  std::size_t count = 0;
  for (const auto& g : log.left_out) count += g.names.size();
  if (count == 0) return {};
  const std::string total = std::to_string(count + log.registered);
  std::string line = binary + ": left out " +
                     (log.registered == 0 ? "all " + total : std::to_string(count) + " of " + total) + " benchmarks";
  const bool one_reason = log.left_out.size() == 1;
  const char* sep = ": ";
  for (const auto& g : log.left_out) {
    line += sep;
    sep = "; ";
    if (g.names.size() <= 3 && log.registered > 0) {
      for (std::size_t i = 0; i < g.names.size(); ++i) line += (i == 0 ? "" : ", ") + g.names[i];
      line += ": ";
    } else if (!one_reason) {
      line += std::to_string(g.names.size()) + " benchmarks: ";
    }
    line += g.reason;
  }
  return line;
}

/// True when the benchmark called `name` (a family name, or a full name with arguments such as
/// "frame_1080p/zero_copy_ring_slot/real_time") was left out here.
inline bool was_left_out(const std::string& name) {
  for (const auto& g : registrations().left_out) {
    for (const auto& n : g.names) {
      if (name.compare(0, n.size(), n) == 0 && (name.size() == n.size() || name[n.size()] == '/')) return true;
    }
  }
  return false;
}

inline std::string program_name(const char* argv0) {
  const std::string p = argv0 != nullptr ? argv0 : "benchmark";
  const auto slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

/// Starts a benchmark main after registration: quick mode, Google Benchmark's own options (an
/// unknown option is an error), then the left-out line, printed and put in the JSON context.
/// @return false when main should return `exit_code` at once: a bad option (1), or nothing
///         registered on this machine (0; Google Benchmark would report a failed match)
inline bool begin_run(int& argc, char**& argv, std::vector<char*>& storage, int& exit_code) {
  const std::string binary = program_name(argc > 0 ? argv[0] : nullptr);
  apply_quick_mode(argc, argv, storage);
  ::benchmark::Initialize(&argc, argv);
  if (::benchmark::ReportUnrecognizedArguments(argc, argv)) {
    exit_code = 1;
    return false;
  }
  const std::string line = left_out_line(binary);
  if (!line.empty()) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    ::benchmark::AddCustomContext("unimem_left_out", line);
  }
  exit_code = 0;
  return registrations().registered > 0;
}

/// The end of every benchmark main: begin_run, then `before` (a line about the device, say), the
/// registered benchmarks through `reporter` (a file reporter from --benchmark_out still gets the
/// JSON), `after` (a table built from what the reporter kept), and Shutdown.
/// @return main's exit status
inline int run_benchmarks(int argc, char** argv, ::benchmark::BenchmarkReporter& reporter,
                          const std::function<void()>& before = {}, const std::function<void()>& after = {}) {
  std::vector<char*> args;
  int exit_code = 0;
  if (!begin_run(argc, argv, args, exit_code)) return exit_code;
  if (before) before();
  ::benchmark::RunSpecifiedBenchmarks(&reporter);
  if (after) after();
  ::benchmark::Shutdown();
  return 0;
}

}  // namespace unimem::bench
