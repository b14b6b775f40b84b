// Allocate+free latency of every unimem resource beside the plain call it wraps, in one run, so the
// cost of the abstraction (one virtual call, argument checks) is a ratio, not a guess.
#include <cstdlib>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <unimem/unimem.hpp>

#include "support/peer_ratio.hpp"

namespace {

bool have_gpu(benchmark::State& state) {
  std::string why;
  if (unimem::cuda_device_count(&why) > 0) return true;
  state.SkipWithError(("needs a CUDA GPU: " + why).c_str());
  return false;
}

template <class Make>
void unimem_alloc_free(benchmark::State& state, bool needs_gpu, Make make) {
  if (needs_gpu && !have_gpu(state)) return;
  std::unique_ptr<unimem::memory_resource> mr = make();
  const auto bytes = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void* p = mr->allocate(bytes);
    benchmark::DoNotOptimize(p);
    mr->deallocate(p, bytes);
  }
  state.SetItemsProcessed(state.iterations());
}

void check(benchmark::State& state, cudaError_t err) {
  if (err != cudaSuccess) state.SkipWithError(cudaGetErrorString(err));
}

template <class Alloc, class Free>
void raw_alloc_free(benchmark::State& state, bool needs_gpu, Alloc alloc, Free free_fn) {
  if (needs_gpu && !have_gpu(state)) return;
  const auto bytes = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void* p = alloc(bytes);
    benchmark::DoNotOptimize(p);
    free_fn(p);
  }
  state.SetItemsProcessed(state.iterations());
}

void* must(cudaError_t err, void* p) { return err == cudaSuccess ? p : (std::abort(), nullptr); }

void BM_host_resource(benchmark::State& s) { unimem_alloc_free(s, false, [] { return std::make_unique<unimem::host_resource>(); }); }
void BM_posix_memalign(benchmark::State& s) {
  raw_alloc_free(s, false, [](std::size_t n) { void* p = nullptr; return posix_memalign(&p, 256, n) == 0 ? p : nullptr; },
                 [](void* p) { std::free(p); });
}
void BM_device_resource(benchmark::State& s) { unimem_alloc_free(s, true, [] { return std::make_unique<unimem::device_resource>(); }); }
void BM_cudaMalloc(benchmark::State& s) {
  raw_alloc_free(s, true, [](std::size_t n) { void* p = nullptr; return must(cudaMalloc(&p, n), p); },
                 [](void* p) { cudaFree(p); });
}
void BM_managed_resource(benchmark::State& s) { unimem_alloc_free(s, true, [] { return std::make_unique<unimem::managed_resource>(); }); }
void BM_cudaMallocManaged(benchmark::State& s) {
  raw_alloc_free(s, true, [](std::size_t n) { void* p = nullptr; return must(cudaMallocManaged(&p, n), p); },
                 [](void* p) { cudaFree(p); });
}
void BM_pinned_resource(benchmark::State& s) { unimem_alloc_free(s, true, [] { return std::make_unique<unimem::pinned_resource>(); }); }
void BM_cudaHostAlloc_portable(benchmark::State& s) {
  raw_alloc_free(s, true, [](std::size_t n) { void* p = nullptr; return must(cudaHostAlloc(&p, n, cudaHostAllocPortable), p); },
                 [](void* p) { cudaFreeHost(p); });
}
void BM_mapped_resource(benchmark::State& s) { unimem_alloc_free(s, true, [] { return std::make_unique<unimem::mapped_resource>(); }); }
void BM_cudaHostAlloc_mapped(benchmark::State& s) {
  raw_alloc_free(s, true,
                 [](std::size_t n) { void* p = nullptr; return must(cudaHostAlloc(&p, n, cudaHostAllocMapped | cudaHostAllocPortable), p); },
                 [](void* p) { cudaFreeHost(p); });
}
void BM_registered_resource(benchmark::State& s) { unimem_alloc_free(s, true, [] { return std::make_unique<unimem::registered_resource>(); }); }

constexpr std::int64_t sizes[] = {4 << 10, 1 << 20, 16 << 20};

void register_all() {
  using namespace unimem::bench;
  struct pair_def {
    const char* subject;
    void (*subject_fn)(benchmark::State&);
    const char* peer;
    void (*peer_fn)(benchmark::State&);
  };
  const pair_def pairs[] = {
      {"host_resource", BM_host_resource, "posix_memalign", BM_posix_memalign},
      {"device_resource", BM_device_resource, "cudaMalloc", BM_cudaMalloc},
      {"managed_resource", BM_managed_resource, "cudaMallocManaged", BM_cudaMallocManaged},
      {"pinned_resource", BM_pinned_resource, "cudaHostAlloc_portable", BM_cudaHostAlloc_portable},
      {"mapped_resource", BM_mapped_resource, "cudaHostAlloc_mapped", BM_cudaHostAlloc_mapped},
      // registered_resource = mmap + cudaHostRegister; its peer is pinned allocation of the same size.
      {"registered_resource", BM_registered_resource, "cudaHostAlloc_portable", BM_cudaHostAlloc_portable},
  };
  for (const auto& p : pairs) {
    for (auto n : sizes) {
      const std::string arg = "/" + std::to_string(n);
      const std::string subject = std::string("alloc_free/") + p.subject;
      const std::string peer = std::string("alloc_free/") + p.peer;
      benchmark::RegisterBenchmark(subject.c_str(), p.subject_fn)->Arg(n)->UseRealTime();
      if (std::string(p.subject) != "registered_resource") {
        benchmark::RegisterBenchmark(peer.c_str(), p.peer_fn)->Arg(n)->UseRealTime();
      }
      compare(subject + arg + "/real_time", peer + arg + "/real_time");
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  return unimem::bench::run_with_peer_table(argc, argv);
}
