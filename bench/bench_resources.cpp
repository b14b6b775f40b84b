// Allocate+free latency of every unimem resource beside the plain call it wraps. Driver-side
// caching makes back-to-back benchmarks of cudaHostAlloc or cudaMalloc differ by 100x depending on
// which ran first, so each iteration here times both pairs, alternating which goes first, and the
// ratio comes from the same loop: what remains is the cost of the abstraction (a virtual call and
// the argument checks).
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <unimem/unimem.hpp>

#include "support/bench_env.hpp"
#include "support/peer_ratio.hpp"

namespace {

namespace ub = unimem::bench;
using clock_type = std::chrono::steady_clock;

struct raw_pair {
  std::function<void*(std::size_t)> alloc;
  std::function<void(void*)> free;
};

// `p` by reference: it must be read after the call has filled it, and argument evaluation order
// is unspecified.
void* or_null(cudaError_t err, void* const& p) { return err == cudaSuccess ? p : nullptr; }

void alloc_free_vs_raw(benchmark::State& state, const std::function<std::unique_ptr<unimem::memory_resource>()>& make,
                       const raw_pair& raw) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  std::unique_ptr<unimem::memory_resource> mr = make();
  auto timed_unimem = [&] {
    const auto t0 = clock_type::now();
    void* p = mr->allocate(bytes);
    benchmark::DoNotOptimize(p);
    mr->deallocate(p, bytes);
    return std::chrono::duration<double>(clock_type::now() - t0).count();
  };
  auto timed_raw = [&]() -> double {
    const auto t0 = clock_type::now();
    void* p = raw.alloc(bytes);
    if (p == nullptr) return -1;
    benchmark::DoNotOptimize(p);
    raw.free(p);
    return std::chrono::duration<double>(clock_type::now() - t0).count();
  };
  timed_unimem();  // warm-up both: first-use costs are not the steady state
  timed_raw();
  double unimem_total = 0, raw_total = 0;
  bool unimem_first = true;
  for (auto _ : state) {
    double u = 0, r = 0;
    if (unimem_first) {
      u = timed_unimem();
      r = timed_raw();
    } else {
      r = timed_raw();
      u = timed_unimem();
    }
    if (r < 0) {
      state.SkipWithError("the raw CUDA call failed");
      return;
    }
    unimem_first = !unimem_first;
    unimem_total += u;
    raw_total += r;
    state.SetIterationTime(u);
  }
  const auto n = static_cast<double>(state.iterations());
  state.counters["raw_ns"] = raw_total / n * 1e9;
  state.counters["ratio_vs_raw"] = raw_total > 0 ? unimem_total / raw_total : 0;
}

const raw_pair posix_memalign_pair{[](std::size_t n) {
                                     void* p = nullptr;
                                     return posix_memalign(&p, 256, n) == 0 ? p : nullptr;
                                   },
                                   [](void* p) { std::free(p); }};
const raw_pair cuda_malloc_pair{[](std::size_t n) { void* p = nullptr; return or_null(cudaMalloc(&p, n), p); },
                                [](void* p) { cudaFree(p); }};
const raw_pair cuda_malloc_managed_pair{
    [](std::size_t n) { void* p = nullptr; return or_null(cudaMallocManaged(&p, n), p); }, [](void* p) { cudaFree(p); }};
const raw_pair cuda_host_alloc_pair{
    [](std::size_t n) { void* p = nullptr; return or_null(cudaHostAlloc(&p, n, cudaHostAllocPortable), p); },
    [](void* p) { cudaFreeHost(p); }};
const raw_pair cuda_host_alloc_mapped_pair{
    [](std::size_t n) {
      void* p = nullptr;
      return or_null(cudaHostAlloc(&p, n, cudaHostAllocMapped | cudaHostAllocPortable), p);
    },
    [](void* p) { cudaFreeHost(p); }};

std::string needs_gpu() { return ub::gpu().ok ? std::string() : ub::no_gpu_reason(); }

void register_all() {
  using unimem::device_profile;
  struct def {
    const char* name;
    std::string why_not;  ///< "" when it can run here
    std::function<std::unique_ptr<unimem::memory_resource>()> make;
    const raw_pair* raw;
  };
  // registered_resource (mmap + cudaHostRegister) is compared with cudaHostAlloc, the other way to
  // get pinned host memory.
  const def defs[] = {
      {"host_resource_vs_posix_memalign", "", [] { return std::make_unique<unimem::host_resource>(); }, &posix_memalign_pair},
      {"device_resource_vs_cudaMalloc", needs_gpu(), [] { return std::make_unique<unimem::device_resource>(); },
       &cuda_malloc_pair},
      {"managed_resource_vs_cudaMallocManaged",
       ub::needs_capability("managed memory", &device_profile::managed_memory, "managedMemory"),
       [] { return std::make_unique<unimem::managed_resource>(); }, &cuda_malloc_managed_pair},
      {"pinned_resource_vs_cudaHostAlloc", needs_gpu(), [] { return std::make_unique<unimem::pinned_resource>(); },
       &cuda_host_alloc_pair},
      {"mapped_resource_vs_cudaHostAlloc_mapped",
       ub::needs_capability("mapped memory", &device_profile::can_map_host_memory, "canMapHostMemory"),
       [] { return std::make_unique<unimem::mapped_resource>(); }, &cuda_host_alloc_mapped_pair},
      {"registered_resource_vs_cudaHostAlloc",
       ub::needs_capability("registered memory (cudaHostRegister)", &device_profile::host_register_supported,
                            "hostRegisterSupported", ", as on Jetson Nano and TX2"),
       [] { return std::make_unique<unimem::registered_resource>(); }, &cuda_host_alloc_pair},
  };
  for (const auto& d : defs) {
    const std::string name = std::string("alloc_free/") + d.name;
    if (!d.why_not.empty()) {
      ub::leave_out(name, d.why_not);
      continue;
    }
    ub::add(name, [d](benchmark::State& s) { alloc_free_vs_raw(s, d.make, *d.raw); })
        ->Arg(4 << 10)
        ->Arg(1 << 20)
        ->Arg(16 << 20)
        ->UseManualTime();
  }
}

}  // namespace

int main(int argc, char** argv) {
  ub::create_cuda_context();
  register_all();
  return unimem::bench::run_with_peer_table(argc, argv);
}
