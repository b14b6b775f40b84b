// A pinned staging buffer per frame: unimem's pool (and fixed_block_pool) over pinned memory
// against cudaMallocHost + cudaFreeHost, allocate + free pairs, in one run. Needs a GPU (without
// one everything is left out, in one line).
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <unimem/device_profile.hpp>
#include <unimem/pools/fixed_block_pool.hpp>
#include <unimem/resources/pinned_resource.hpp>
#include <unimem/pools/pool_resource.hpp>

#include "support/bench_env.hpp"
#include "support/summary.hpp"

namespace {

using namespace unimem;
namespace ub = unimem::bench;

void bm_cuda_malloc_host(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void* p = nullptr;
    if (cudaMallocHost(&p, bytes) != cudaSuccess) {
      state.SkipWithError("cudaMallocHost failed");
      break;
    }
    benchmark::DoNotOptimize(p);
    cudaFreeHost(p);
  }
}

void bm_pool_pinned(benchmark::State& state, bool learn) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  pinned_resource pinned;
  pool_options o;
  o.learn_iterations = learn;
  pool_resource pool(pinned, o);
  pool.deallocate(pool.allocate(bytes), bytes);  // the first pair reaches upstream
  for (auto _ : state) {
    void* p = pool.allocate(bytes);
    benchmark::DoNotOptimize(p);
    pool.deallocate(p, bytes);
  }
}

void bm_fixed_block_pinned(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  pinned_resource pinned;
  fixed_block_pool pool(pinned, bytes);
  pool.deallocate(pool.allocate(bytes), bytes);
  for (auto _ : state) {
    void* p = pool.allocate(bytes);
    benchmark::DoNotOptimize(p);
    pool.deallocate(p, bytes);
  }
}

const std::vector<std::int64_t> sizes = {64 << 10, 1 << 20, 6 << 20, 32 << 20};

}  // namespace

int main(int argc, char** argv) {
  struct family {
    std::string name;
    std::function<void(benchmark::State&)> fn;
    benchmark::TimeUnit unit;
  };
  const family families[] = {
      {"bm_cuda_malloc_host", bm_cuda_malloc_host, benchmark::kMicrosecond},
      {"bm_pool_pinned/learned", [](benchmark::State& s) { bm_pool_pinned(s, true); }, benchmark::kNanosecond},
      {"bm_pool_pinned/general", [](benchmark::State& s) { bm_pool_pinned(s, false); }, benchmark::kNanosecond},
      {"bm_fixed_block_pinned", bm_fixed_block_pinned, benchmark::kNanosecond},
  };
  for (const family& f : families) {
    if (!ub::gpu().ok) {
      ub::leave_out(f.name, ub::no_gpu_reason());
      continue;
    }
    ub::add(f.name, f.fn)->ArgsProduct({sizes})->Unit(f.unit);
  }
  unimem::bench::keeping_reporter rep;
  return ub::run_benchmarks(argc, argv, rep, {}, [&rep] {
    std::printf("\nallocate + free pair: cudaMallocHost + cudaFreeHost time / pool time (same run; target >= 1000)\n");
    std::printf("%12s %16s %16s %16s %16s\n", "bytes", "cudaMallocHost us", "pool learned", "pool general", "fixed_block");
    for (std::int64_t s : sizes) {
      const std::string arg = "/" + std::to_string(s);
      const auto* base = rep.find("bm_cuda_malloc_host" + arg);
      if (base == nullptr) continue;
      auto ratio = [&](const std::string& name) {
        const auto* r = rep.find(name + arg);
        return r == nullptr ? 0.0 : base->GetAdjustedRealTime() * 1000.0 / r->GetAdjustedRealTime();
      };
      std::printf("%12lld %16.1f %15.0fx %15.0fx %15.0fx\n", static_cast<long long>(s), base->GetAdjustedRealTime(),
                  ratio("bm_pool_pinned/learned"), ratio("bm_pool_pinned/general"), ratio("bm_fixed_block_pinned"));
    }
  });
}
