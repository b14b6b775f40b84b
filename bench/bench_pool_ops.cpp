// The pools' per-call cost on the CPU (their bookkeeping is host code whatever the upstream):
// allocate + free pairs and a random mix, against malloc, in one run. Runs anywhere (host memory).
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include <unimem/pools/arena_resource.hpp>
#include <unimem/pools/fixed_block_pool.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/pools/pool_resource.hpp>

#include "support/bench_main.hpp"

namespace {

using namespace unimem;

pool_options with(bool learn, fit_strategy fit) {
  pool_options o;
  o.learn_iterations = learn;
  o.fit = fit;
  return o;
}

/// One allocate + deallocate pair of state.range(0) bytes per iteration. `Resource` is the concrete
/// type, so that the calls are made as a caller holding that type makes them.
template <class Resource>
void time_pairs(benchmark::State& state, Resource& mr) {
  const auto n = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void* p = mr.allocate(n);
    benchmark::DoNotOptimize(p);
    mr.deallocate(p, n);
  }
}

void bm_pair_malloc(benchmark::State& state) {
  host_resource host;
  time_pairs(state, host);
}

void bm_pair_pool(benchmark::State& state, bool learn, fit_strategy fit) {
  host_resource host;
  pool_resource pool(host, with(learn, fit));
  time_pairs(state, pool);
}

void bm_pair_fixed_block(benchmark::State& state) {
  host_resource host;
  fixed_block_pool pool(host, static_cast<std::size_t>(state.range(0)));
  time_pairs(state, pool);
}

void bm_arena(benchmark::State& state) {
  host_resource host;
  arena_resource arena(host);
  const auto n = static_cast<std::size_t>(state.range(0));
  int k = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(arena.allocate(n));
    if (++k == 64) {
      arena.reset();
      k = 0;
    }
  }
}

/// A random mix of 64 live blocks of 256 B .. 4 MiB: every call is one allocate and one free.
template <class Make>
void mix(benchmark::State& state, Make make) {
  host_resource host;
  auto mr = make(host);
  std::mt19937 rng(1);
  std::vector<std::pair<void*, std::size_t>> live(64);
  std::vector<std::size_t> sizes(4096);
  for (auto& s : sizes) s = std::size_t{256} << (rng() % 15);
  std::size_t k = 0;
  for (auto& [p, n] : live) p = mr->allocate(n = sizes[k++ % sizes.size()]);
  for (auto _ : state) {
    auto& slot = live[k % live.size()];
    mr->deallocate(slot.first, slot.second);
    slot.second = sizes[k++ % sizes.size()];
    slot.first = mr->allocate(slot.second);
  }
  for (auto& [p, n] : live) mr->deallocate(p, n);
  state.SetItemsProcessed(state.iterations() * 2);
}

void bm_mix_malloc(benchmark::State& state) {
  mix(state, [](host_resource&) { return std::make_unique<host_resource>(); });
}

void bm_mix_pool(benchmark::State& state, fit_strategy fit) {
  mix(state, [fit](host_resource& h) { return std::make_unique<pool_resource>(h, with(false, fit)); });
}

}  // namespace

int main(int argc, char** argv) {
  namespace ub = unimem::bench;
  ub::add("bm_pair_malloc", bm_pair_malloc)->Arg(4096)->Arg(1 << 20);
  ub::add("bm_pair_pool/learned", [](benchmark::State& s) { bm_pair_pool(s, true, fit_strategy::tlsf); })
      ->Arg(4096)
      ->Arg(1 << 20);
  ub::add("bm_pair_pool/tlsf", [](benchmark::State& s) { bm_pair_pool(s, false, fit_strategy::tlsf); })
      ->Arg(4096)
      ->Arg(1 << 20);
  ub::add("bm_pair_pool/best_fit", [](benchmark::State& s) { bm_pair_pool(s, false, fit_strategy::ordered_best_fit); })
      ->Arg(4096)
      ->Arg(1 << 20);
  ub::add("bm_pair_fixed_block", bm_pair_fixed_block)->Arg(4096)->Arg(1 << 20);
  ub::add("bm_arena", bm_arena)->Arg(4096);
  ub::add("bm_mix_malloc", bm_mix_malloc);
  ub::add("bm_mix_pool/tlsf", [](benchmark::State& s) { bm_mix_pool(s, fit_strategy::tlsf); });
  ub::add("bm_mix_pool/best_fit", [](benchmark::State& s) { bm_mix_pool(s, fit_strategy::ordered_best_fit); });
  ub::console_reporter reporter;
  return ub::run_benchmarks(argc, argv, reporter);
}
