// Latency of every unimem resource beside the plain CUDA (or C library) call it stands for, all
// measured in the same loop:
//   alloc_free/<subject>/<bytes>            one allocate + deallocate pair, over a size sweep
//   alloc_many_small/<subject>/<n>/<bytes>  n allocations of `bytes`, then n frees (reverse order),
//                                           against one allocation of n * bytes
//   gpu_chase/<subject>/<working set>       one GPU thread follows a random cyclic chain of
//                                           pointers through the memory: cycles (clock64) and ns
//                                           (%globaltimer) per hop; working sets from L1 to DRAM
//   cpu_chase/<subject>/<working set>       the same on one CPU thread, ns per hop
//
// Every subject is one line in subjects() below: a name, what it needs of the machine, a factory for
// the unimem resource, the plain pair it is compared with, and which pointer chases run over its
// memory. A sub-allocator or adaptor (pool, arena, ...) is benchmarked by adding one line there.
//
// Method: a warm-up, then iterations that each time the unimem subject and its plain peer,
// alternating which goes first (driver-side caching makes the second of two back-to-back
// cudaHostAlloc calls much cheaper); medians are reported as counters, the mean as the time.
// Chase chains visit every slot once per cycle in random order (one slot per 128 B on the GPU, its
// cache line; per 64 B on the CPU), so hardware prefetchers cannot help; past the TLB reach the
// time per hop includes TLB misses, as a random access into that much memory would.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <unimem/unimem.hpp>

#include "support/bench_names.hpp"
#include "support/peer_ratio.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using resource_ptr = std::shared_ptr<unimem::memory_resource>;

// ----------------------------------------------------------------------------------------------
// Subjects.

/// The plain call pair a subject is compared with. alloc throws on failure.
struct raw_pair {
  std::string name;
  std::function<void*(std::size_t)> alloc;
  std::function<void(void*, std::size_t)> free;
};

// `p` by reference: it must be read after the call has filled it, and argument evaluation order
// is unspecified.
void* checked_ptr(cudaError_t err, void* const& p, const char* call) {
  check(err, call);
  return p;
}

raw_pair posix_memalign_pair() {
  return {"posix_memalign",
          [](std::size_t n) {
            void* p = nullptr;
            if (posix_memalign(&p, 256, n) != 0) throw std::bad_alloc();
            return p;
          },
          [](void* p, std::size_t) { std::free(p); }};
}
raw_pair cuda_malloc_pair() {
  return {"cudaMalloc", [](std::size_t n) { void* p = nullptr; return checked_ptr(cudaMalloc(&p, n), p, "cudaMalloc"); },
          [](void* p, std::size_t) { cudaFree(p); }};
}
raw_pair cuda_malloc_managed_pair() {
  return {"cudaMallocManaged",
          [](std::size_t n) {
            void* p = nullptr;
            return checked_ptr(cudaMallocManaged(&p, n, cudaMemAttachGlobal), p, "cudaMallocManaged");
          },
          [](void* p, std::size_t) { cudaFree(p); }};
}
raw_pair cuda_host_alloc_pair(unsigned flags, std::string name) {
  return {std::move(name),
          [flags](std::size_t n) { void* p = nullptr; return checked_ptr(cudaHostAlloc(&p, n, flags), p, "cudaHostAlloc"); },
          [](void* p, std::size_t) { cudaFreeHost(p); }};
}
raw_pair host_register_pair() {
  return {"mmap+cudaHostRegister",
          [](std::size_t n) {
            void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) throw std::bad_alloc();
            const cudaError_t err = cudaHostRegister(p, n, cudaHostRegisterMapped | cudaHostRegisterPortable);
            if (err != cudaSuccess) munmap(p, n);
            check(err, "cudaHostRegister");
            return p;
          },
          [](void* p, std::size_t n) {
            cudaHostUnregister(p);
            munmap(p, n);
          }};
}
/// The stream-ordered pool peer for device sub-allocators (issue 3's pools compare with it).
[[maybe_unused]] raw_pair cuda_malloc_async_pair() {
  return {"cudaMallocAsync",
          [](std::size_t n) { void* p = nullptr; return checked_ptr(cudaMallocAsync(&p, n, nullptr), p, "cudaMallocAsync"); },
          [](void* p, std::size_t) { cudaFreeAsync(p, nullptr); }};
}

