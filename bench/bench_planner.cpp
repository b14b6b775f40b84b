// Static memory planner over every shared lifetimes file and allocation trace, the recorded
// workload traces, the synthetic families (plan_families.hpp) from 1 000 to 1 000 000 tensors,
// and MiniMalloc's 11 challenging instances. Each case runs unimem's planner and, where its
// conflict graph fits, plain greedy-by-size (Pisarchyk & Lee 2020) as the peer measured in the
// same run; counters give the arena over the lower bound for both, whether the plan is proved
// optimal, and the time per 100 000 tensors.
//
//   ./build/bench/bench_planner --benchmark_counters_tabular=true
//   ./build/bench/bench_planner --benchmark_filter=minimalloc   # MiniMalloc's set only
//   UNIMEM_BENCH_QUICK=1 ...                                     # families up to 100 000 only
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "support/peer_ratio.hpp"

#include <unimem/planning/minimalloc_io.hpp>
#include <unimem/planning/plan_families.hpp>
#include <unimem/planning/planner.hpp>

namespace {

using lifetimes = std::vector<unimem::tensor_lifetime>;

struct input {
  std::string name;
  lifetimes tensors;
  unimem::plan_options options;
  std::size_t optimum = 0;  // known optimal arena, 0 when unknown
};

// Plain greedy-by-size walks the conflict graph: above this many pairs it would need gigabytes.
constexpr std::uint64_t peer_max_pairs = 20000000;

void report(benchmark::State& state, const input& in, const unimem::memory_plan& plan, const unimem::memory_plan* peer) {
  const auto& t = in.tensors;
  state.counters["tensors"] = static_cast<double>(t.size());
  state.counters["arena_MiB"] = static_cast<double>(plan.arena_bytes) / (1 << 20);
  state.counters["lower_bound_MiB"] = static_cast<double>(plan.lower_bound_bytes) / (1 << 20);
  state.counters["arena_over_lb"] = plan.ratio();
  state.counters["proved_optimal"] = plan.proved_optimal ? 1.0 : 0.0;
  state.counters["search_nodes"] = static_cast<double>(plan.search_nodes);
  if (in.optimum != 0) state.counters["at_known_optimum"] = plan.arena_bytes == in.optimum ? 1.0 : 0.0;
  if (in.options.target_bytes != 0) {
    state.counters["target_reached"] = plan.arena_bytes <= in.options.target_bytes ? 1.0 : 0.0;
  }
  // The peer in the same run: plain greedy-by-size's arena over the lower bound. Without it (too
  // dense for its conflict graph) it reads 0.
  state.counters["greedy_by_size_over_lb"] = peer != nullptr ? peer->ratio() : 0.0;
  if (!unimem::validate_plan(t, plan)) state.SkipWithError("invalid plan");
}

void bench_unimem(benchmark::State& state, const input* in) {
  unimem::memory_plan plan;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    plan = unimem::plan_memory(in->tensors, in->options);
    benchmark::DoNotOptimize(plan.arena_bytes);
  }
  // Wall milliseconds per 100 000 tensors: the brief's budget is 100.
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() /
                    static_cast<double>(std::max<benchmark::IterationCount>(state.iterations(), 1));
  state.counters["ms_per_100k"] = ms * 1e5 / static_cast<double>(std::max<std::size_t>(in->tensors.size(), 1));
  if (unimem::overlapping_pairs(in->tensors) <= peer_max_pairs) {
    const unimem::memory_plan peer = unimem::plan_greedy_by_size(in->tensors);
    report(state, *in, plan, &peer);
  } else {
    report(state, *in, plan, nullptr);
  }
  state.SetLabel(plan.method);
}

std::vector<input>& inputs() {
  static std::vector<input> all;
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  auto& in = inputs();
  in.reserve(200);  // registered benchmarks keep pointers into it
  std::vector<fs::path> files;
  for (const char* sub : {"lifetimes", "alloc-traces", "workload-traces"}) {
    const fs::path dir = fs::path(UNIMEM_BENCH_DATA_DIR) / sub;
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() != ".json") files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    in.push_back({f.parent_path().filename().string() + "/" + f.filename().string(),
                  unimem::load_tensor_lifetimes(f.string()), {}, 0});
  }
  const std::size_t largest = unimem::bench::quick_mode() ? 100000 : 1000000;
  for (const std::string& family : unimem::plan_family_names()) {
    for (std::size_t n = 1000; n <= largest; n *= 10) {
      auto instance = unimem::make_plan_family(family, n, 1);
      in.push_back({"family/" + family + "/" + std::to_string(n), std::move(instance.tensors), {}, instance.optimum});
    }
  }
  // MiniMalloc's set, to the capacity its file names, with the budget its solver gets (a minute).
  const fs::path challenging = fs::path(UNIMEM_BENCH_DATA_DIR) / "minimalloc-challenging";
  std::vector<fs::path> mm;
  if (fs::is_directory(challenging)) {
    for (const auto& e : fs::directory_iterator(challenging)) {
      if (e.path().extension() == ".csv") mm.push_back(e.path());
    }
  }
  std::sort(mm.begin(), mm.end());
  for (const auto& f : mm) {
    input x{"minimalloc/" + f.filename().string(), unimem::load_minimalloc_csv(f.string()), {}, 0};
    x.options.target_bytes = unimem::minimalloc_capacity(f.string());
    x.options.search_work = ~std::uint64_t{0};
    x.options.time_limit_ms = 60000;
    in.push_back(std::move(x));
  }
  namespace ub = unimem::bench;
  for (const input& x : in) ub::add("plan/" + x.name, bench_unimem, &x)->Unit(benchmark::kMillisecond);
  ub::console_reporter reporter;
  return ub::run_benchmarks(argc, argv, reporter);
}
