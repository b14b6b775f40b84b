// Static memory planner over every shared lifetimes file and allocation trace, and over 100 000
// random tensors in three densities. Each case runs unimem's planner and, as the peer measured in
// the same run, plain greedy-by-size (Pisarchyk & Lee 2020); counters give the arena over the
// lower bound for both.
//
//   ./build/bench/bench_planner --benchmark_counters_tabular=true
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "support/peer_ratio.hpp"

#include <unimem/planning/planner.hpp>

namespace {

using lifetimes = std::vector<unimem::tensor_lifetime>;

void report(benchmark::State& state, const lifetimes& t, const unimem::memory_plan& plan,
            const unimem::memory_plan* peer) {
  state.counters["tensors"] = static_cast<double>(t.size());
  state.counters["arena_MiB"] = static_cast<double>(plan.arena_bytes) / (1 << 20);
  state.counters["lower_bound_MiB"] = static_cast<double>(plan.lower_bound_bytes) / (1 << 20);
  state.counters["naive_MiB"] = static_cast<double>(unimem::naive_bytes(t)) / (1 << 20);
  state.counters["arena_over_lb"] = plan.ratio();
  // The peer in the same run: plain greedy-by-size's arena over the lower bound, and ours over
  // its. Without it (too dense for its conflict graph) both read 0.
  state.counters["greedy_by_size_over_lb"] = peer != nullptr ? peer->ratio() : 0.0;
  state.counters["arena_vs_greedy_by_size"] =
      peer == nullptr ? 0.0
      : peer->arena_bytes == 0
          ? 1.0
          : static_cast<double>(plan.arena_bytes) / static_cast<double>(peer->arena_bytes);
  if (!unimem::validate_plan(t, plan)) state.SkipWithError("invalid plan");
}

// Plain greedy-by-size walks the conflict graph: above this many pairs it would need gigabytes.
constexpr std::uint64_t peer_max_pairs = 50000000;

void bench_unimem(benchmark::State& state, const lifetimes* t) {
  unimem::memory_plan plan;
  for (auto _ : state) {
    plan = unimem::plan_memory(*t);
    benchmark::DoNotOptimize(plan.arena_bytes);
  }
  if (unimem::overlapping_pairs(*t) <= peer_max_pairs) {
    const unimem::memory_plan peer = unimem::plan_greedy_by_size(*t);
    report(state, *t, plan, &peer);
  } else {
    report(state, *t, plan, nullptr);
  }
  state.SetLabel(plan.method);
}

void bench_greedy_by_size(benchmark::State& state, const lifetimes* t) {
  if (unimem::overlapping_pairs(*t) > peer_max_pairs) {
    state.SkipWithError("too dense for plain greedy-by-size's conflict graph");
    for (auto _ : state) {
    }
    return;
  }
  unimem::memory_plan plan;
  for (auto _ : state) {
    plan = unimem::plan_greedy_by_size(*t);
    benchmark::DoNotOptimize(plan.arena_bytes);
  }
  report(state, *t, plan, &plan);
}

// 100 000 tensors: first_op uniform over `horizon` ops, lifetime uniform in [1, max_ops] ops,
// sizes log-uniform from 256 B to 16 MiB (seeded: every run plans the same tensors).
lifetimes random_tensors(std::size_t n, std::size_t horizon, std::size_t max_ops, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> log_size(8.0, 24.0);
  lifetimes t(n);
  for (auto& x : t) {
    x.first_op = rng() % horizon;
    x.last_op = x.first_op + rng() % max_ops;
    x.bytes = static_cast<std::size_t>(std::pow(2.0, log_size(rng)));
  }
  return t;
}

std::vector<std::pair<std::string, lifetimes>>& inputs() {
  static std::vector<std::pair<std::string, lifetimes>> all;
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (const char* sub : {"lifetimes", "alloc-traces"}) {
    const fs::path dir = fs::path(UNIMEM_BENCH_DATA_DIR) / sub;
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  auto& in = inputs();
  in.reserve(files.size() + 3);
  for (const auto& f : files) {
    in.emplace_back(f.parent_path().filename().string() + "/" + f.filename().string(),
                    unimem::load_tensor_lifetimes(f.string()));
  }
  in.emplace_back("random/100000/sparse", random_tensors(100000, 100000, 8, 1));    // ~4 live at a time
  in.emplace_back("random/100000/medium", random_tensors(100000, 100000, 24, 2));   // ~12 live
  in.emplace_back("random/100000/dense", random_tensors(100000, 1000, 1000, 3));    // ~50 000 live
  for (const auto& [name, t] : in) {
    benchmark::RegisterBenchmark(("plan/" + name).c_str(), bench_unimem, &t)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("greedy_by_size/" + name).c_str(), bench_greedy_by_size, &t)
        ->Unit(benchmark::kMillisecond);
  }
  std::vector<char*> args;
  unimem::bench::apply_quick_mode(argc, argv, args);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