template <class R, class... Args>
resource_ptr make(Args... args) {
  return std::make_shared<R>(args...);
}

/// A sub-allocator or adaptor together with the upstream it owns (adaptors such as a pool take
/// their upstream by reference), e.g. adapt<unimem::pool_resource, unimem::device_resource>().
template <class Adaptor, class Upstream, class... Args>
[[maybe_unused]] resource_ptr adapt(Args&&... args) {
  struct both {
    std::shared_ptr<Upstream> upstream;  // declared first: destroyed after the adaptor
    std::shared_ptr<Adaptor> adaptor;
  };
  auto b = std::make_shared<both>();
  b->upstream = std::make_shared<Upstream>();
  b->adaptor = std::make_shared<Adaptor>(*b->upstream, std::forward<Args>(args)...);
  return resource_ptr(b, b->adaptor.get());
}

enum chase_flags : unsigned { no_chase = 0, gpu_chase = 1, cpu_chase = 2 };

/// Why a subject cannot run here ("" when it can): what it needs of the machine.
using requirement = std::string (*)();
std::string needs_nothing() { return {}; }
std::string needs_gpu() { return ub::gpu().ok ? std::string() : ub::no_gpu_reason(); }
std::string needs_managed() {
  return ub::needs_capability("managed memory", &unimem::device_profile::managed_memory, "managedMemory");
}
std::string needs_mapped() {
  return ub::needs_capability("mapped memory", &unimem::device_profile::can_map_host_memory, "canMapHostMemory");
}
std::string needs_host_register() {
  return ub::needs_capability("registered memory (cudaHostRegister)", &unimem::device_profile::host_register_supported,
                              "hostRegisterSupported", ", as on Jetson Nano and TX2");
}

struct subject {
  std::string name;
  requirement needs = needs_gpu;
  std::function<resource_ptr()> make;
  raw_pair raw;
  unsigned chase = no_chase;
};

std::vector<subject> subjects() {
  using namespace unimem;
  return {
      {"host_resource", needs_nothing, [] { return make<host_resource>(); }, posix_memalign_pair(), cpu_chase},
      {"device_resource", needs_gpu, [] { return make<device_resource>(); }, cuda_malloc_pair(), gpu_chase},
      {"managed_resource", needs_managed, [] { return make<managed_resource>(); }, cuda_malloc_managed_pair(), gpu_chase},
      {"pinned_resource", needs_gpu, [] { return make<pinned_resource>(); },
       cuda_host_alloc_pair(cudaHostAllocPortable, "cudaHostAlloc"), cpu_chase},
      {"pinned_resource_wc", needs_gpu, [] { return make<pinned_resource>(pinned_options{true, true}); },
       cuda_host_alloc_pair(cudaHostAllocPortable | cudaHostAllocWriteCombined, "cudaHostAlloc(WriteCombined)"), no_chase},
      {"mapped_resource", needs_mapped, [] { return make<mapped_resource>(); },
       cuda_host_alloc_pair(cudaHostAllocPortable | cudaHostAllocMapped, "cudaHostAlloc(Mapped)"), gpu_chase | cpu_chase},
      {"registered_resource", needs_host_register, [] { return make<registered_resource>(); }, host_register_pair(), no_chase},
      // Sub-allocators and adaptors: one line each, for example
      // {"pool_resource<device>", needs_gpu, [] { return adapt<pool_resource, device_resource>(); }, cuda_malloc_async_pair(), gpu_chase},
  };
}

/// Why the GPU chase cannot run over `sub`'s memory here ("" when it can): kernels follow the
/// pointers the CPU wrote, so host-visible memory must have the same address on both sides.
std::string gpu_chase_unsupported(const subject& sub) {
  if (std::string why = sub.needs(); !why.empty()) return why;
  if (sub.name != "mapped_resource") return {};
  return ub::needs_capability("a GPU chase through host memory", &unimem::device_profile::unified_addressing,
                              "unifiedAddressing");
}

// ----------------------------------------------------------------------------------------------
// Allocation latency.

struct settings {
  double alloc_min_time = 0.2;     ///< seconds of unimem time per alloc benchmark (Google Benchmark scales iterations)
  int chase_trials = 7;            ///< per side; the median is reported
  double gpu_chase_seconds = 0.004;  ///< a GPU chase trial lasts about this long
  double cpu_chase_seconds = 0.01;
  std::size_t many_count = 1024;
  std::size_t many_bytes = 64 * KiB;
};

