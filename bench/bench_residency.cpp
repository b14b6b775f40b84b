// Several models under one budget (unimem::residency_manager) against keeping them all resident.
// Three models (weights files of 48, 32 and 64 MiB, activations 16, 8 and 24 MiB) in one lane:
//  - first_request: from an empty process to the first model's lease in hand. All-resident loads
//    the three at start (each with its own activation memory); managed loads only the first.
//    Counters: peak_MiB charged (the managed budget fits the two largest models and one arena).
//  - churn: requests cycling through the three models. All-resident never loads; under the budget
//    every request evicts the least recently used model and loads the next (the worst case for
//    LRU), so requests/s is the price of the memory saved. loads_per_request says how often.
//  - resident_hit: acquire and release of a resident model: the cost of the lease itself.
// Over host memory (runs anywhere), and over the memory the policy picks on this GPU (device
// memory with pinned staging on a discrete GPU, managed on a Jetson) when there is one.
//
//   ./build/bench/bench_residency --benchmark_counters_tabular=true
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <unimem/device_profile.hpp>
#include <unimem/planning/residency_manager.hpp>
#include <unimem/resources/host_resource.hpp>

#include "support/bench_env.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::size_t MiB = std::size_t{1} << 20;

struct model_def {
  const char* name;
  std::size_t weight_mib, activation_mib;
};
constexpr model_def defs[] = {{"detector", 48, 16}, {"classifier", 32, 8}, {"segmenter", 64, 24}};
// The two largest models and the lane's arena (the largest activations).
constexpr std::size_t budget_bytes = (64 + 48 + 24) * MiB;

/// The weights files, written once per process into the temp dir and removed at exit.
struct weight_files {
  std::filesystem::path dir;
  std::vector<std::string> paths;
  weight_files() {
    dir = std::filesystem::temp_directory_path() / ("unimem-bench-residency-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::vector<char> data;
    for (const auto& d : defs) {
      data.assign(d.weight_mib * MiB, static_cast<char>(d.weight_mib));
      paths.push_back((dir / (std::string(d.name) + ".weights")).string());
      std::ofstream(paths.back(), std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
    }
  }
  ~weight_files() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

const weight_files& files() {
  static const weight_files f;
  return f;
}

enum class memory { host, policy };

/// A manager over `mem`, with the three models registered; `managed` gives it the budget and one
/// lane, otherwise an unlimited budget and a lane (own activations) per model.
struct setup {
  unimem::host_resource host;
  std::shared_ptr<unimem::memory_budget> budget;
  std::unique_ptr<unimem::residency_manager> mgr;

  setup(memory mem, bool managed)
      : budget(std::make_shared<unimem::memory_budget>(
            "bench", managed ? budget_bytes : std::numeric_limits<std::size_t>::max())) {
    mgr = mem == memory::host ? std::make_unique<unimem::residency_manager>(budget, host, host)
                              : std::make_unique<unimem::residency_manager>(budget, unimem::device_profile::current());
    for (std::size_t i = 0; i < std::size(defs); ++i) {
      unimem::model_spec m;
      m.name = defs[i].name;
      m.weight_bytes = defs[i].weight_mib * MiB;
      m.weights_file = files().paths[i];
      m.activation_bytes = defs[i].activation_mib * MiB;
      m.lane = managed ? "main" : defs[i].name;
      mgr->add_model(std::move(m));
    }
  }
};

void first_request(benchmark::State& state, memory mem, bool managed) {
  (void)files();
  std::size_t peak = 0;
  for (auto _ : state) {
    const auto t0 = clock_type::now();
    setup s(mem, managed);
    if (!managed) {
      for (const auto& d : defs) s.mgr->acquire(d.name).release();  // every model initialised at start
    }
    auto lease = s.mgr->acquire(defs[0].name);
    benchmark::DoNotOptimize(lease.weights());
    state.SetIterationTime(std::chrono::duration<double>(clock_type::now() - t0).count());
    peak = s.budget->peak();
  }
  state.counters["peak_MiB"] = static_cast<double>(peak) / MiB;
}

void churn(benchmark::State& state, memory mem, bool managed) {
  setup s(mem, managed);
  for (const auto& d : defs) s.mgr->acquire(d.name).release();  // warm: the first loads are not churn
  const std::size_t loads_before = s.mgr->stats().loads;
  std::size_t next = 0, requests = 0;
  for (auto _ : state) {
    auto lease = s.mgr->acquire(defs[next].name);
    benchmark::DoNotOptimize(lease.weights());
    next = (next + 1) % std::size(defs);
    ++requests;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(requests));
  state.counters["loads_per_request"] =
      static_cast<double>(s.mgr->stats().loads - loads_before) / static_cast<double>(requests);
  state.counters["peak_MiB"] = static_cast<double>(s.budget->peak()) / MiB;
}

void resident_hit(benchmark::State& state, memory mem) {
  setup s(mem, true);
  s.mgr->acquire(defs[0].name).release();
  for (auto _ : state) {
    auto lease = s.mgr->acquire(defs[0].name);
    benchmark::DoNotOptimize(lease.weights());
  }
}

/// Registers the five cases over `mem`, or leaves them out with `why_not` when that is not empty.
void register_all(memory mem, const char* prefix, const std::string& why_not) {
  namespace ub = unimem::bench;
  const std::string p = prefix;
  if (!why_not.empty()) {
    for (const char* c : {"/first_request/all_resident", "/first_request/managed", "/churn/all_resident", "/churn/managed",
                          "/resident_hit"}) {
      ub::leave_out(p + c, why_not);
    }
    return;
  }
  ub::add(p + "/first_request/all_resident", first_request, mem, false)->UseManualTime()->Unit(benchmark::kMillisecond);
  ub::add(p + "/first_request/managed", first_request, mem, true)->UseManualTime()->Unit(benchmark::kMillisecond);
  ub::add(p + "/churn/all_resident", churn, mem, false)->Unit(benchmark::kMicrosecond);
  ub::add(p + "/churn/managed", churn, mem, true)->Unit(benchmark::kMillisecond);
  ub::add(p + "/resident_hit", resident_hit, mem)->Unit(benchmark::kNanosecond);
}

}  // namespace

int main(int argc, char** argv) {
  namespace ub = unimem::bench;
  register_all(memory::host, "host", "");
  register_all(memory::policy, "device", ub::gpu().ok ? std::string() : ub::no_gpu_reason());
  ub::console_reporter reporter;
  return ub::run_benchmarks(argc, argv, reporter);
}