settings& run_settings() {
  static settings s;
  return s;
}

double seconds_since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

void alloc_free(benchmark::State& state, const subject& sub) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  try {
    const resource_ptr mr = sub.make();
    // A sample times `pairs` pairs back to back, so that a 50 ns pair is not measured with a clock
    // whose own cost and granularity are tens of nanoseconds.
    auto timed_unimem = [&](int pairs) {
      const auto t0 = clock_type::now();
      for (int i = 0; i < pairs; ++i) {
        void* p = mr->allocate(bytes);
        benchmark::DoNotOptimize(p);
        mr->deallocate(p, bytes);
      }
      return seconds_since(t0);
    };
    auto timed_raw = [&](int pairs) {
      const auto t0 = clock_type::now();
      for (int i = 0; i < pairs; ++i) {
        void* p = sub.raw.alloc(bytes);
        benchmark::DoNotOptimize(p);
        sub.raw.free(p, bytes);
      }
      return seconds_since(t0);
    };
    timed_unimem(1);  // warm-up both: first-use costs are not the steady state
    timed_raw(1);
    const double one = std::max(timed_unimem(1), timed_raw(1));
    const int pairs = static_cast<int>(std::clamp(10e-6 / std::max(one, 1e-9), 1.0, 256.0));
    ub::sample_keeper us, rs;
    bool unimem_first = true;
    for (auto _ : state) {
      double u = 0, r = 0;
      if (unimem_first) {
        u = timed_unimem(pairs);
        r = timed_raw(pairs);
      } else {
        r = timed_raw(pairs);
        u = timed_unimem(pairs);
      }
      unimem_first = !unimem_first;
      us.add(u / pairs);
      rs.add(r / pairs);
      state.SetIterationTime(u);
    }
    state.counters["bytes"] = static_cast<double>(bytes);
    state.counters["pairs_per_iteration"] = pairs;
    state.counters["median_us"] = us.median() * 1e6;
    state.counters["raw_median_us"] = rs.median() * 1e6;
    state.counters["ratio_vs_raw"] = rs.median() > 0 ? us.median() / rs.median() : 0;
    state.SetLabel("per pair in the counters; time column: " + std::to_string(pairs) + " pairs; vs " + sub.raw.name);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

void alloc_many_small(benchmark::State& state, const subject& sub) {
  const auto count = static_cast<std::size_t>(state.range(0));
  const auto small = static_cast<std::size_t>(state.range(1));
  const std::size_t large = count * small;
  std::vector<void*> ptrs(count, nullptr);
  try {
    const resource_ptr mr = sub.make();
    auto many = [&](const std::function<void*(std::size_t)>& alloc, const std::function<void(void*, std::size_t)>& free) {
      const auto t0 = clock_type::now();
      std::size_t live = 0;
      try {
        for (; live < count; ++live) ptrs[live] = alloc(small);
      } catch (...) {
        while (live > 0) --live, free(ptrs[live], small);  // leave nothing behind, then report
        throw;
      }
      benchmark::ClobberMemory();
      for (std::size_t i = count; i-- > 0;) free(ptrs[i], small);
      return seconds_since(t0);
    };
    auto one = [&](const std::function<void*(std::size_t)>& alloc, const std::function<void(void*, std::size_t)>& free) {
      const auto t0 = clock_type::now();
      void* p = alloc(large);
      benchmark::DoNotOptimize(p);
      free(p, large);
      return seconds_since(t0);
    };
    const std::function<void*(std::size_t)> u_alloc = [&](std::size_t n) { return mr->allocate(n); };
    const std::function<void(void*, std::size_t)> u_free = [&](void* p, std::size_t n) { mr->deallocate(p, n); };
    many(u_alloc, u_free);  // warm-up
    one(u_alloc, u_free);
    many(sub.raw.alloc, sub.raw.free);
    one(sub.raw.alloc, sub.raw.free);
    ub::sample_keeper um, ul, rm, rl;
    bool unimem_first = true;
    for (auto _ : state) {
      double t_um = 0;
      if (unimem_first) {
        t_um = many(u_alloc, u_free);
        ul.add(one(u_alloc, u_free));
        rm.add(many(sub.raw.alloc, sub.raw.free));
        rl.add(one(sub.raw.alloc, sub.raw.free));
      } else {
        rl.add(one(sub.raw.alloc, sub.raw.free));
        rm.add(many(sub.raw.alloc, sub.raw.free));
        ul.add(one(u_alloc, u_free));
        t_um = many(u_alloc, u_free);
      }
      unimem_first = !unimem_first;
      um.add(t_um);
      state.SetIterationTime(t_um);
    }
    state.counters["count"] = static_cast<double>(count);
    state.counters["small_bytes"] = static_cast<double>(small);
    state.counters["many_us"] = um.median() * 1e6;
    state.counters["one_large_us"] = ul.median() * 1e6;
    state.counters["many_over_large"] = ul.median() > 0 ? um.median() / ul.median() : 0;
    state.counters["raw_many_us"] = rm.median() * 1e6;
    state.counters["raw_one_large_us"] = rl.median() * 1e6;
    state.counters["raw_many_over_large"] = rl.median() > 0 ? rm.median() / rl.median() : 0;
    state.counters["ratio_vs_raw"] = rm.median() > 0 ? um.median() / rm.median() : 0;
    char label[160];
    std::snprintf(label, sizeof(label), "%zu x %s, then one %s; vs %s", count, ub::format_bytes(small).c_str(),
                  ub::format_bytes(large).c_str(), sub.raw.name.c_str());
    state.SetLabel(label);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// ----------------------------------------------------------------------------------------------
// Pointer chase.

constexpr std::size_t gpu_stride = 128;  // an L1/L2 cache line
constexpr std::size_t cpu_stride = 64;   // a CPU cache line

/// Writes a chain through `slots` slots of `stride` bytes at `write_at` that visits every slot once
/// per cycle in random order; the pointers stored are relative to `pointer_base` (the address the
/// chasing processor uses). Returns the first slot's pointer.
void* build_chain(std::byte* write_at, std::uintptr_t pointer_base, std::size_t slots, std::size_t stride) {
  std::vector<std::uint32_t> order(slots);
  std::iota(order.begin(), order.end(), 0u);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(0x5eed));
  std::vector<std::uint32_t> next(slots);
  for (std::size_t k = 0; k < slots; ++k) next[order[k]] = order[(k + 1) % slots];
  // Written in address order: sequential stores, cheap even into write-combined or mapped memory.
  for (std::size_t i = 0; i < slots; ++i) {
    const std::uintptr_t target = pointer_base + std::uintptr_t{next[i]} * stride;
    std::memcpy(write_at + i * stride, &target, sizeof(target));
  }
  return reinterpret_cast<void*>(pointer_base + std::uintptr_t{order[0]} * stride);
}

struct chase_result {
  unsigned long long cycles;
  unsigned long long ns;
  void* end;
};

__device__ unsigned long long global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// ld.global.ca: a global load cached in L1 and L2, without the generic-address resolution a plain
// dereference of an unknown pointer compiles to.
__device__ __forceinline__ void* const* hop(void* const* p) {
  return reinterpret_cast<void* const*>(__ldca(reinterpret_cast<const unsigned long long*>(p)));
}

// One thread: `warm` untimed hops (L1 is not kept across kernel launches), then `hops` timed ones.
__global__ void gpu_chase_kernel(void* start, unsigned warm, unsigned hops, chase_result* out) {
  // A volatile store of the pointer just loaded stalls the (in-order) warp until that load has
  // returned, so each clock read comes after the last hop before it.
  __shared__ const void* volatile last;
  void* const* p = static_cast<void* const*>(start);
  for (unsigned i = 0; i < warm; ++i) p = hop(p);
  last = p;
  const long long c0 = clock64();
  const unsigned long long t0 = global_ns();
  for (unsigned i = 0; i < hops; ++i) p = hop(p);
  last = p;
  const long long c1 = clock64();
  const unsigned long long t1 = global_ns();
  out->cycles = static_cast<unsigned long long>(c1 - c0);
  out->ns = t1 - t0;
  out->end = const_cast<void*>(static_cast<const void*>(p));
}

// Reads the whole working set with every SM: fills L2 with it where it fits and, for managed
// memory, migrates its pages to the device before anything is timed.
__global__ void touch_kernel(const int4* __restrict__ p, std::size_t n, int* sink) {
  int acc = 0;
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n; i += std::size_t{gridDim.x} * blockDim.x) {
    acc ^= p[i].x;
  }
  if (acc == 0x7fffffff) *sink = acc;
}

/// Memory under test for one side of a chase: from the unimem resource or from the plain pair.
class chase_memory {
 public:
  chase_memory(const resource_ptr& mr, std::size_t bytes) {
    p_ = mr->allocate(bytes);
    release_ = [mr, p = p_, bytes] { mr->deallocate(p, bytes); };
  }
  chase_memory(const raw_pair& raw, std::size_t bytes) {
    p_ = raw.alloc(bytes);
    release_ = [free = raw.free, p = p_, bytes] { free(p, bytes); };
  }
  ~chase_memory() {
    try {
      release_();
    } catch (const std::exception& e) {  // a destructor must not throw; say what leaked
      std::fprintf(stderr, "bench_latency: %s\n", e.what());
    }
  }
  chase_memory(const chase_memory&) = delete;
  chase_memory& operator=(const chase_memory&) = delete;
  void* get() const noexcept { return p_; }

 private:
  void* p_ = nullptr;
  std::function<void()> release_;
};

/// Writes the chain into `m` (directly when the CPU can, through a staging copy when it cannot)
/// and returns the start pointer.
void* prepare_chain(const chase_memory& m, std::size_t bytes, std::size_t stride, bool host_accessible) {
  const std::size_t slots = bytes / stride;
  const auto base = reinterpret_cast<std::uintptr_t>(m.get());
  if (host_accessible) return build_chain(static_cast<std::byte*>(m.get()), base, slots, stride);
  std::vector<std::byte> staging(bytes);
  void* start = build_chain(staging.data(), base, slots, stride);
  check(cudaMemcpy(m.get(), staging.data(), bytes, cudaMemcpyHostToDevice), "cudaMemcpy(chain)");
  return start;
}

struct gpu_chaser {
  void* position;  ///< where the next trial starts: trials continue the chain
  unsigned warm;   ///< hops each kernel takes before timing (only while the set fits L1)
  chase_result* result;

  chase_result run(unsigned hops) {
    gpu_chase_kernel<<<1, 1>>>(position, warm, hops, result);
    check(cudaGetLastError(), "gpu_chase_kernel");
    chase_result r{};
    check(cudaMemcpy(&r, result, sizeof(r), cudaMemcpyDeviceToHost), "cudaMemcpy(result)");
    position = r.end;
    return r;
  }
};

template <class T>
T* device_scratch() {
  static T* p = [] {
    T* q = nullptr;
    check(cudaMalloc(&q, sizeof(T)), "cudaMalloc(scratch)");
    return q;
  }();
  return p;
}

void gpu_chase_bench(benchmark::State& state, const subject& sub) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const settings& cfg = run_settings();
  try {
    const resource_ptr mr = sub.make();
    const auto traits = mr->traits();
    if (!traits.device_accessible || (traits.host_accessible && !traits.device_pointer_is_host_pointer)) {
      // gpu_chase_unsupported() leaves such memory out; reaching here means the traits disagree.
      state.SkipWithError("the chase needs memory kernels reach through the host pointer (unified addressing)");
      return;
    }
    const chase_memory um(mr, bytes), rm(sub.raw, bytes);
    const std::size_t slots = bytes / gpu_stride;
    const unsigned warm = slots <= 8192 ? static_cast<unsigned>(slots) : 0;
    chase_result* results[2] = {device_scratch<chase_result>(), nullptr};
    check(cudaMalloc(&results[1], sizeof(chase_result)), "cudaMalloc(result)");
    std::unique_ptr<chase_result, decltype(&cudaFree)> result_guard(results[1], &cudaFree);
    gpu_chaser u{prepare_chain(um, bytes, gpu_stride, traits.host_accessible), warm, results[0]};
    gpu_chaser r{prepare_chain(rm, bytes, gpu_stride, traits.host_accessible), warm, results[1]};
    const int blocks = std::max(1, ub::gpu().profile.multiprocessors) * 4;
    for (const chase_memory* m : {&um, &rm}) {
      touch_kernel<<<blocks, 512>>>(static_cast<const int4*>(m->get()), bytes / sizeof(int4), device_scratch<int>());
      check(cudaGetLastError(), "touch_kernel");
    }
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    // Calibrate: enough hops for the trial to last about gpu_chase_seconds.
    const double ns_per_hop = std::max(u.run(1024).ns, r.run(1024).ns) / 1024.0;
    const auto hops = static_cast<unsigned>(std::clamp(cfg.gpu_chase_seconds * 1e9 / std::max(ns_per_hop, 1.0), 1024.0, 4194304.0));
    std::vector<double> u_ns, u_cy, r_ns, r_cy;
    bool unimem_first = true;
    for (auto _ : state) {
      chase_result a{}, b{};
      if (unimem_first) {
        a = u.run(hops);
        b = r.run(hops);
      } else {
        b = r.run(hops);
        a = u.run(hops);
      }
      unimem_first = !unimem_first;
      u_ns.push_back(double(a.ns) / hops);
      u_cy.push_back(double(a.cycles) / hops);
      r_ns.push_back(double(b.ns) / hops);
      r_cy.push_back(double(b.cycles) / hops);
      state.SetIterationTime(double(a.ns) / hops * 1e-9);
    }
    state.counters["working_set"] = static_cast<double>(bytes);
    state.counters["hops"] = hops;
    state.counters["ns"] = ub::median(u_ns);
    state.counters["cycles"] = ub::median(u_cy);
    state.counters["raw_ns"] = ub::median(r_ns);
    state.counters["raw_cycles"] = ub::median(r_cy);
    state.counters["chase_ratio_vs_raw"] = ub::median(r_ns) > 0 ? ub::median(u_ns) / ub::median(r_ns) : 0;
    state.SetLabel("per hop; vs " + sub.raw.name);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

__attribute__((noinline)) void* chase_on_cpu(void* p, std::size_t hops) {
  void* const* q = static_cast<void* const*>(p);
  for (std::size_t i = 0; i < hops; ++i) q = static_cast<void* const*>(*q);
  return const_cast<void*>(static_cast<const void*>(q));
}

void cpu_chase_bench(benchmark::State& state, const subject& sub) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const settings& cfg = run_settings();
  try {
    const resource_ptr mr = sub.make();
    if (!mr->traits().host_accessible) {
      state.SkipWithError("the CPU cannot read this memory");
      return;
    }
    const chase_memory um(mr, bytes), rm(sub.raw, bytes);
    const std::size_t slots = bytes / cpu_stride;
    void* u = prepare_chain(um, bytes, cpu_stride, true);
    void* r = prepare_chain(rm, bytes, cpu_stride, true);
    // Warm-up: one cycle through sets that can stay cached; trials continue where it stopped.
    const std::size_t warm = std::min<std::size_t>(slots, std::size_t{1} << 20);
    u = chase_on_cpu(u, warm);
    r = chase_on_cpu(r, warm);
    auto timed = [](void*& p, std::size_t hops) {
      const auto t0 = clock_type::now();
      p = chase_on_cpu(p, hops);
      return seconds_since(t0);
    };
    const std::size_t calib = 4096;
    const double ns_per_hop = std::max(timed(u, calib), timed(r, calib)) * 1e9 / calib;
    const auto hops = static_cast<std::size_t>(std::clamp(cfg.cpu_chase_seconds * 1e9 / std::max(ns_per_hop, 0.1), 4096.0, 1e8));
    std::vector<double> u_ns, r_ns;
    bool unimem_first = true;
    for (auto _ : state) {
      double a = 0, b = 0;
      if (unimem_first) {
        a = timed(u, hops);
        b = timed(r, hops);
      } else {
        b = timed(r, hops);
        a = timed(u, hops);
      }
      unimem_first = !unimem_first;
      u_ns.push_back(a * 1e9 / double(hops));
      r_ns.push_back(b * 1e9 / double(hops));
      state.SetIterationTime(a / double(hops));
    }
    benchmark::DoNotOptimize(u);
    benchmark::DoNotOptimize(r);
    state.counters["working_set"] = static_cast<double>(bytes);
    state.counters["hops"] = static_cast<double>(hops);
    state.counters["ns"] = ub::median(u_ns);
    state.counters["raw_ns"] = ub::median(r_ns);
    state.counters["chase_ratio_vs_raw"] = ub::median(r_ns) > 0 ? ub::median(u_ns) / ub::median(r_ns) : 0;
    state.SetLabel("per hop, one thread; vs " + sub.raw.name);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = ub::quick_mode();
  ub::create_cuda_context();
  settings& cfg = run_settings();
  if (quick) cfg = settings{0.05, 5, 0.001, 0.002, 64, 64 * KiB};

  const std::size_t largest = ub::largest_sweep_bytes();
  const auto alloc_sizes = ub::capped(
      quick ? std::vector<std::size_t>{4 * KiB, 256 * KiB, 16 * MiB} : ub::pow2_sweep(4 * KiB, 256 * MiB, 2), largest);
  const auto gpu_sets =
      ub::capped(quick ? std::vector<std::size_t>{16 * KiB, 4 * MiB, 256 * MiB} : ub::pow2_sweep(4 * KiB, GiB, 1), largest);
  const auto cpu_sets = ub::capped(
      quick ? std::vector<std::size_t>{16 * KiB, 512 * KiB, 16 * MiB, 256 * MiB} : ub::pow2_sweep(4 * KiB, GiB, 1), largest);

  char sweep[200];
  std::snprintf(sweep, sizeof(sweep),
                "alloc %s to %s; chase working sets %s to %s; %zu x %s against one; %d chase trials per side",
                ub::format_bytes(alloc_sizes.front()).c_str(), ub::format_bytes(alloc_sizes.back()).c_str(),
                ub::format_bytes(gpu_sets.front()).c_str(), ub::format_bytes(gpu_sets.back()).c_str(), cfg.many_count,
                ub::format_bytes(cfg.many_bytes).c_str(), cfg.chase_trials);
  ub::add_context(ub::device_peaks(), sweep);

  // What cannot run on this machine is left out, with the reason, before anything runs.
  static const std::vector<subject> subs = subjects();
  auto add_if = [](const std::string& name, const std::string& why, auto fn) -> benchmark::internal::Benchmark* {
    if (!why.empty()) {
      ub::leave_out(name, why);
      return nullptr;
    }
    return ub::add(name, fn);
  };
  for (const subject& s : subs) {
    auto* b = add_if("alloc_free/" + s.name, s.needs(), [&s](benchmark::State& st) { alloc_free(st, s); });
    if (b == nullptr) continue;
    for (const std::size_t n : alloc_sizes) b->Arg(static_cast<std::int64_t>(n));
    b->UseManualTime()->MinTime(cfg.alloc_min_time)->Unit(benchmark::kMicrosecond);
  }
  for (const subject& s : subs) {
    auto* b = add_if("alloc_many_small/" + s.name, s.needs(), [&s](benchmark::State& st) { alloc_many_small(st, s); });
    if (b == nullptr) continue;
    b->Args({static_cast<std::int64_t>(cfg.many_count), static_cast<std::int64_t>(cfg.many_bytes)})
        ->UseManualTime()
        ->MinTime(cfg.alloc_min_time)
        ->Unit(benchmark::kMicrosecond);
  }
  for (const subject& s : subs) {
    if ((s.chase & gpu_chase) == 0) continue;
    auto* b = add_if("gpu_chase/" + s.name, gpu_chase_unsupported(s), [&s](benchmark::State& st) { gpu_chase_bench(st, s); });
    if (b == nullptr) continue;
    for (const std::size_t n : gpu_sets) b->Arg(static_cast<std::int64_t>(n));
    b->Iterations(cfg.chase_trials)->UseManualTime()->Unit(benchmark::kNanosecond);
  }
  for (const subject& s : subs) {
    if ((s.chase & cpu_chase) == 0) continue;
    auto* b = add_if("cpu_chase/" + s.name, s.needs(), [&s](benchmark::State& st) { cpu_chase_bench(st, s); });
    if (b == nullptr) continue;
    for (const std::size_t n : cpu_sets) b->Arg(static_cast<std::int64_t>(n));
    b->Iterations(cfg.chase_trials)->UseManualTime()->Unit(benchmark::kNanosecond);
  }
  ub::check_counter("chase_ratio_vs_raw", 0.95, 1.05, "unimem ns per hop over plain ns per hop, same loop");
  return ub::run_with_peer_table(argc, argv);
}
