// Bandwidth of every memory kind unimem provides, over a size sweep, each beside plain CUDA on the
// same path in the same loop:
//   copy_ce/{h2d,d2h}/<host kind>  cudaMemcpyAsync (the copy engine)       host kinds: pageable,
//   copy_sm/{h2d,d2h}/<host kind>  a copy kernel (the SMs)                  pinned, pinned_wc,
//   copy_{ce,sm}/d2d/device        device to device, bytes counted once     registered, mapped
//   zero_copy/{read,write}/{mapped,registered}  a kernel reads or writes host memory in place
//   kernel/{read,write}/device     the same kernels on device memory (the DRAM reference)
//   managed/{on_demand,prefetch,resident}  a kernel reads managed memory that lives on the host
//                                  (faults), after cudaMemPrefetchAsync, or already on the device
//   cpu/{read,write}/<kind>        one CPU thread reads (XOR of 64-bit words) or writes (memset)
//                                  every host-visible kind, managed included
//
// Method, as nvbandwidth: a warm-up, then trials; a trial is CUDA events around `loops` transfers
// enqueued behind a spin kernel (so launch overhead and host gaps are not timed; not for pageable
// or managed memory, whose calls can wait on the host); the median trial is reported. Each
// benchmark iteration runs one unimem trial and one plain-CUDA trial, alternating which goes first.
// The unimem side gets its memory from unimem resources and uses unimem::cuda_stream/cuda_event;
// the plain side calls cudaHostAlloc, cudaHostRegister, cudaMalloc, ... and cudaStreamCreate
// itself. Counters: GBps and raw_GBps (medians, 1 GB = 1e9 B, bytes counted once), bw_ratio_vs_raw,
// of_peak (of the PCIe link for host<->device paths on a discrete GPU, of DRAM otherwise; the label
// names which). Real time is the mean time of one transfer.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <unimem/unimem.hpp>
#include <unimem_support/cuda.hpp>

#include "support/bench_names.hpp"
#include "support/peer_ratio.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

// ----------------------------------------------------------------------------------------------
// Kernels. 16-byte accesses, grid-stride, four independent accesses in flight per thread.

constexpr int block_threads = 512;

unsigned grid_for(std::size_t n16) {
  const std::size_t max_blocks = static_cast<std::size_t>(std::max(1, ub::gpu().profile.multiprocessors) * 4);
  const std::size_t needed = (n16 + block_threads - 1) / block_threads;
  return static_cast<unsigned>(std::max<std::size_t>(1, std::min(max_blocks, needed)));
}

__global__ void copy_kernel(int4* __restrict__ dst, const int4* __restrict__ src, std::size_t n) {
  const std::size_t stride = std::size_t{gridDim.x} * blockDim.x;
  std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x;
  for (; i + 3 * stride < n; i += 4 * stride) {
    const int4 a = src[i], b = src[i + stride], c = src[i + 2 * stride], d = src[i + 3 * stride];
    dst[i] = a;
    dst[i + stride] = b;
    dst[i + 2 * stride] = c;
    dst[i + 3 * stride] = d;
  }
  for (; i < n; i += stride) dst[i] = src[i];
}

__global__ void write_kernel(int4* __restrict__ p, std::size_t n, int value) {
  const std::size_t stride = std::size_t{gridDim.x} * blockDim.x;
  const int4 v = make_int4(value, value ^ 1, value ^ 2, value ^ 3);
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n; i += stride) p[i] = v;
}

__device__ unsigned long long global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// nvbandwidth's stream blocker: holds the stream until the host has enqueued a whole trial.
__global__ void spin_kernel(volatile int* latch, volatile int* timed_out, unsigned long long timeout_ns) {
  const unsigned long long t0 = global_ns();
  while (*latch == 0) {
    if (global_ns() - t0 > timeout_ns) {
      *timed_out = 1;
      return;
    }
  }
}

// ----------------------------------------------------------------------------------------------
// Memory kinds, allocated the unimem way or the plain CUDA way.

enum class kind { pageable, pinned, pinned_wc, registered, mapped, managed, device };
enum class origin { unimem, raw };

const char* kind_name(kind k) {
  switch (k) {
    case kind::pageable: return "pageable";
    case kind::pinned: return "pinned";
    case kind::pinned_wc: return "pinned_wc";
    case kind::registered: return "registered";
    case kind::mapped: return "mapped";
    case kind::managed: return "managed";
    case kind::device: return "device";
  }
  return "?";
}

/// Why `k` cannot be used here (by the CPU, or by kernels when `by_kernel`), or "" when it can;
/// without a GPU, why there is none. Paths that cannot run are left out before the run.
std::string unsupported_reason(kind k, bool by_kernel) {
  using unimem::device_profile;
  switch (k) {
    case kind::pageable:
      if (!by_kernel) return ub::gpu().ok ? std::string() : ub::no_gpu_reason();
      return ub::needs_capability("a kernel reading or writing pageable memory", &device_profile::pageable_memory_access,
                                  "pageableMemoryAccess", "; Thor and HMM systems have 1");
    case kind::pinned:
    case kind::pinned_wc:
      if (!by_kernel) return ub::gpu().ok ? std::string() : ub::no_gpu_reason();
      if (const std::string why = ub::needs_capability("a kernel using pinned memory in place",
                                                       &device_profile::unified_addressing, "unifiedAddressing");
          !why.empty()) {
        return why;
      }
      return ub::needs_capability("a kernel using pinned memory in place", &device_profile::can_map_host_memory,
                                  "canMapHostMemory");
    case kind::registered:
      return ub::needs_capability("registered memory (cudaHostRegister)", &device_profile::host_register_supported,
                                  "hostRegisterSupported", ", as on Jetson Nano and TX2");
    case kind::mapped:
      return ub::needs_capability("mapped (zero-copy) memory", &device_profile::can_map_host_memory, "canMapHostMemory");
    case kind::managed:
      return ub::needs_capability("managed memory", &device_profile::managed_memory, "managedMemory");
    case kind::device:
      return ub::gpu().ok ? std::string() : ub::no_gpu_reason();
  }
  return {};
}

struct buffer {
  void* host = nullptr;    ///< CPU pointer; null for device memory
  void* device = nullptr;  ///< pointer kernels use; null where kernels cannot use the memory
  std::size_t bytes = 0;
  std::shared_ptr<void> owner;  ///< frees the memory
};

void* device_alias(void* host) {
  void* d = nullptr;
  check(cudaHostGetDevicePointer(&d, host, 0), "cudaHostGetDevicePointer");
  return d;
}

buffer from_resource(std::shared_ptr<unimem::memory_resource> mr, std::size_t bytes, std::size_t alignment) {
  void* p = mr->allocate(bytes, alignment);
  buffer b;
  b.bytes = bytes;
  b.owner = std::shared_ptr<void>(p, [mr, bytes, alignment](void* q) {
    try {
      mr->deallocate(q, bytes, alignment);
    } catch (const std::exception& e) {  // a deleter must not throw; say what leaked
      std::fprintf(stderr, "bench_bandwidth: %s\n", e.what());
    }
  });
  const auto t = mr->traits();
  if (t.host_accessible) b.host = p;
  if (t.device_accessible) b.device = t.device_pointer_is_host_pointer || !t.host_accessible ? p : device_alias(p);
  return b;
}

buffer allocate_unimem(kind k, std::size_t bytes) {
  switch (k) {
    case kind::pageable: return from_resource(std::make_shared<unimem::host_resource>(), bytes, 4096);
    case kind::pinned: return from_resource(std::make_shared<unimem::pinned_resource>(), bytes, 256);
    case kind::pinned_wc:
      return from_resource(std::make_shared<unimem::pinned_resource>(unimem::pinned_options{true, true}), bytes, 256);
    case kind::registered: return from_resource(std::make_shared<unimem::registered_resource>(), bytes, 256);
    case kind::mapped: return from_resource(std::make_shared<unimem::mapped_resource>(), bytes, 256);
    case kind::managed: return from_resource(std::make_shared<unimem::managed_resource>(), bytes, 256);
    case kind::device: return from_resource(std::make_shared<unimem::device_resource>(), bytes, 256);
  }
  throw std::logic_error("allocate_unimem: unknown kind");
}

buffer host_alloc(std::size_t bytes, unsigned flags, bool mapped) {
  void* p = nullptr;
  check(cudaHostAlloc(&p, bytes, flags), "cudaHostAlloc");
  buffer b;
  b.bytes = bytes;
  b.owner = std::shared_ptr<void>(p, [](void* q) { cudaFreeHost(q); });
  b.host = p;
  b.device = mapped ? device_alias(p) : p;  // with unified addressing every cudaHostAlloc is mapped
  return b;
}

buffer allocate_raw(kind k, std::size_t bytes) {
  buffer b;
  b.bytes = bytes;
  void* p = nullptr;
  switch (k) {
    case kind::pageable:
      if (posix_memalign(&p, 4096, bytes) != 0) throw std::bad_alloc();
      b.owner = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
      b.host = p;
      return b;
    case kind::pinned: return host_alloc(bytes, cudaHostAllocPortable, false);
    case kind::pinned_wc: return host_alloc(bytes, cudaHostAllocPortable | cudaHostAllocWriteCombined, false);
    case kind::mapped: return host_alloc(bytes, cudaHostAllocPortable | cudaHostAllocMapped, true);
    case kind::registered: {
      p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      const cudaError_t err = cudaHostRegister(p, bytes, cudaHostRegisterMapped | cudaHostRegisterPortable);
      if (err != cudaSuccess) munmap(p, bytes);
      check(err, "cudaHostRegister");
      b.owner = std::shared_ptr<void>(p, [bytes](void* q) {
        cudaHostUnregister(q);
        munmap(q, bytes);
      });
      b.host = p;
      b.device = device_alias(p);
      return b;
    }
    case kind::managed:
      check(cudaMallocManaged(&p, bytes, cudaMemAttachGlobal), "cudaMallocManaged");
      b.owner = std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
      b.host = b.device = p;
      return b;
    case kind::device:
      check(cudaMalloc(&p, bytes), "cudaMalloc");
      b.owner = std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
      b.device = p;
      return b;
  }
  throw std::logic_error("allocate_raw: unknown kind");
}

buffer allocate(kind k, origin o, std::size_t bytes) {
  buffer b = o == origin::unimem ? allocate_unimem(k, bytes) : allocate_raw(k, bytes);
  // Kernels may use malloc'd memory where the device says so (Thor, HMM); unimem does not promise
  // it in host_resource's traits, so the benchmark decides.
  if (k == kind::pageable && ub::gpu().ok && ub::gpu().profile.pageable_memory_access) b.device = b.host;
  // Touch every page now: first-touch faults are not what a bandwidth benchmark measures.
  if (b.host != nullptr) {
    std::memset(b.host, 0x5a, bytes);
  } else {
    check(cudaMemset(b.device, 0x5a, bytes), "cudaMemset");
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  }
  return b;
}

/// Buffers kept from one benchmark to the next: a 1 GiB cudaHostAlloc or cudaHostRegister costs
/// about half a second, and 40 paths would pay it again at every size. Each (kind, origin, slot)
/// keeps one buffer, grown when a larger size is asked for; past the byte budget the least recently
/// used buffers not needed by the current benchmark are freed.
class buffer_cache {
 public:
  explicit buffer_cache(std::size_t budget) : budget_(budget) {}

  void begin_benchmark() { ++epoch_; }
  /// Frees everything; called before main returns, while the CUDA runtime is still up.
  void clear() {
    entries_.clear();
    total_ = 0;
  }

  const buffer& get(kind k, origin o, int slot, std::size_t bytes) {
    const auto key = std::make_tuple(static_cast<int>(k), static_cast<int>(o), slot);
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second.buf.bytes >= bytes) {
      it->second.epoch = epoch_;
      it->second.stamp = ++stamp_;
      return it->second.buf;
    }
    if (it != entries_.end()) {
      total_ -= it->second.buf.bytes;
      entries_.erase(it);
    }
    evict_until_fits(bytes);
    entry e{allocate(k, o, bytes), epoch_, ++stamp_};
    total_ += bytes;
    return entries_.emplace(key, std::move(e)).first->second.buf;
  }

 private:
  struct entry {
    buffer buf;
    std::uint64_t epoch = 0;
    std::uint64_t stamp = 0;
  };

  void evict_until_fits(std::size_t bytes) {
    while (total_ + bytes > budget_) {
      auto victim = entries_.end();
      for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (it->second.epoch == epoch_) continue;
        if (victim == entries_.end() || it->second.stamp < victim->second.stamp) victim = it;
      }
      if (victim == entries_.end()) return;
      total_ -= victim->second.buf.bytes;
      entries_.erase(victim);
    }
  }

  std::map<std::tuple<int, int, int>, entry> entries_;
  std::size_t budget_;
  std::size_t total_ = 0;
  std::uint64_t epoch_ = 0;
  std::uint64_t stamp_ = 0;
};

buffer_cache& cache() {
  static buffer_cache c([] {
    std::size_t budget = 8 * GiB;
    if (const auto m = unimem::read_meminfo()) budget = m->mem_available / 4;
    return budget;
  }());
  return c;
}

// ----------------------------------------------------------------------------------------------
// Timing: the unimem side with unimem::cuda_stream and cuda_event, the plain side with the raw API.

class stream_timer {
 public:
  virtual ~stream_timer() = default;
  virtual cudaStream_t stream() const = 0;
  virtual void start() = 0;
  virtual void stop() = 0;
  /// Waits for the stop event and returns the seconds between start and stop.
  virtual double wait_seconds() = 0;
};

class unimem_timer final : public stream_timer {
 public:
  cudaStream_t stream() const override { return stream_.view().value(); }
  void start() override { watch_.start(stream_); }
  void stop() override { watch_.stop(stream_); }
  double wait_seconds() override { return watch_.seconds(); }

 private:
  unimem::cuda_stream stream_;
  unimem::support::stream_stopwatch watch_;
};

class raw_timer final : public stream_timer {
 public:
  raw_timer() {
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    check(cudaEventCreate(&start_), "cudaEventCreate");
    check(cudaEventCreate(&stop_), "cudaEventCreate");
  }
  ~raw_timer() override {
    cudaEventDestroy(stop_);
    cudaEventDestroy(start_);
    cudaStreamDestroy(stream_);
  }
  raw_timer(const raw_timer&) = delete;
  raw_timer& operator=(const raw_timer&) = delete;
  cudaStream_t stream() const override { return stream_; }
  void start() override { check(cudaEventRecord(start_, stream_), "cudaEventRecord"); }
  void stop() override { check(cudaEventRecord(stop_, stream_), "cudaEventRecord"); }
  double wait_seconds() override {
    check(cudaEventSynchronize(stop_), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start_, stop_), "cudaEventElapsedTime");
    return ms / 1e3;
  }

 private:
  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
};

/// The spin kernel's latch, in mapped pinned memory. Shared by both sides: it is the harness, not
/// what is measured.
class stream_blocker {
 public:
  static constexpr unsigned long long timeout_ns = 5'000'000'000ull;

  stream_blocker() {
    void* p = nullptr;
    check(cudaHostAlloc(&p, 2 * sizeof(int), cudaHostAllocMapped | cudaHostAllocPortable), "cudaHostAlloc(latch)");
    flags_ = static_cast<int*>(p);
    device_flags_ = static_cast<int*>(device_alias(p));
  }
  stream_blocker(const stream_blocker&) = delete;
  stream_blocker& operator=(const stream_blocker&) = delete;

  void block(cudaStream_t s) {
    flags_[0] = 0;
    flags_[1] = 0;
    std::atomic_thread_fence(std::memory_order_seq_cst);
    spin_kernel<<<1, 1, 0, s>>>(device_flags_, device_flags_ + 1, timeout_ns);
    check(cudaGetLastError(), "spin_kernel");
  }
  void release() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    flags_[0] = 1;
  }
  bool timed_out() const { return flags_[1] != 0; }

 private:
  volatile int* flags_ = nullptr;
  int* device_flags_ = nullptr;
};

/// Set after the first timeout: the rest of the run times without the blocker rather than wait
/// 5 s per trial.
bool& blocker_disabled() {
  static bool disabled = false;
  return disabled;
}

stream_blocker& blocker() {
  static auto* b = new stream_blocker;  // never destroyed: the CUDA runtime may be gone at exit
  return *b;
}

int* device_sink() {
  static int* sink = [] {
    int* p = nullptr;
    check(cudaMalloc(&p, sizeof(int)), "cudaMalloc(sink)");
    return p;
  }();
  return sink;
}

#if CUDART_VERSION >= 13000
// CUDA 13 takes a cudaMemLocation; CUDA 12 an int device (cudaCpuDeviceId for the host).
cudaError_t prefetch_async(const void* p, std::size_t bytes, bool to_host, cudaStream_t s) {
  cudaMemLocation loc{};
  loc.type = to_host ? cudaMemLocationTypeHost : cudaMemLocationTypeDevice;
  loc.id = to_host ? 0 : ub::gpu().profile.device;
  return cudaMemPrefetchAsync(p, bytes, loc, 0, s);
}
#else
cudaError_t prefetch_async(const void* p, std::size_t bytes, bool to_host, cudaStream_t s) {
  return cudaMemPrefetchAsync(p, bytes, to_host ? cudaCpuDeviceId : ub::gpu().profile.device, s);
}
#endif

// ----------------------------------------------------------------------------------------------
// CPU side. noinline keeps each pass a real pass over memory.

volatile std::uint64_t cpu_sink = 0;

__attribute__((noinline)) std::uint64_t cpu_read(const void* p, std::size_t bytes) {
  const auto* w = static_cast<const std::uint64_t*>(p);
  const std::size_t n = bytes / sizeof(std::uint64_t);
  std::uint64_t a = 0, b = 0, c = 0, d = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a ^= w[i];
    b ^= w[i + 1];
    c ^= w[i + 2];
    d ^= w[i + 3];
  }
  for (; i < n; ++i) a ^= w[i];
  return a ^ b ^ c ^ d;
}

__attribute__((noinline)) void cpu_write(void* p, std::size_t bytes, int value) { std::memset(p, value, bytes); }

// ----------------------------------------------------------------------------------------------
// Paths.

enum class peak_of { host_link, dram, cpu };

/// One side (unimem or plain) of a path at one size, ready to run.
struct prepared {
  std::function<void(cudaStream_t)> reset;  ///< untimed, before each trial; may be empty
  std::function<void(cudaStream_t)> op;     ///< one transfer, enqueued (GPU paths)
  std::function<void()> cpu_op;             ///< one transfer (CPU paths)
};

struct path {
  std::string name;
  bool on_cpu = false;          ///< timed with steady_clock instead of events
  bool use_blocker = true;      ///< enqueue behind the spin kernel (never for pageable or managed)
  bool one_op_per_trial = false;  ///< the reset must precede every transfer
  peak_of peak = peak_of::host_link;
  std::size_t max_bytes = ~std::size_t{0};
  std::string note;             ///< added to the label
  std::function<std::string()> unsupported;  ///< "" when the path can run here, else why not (left out)
  std::function<prepared(origin, std::size_t)> prepare;
};

const buffer& get(kind k, origin o, int slot, std::size_t bytes) { return cache().get(k, o, slot, bytes); }

void launch_copy(void* dst, const void* src, std::size_t bytes, cudaStream_t s) {
  const std::size_t n = bytes / sizeof(int4);
  copy_kernel<<<grid_for(n), block_threads, 0, s>>>(static_cast<int4*>(dst), static_cast<const int4*>(src), n);
  check(cudaGetLastError(), "copy_kernel");
}
// The read kernel is unimem-probe's (unimem_support), so the two report the same path alike.
void launch_read(const void* p, std::size_t bytes, cudaStream_t s) {
  unimem::support::launch_read_kernel(p, bytes, grid_for(bytes / sizeof(int4)), block_threads, device_sink(), s);
}
void launch_write(void* p, std::size_t bytes, cudaStream_t s) {
  const std::size_t n = bytes / sizeof(int4);
  write_kernel<<<grid_for(n), block_threads, 0, s>>>(static_cast<int4*>(p), n, 0x3c);
  check(cudaGetLastError(), "write_kernel");
}

std::vector<path> all_paths() {
  std::vector<path> paths;
  const kind host_kinds[] = {kind::pageable, kind::pinned, kind::pinned_wc, kind::registered, kind::mapped};

  for (const bool sm : {false, true}) {
    const std::string engine = sm ? "copy_sm" : "copy_ce";
    for (const bool to_device : {true, false}) {
      for (const kind h : host_kinds) {
        path p;
        p.name = engine + (to_device ? "/h2d/" : "/d2h/") + kind_name(h);
        p.use_blocker = h != kind::pageable;  // pageable copies wait on the host: a blocked stream would deadlock
        p.unsupported = [h, sm] { return unsupported_reason(h, sm); };
        p.prepare = [h, sm, to_device](origin o, std::size_t bytes) {
          const buffer& host = get(h, o, 0, bytes);
          const buffer& dev = get(kind::device, o, 0, bytes);
          prepared r;
          void* hp = sm ? host.device : host.host;
          void* dst = to_device ? dev.device : hp;
          const void* src = to_device ? hp : dev.device;
          if (sm) {
            r.op = [=](cudaStream_t s) { launch_copy(dst, src, bytes, s); };
          } else {
            const auto dir = to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost;
            r.op = [=](cudaStream_t s) { check(cudaMemcpyAsync(dst, src, bytes, dir, s), "cudaMemcpyAsync"); };
          }
          return r;
        };
        paths.push_back(std::move(p));
      }
    }
    path d2d;
    d2d.name = engine + "/d2d/device";
    d2d.peak = peak_of::dram;
    d2d.note = "; bytes counted once (DRAM moves 2x)";
    d2d.unsupported = [] { return unsupported_reason(kind::device, true); };
    d2d.prepare = [sm](origin o, std::size_t bytes) {
      void* src = get(kind::device, o, 0, bytes).device;
      void* dst = get(kind::device, o, 1, bytes).device;
      prepared r;
      if (sm) {
        r.op = [=](cudaStream_t s) { launch_copy(dst, src, bytes, s); };
      } else {
        r.op = [=](cudaStream_t s) { check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s), "cudaMemcpyAsync"); };
      }
      return r;
    };
    paths.push_back(std::move(d2d));
  }

  for (const kind h : {kind::mapped, kind::registered, kind::device}) {
    for (const bool write : {false, true}) {
      path p;
      p.name = std::string(h == kind::device ? "kernel/" : "zero_copy/") + (write ? "write/" : "read/") + kind_name(h);
      p.peak = h == kind::device ? peak_of::dram : peak_of::host_link;
      p.unsupported = [h] { return unsupported_reason(h, true); };
      p.prepare = [h, write](origin o, std::size_t bytes) {
        void* ptr = get(h, o, 0, bytes).device;
        prepared r;
        if (write) r.op = [=](cudaStream_t s) { launch_write(ptr, bytes, s); };
        else r.op = [=](cudaStream_t s) { launch_read(ptr, bytes, s); };
        return r;
      };
      paths.push_back(std::move(p));
    }
  }

  // Managed memory: at most 256 MiB, where on-demand migration of a larger range takes seconds.
  for (const char* mode : {"on_demand", "prefetch", "resident"}) {
    const std::string m = mode;
    path p;
    p.name = "managed/" + m;
    p.use_blocker = m == "resident";
    p.one_op_per_trial = m != "resident";
    p.peak = m == "resident" ? peak_of::dram : peak_of::host_link;
    p.max_bytes = 256 * MiB;
    p.note = m == "on_demand" ? "; kernel faults pages in from the host"
             : m == "prefetch" ? "; cudaMemPrefetchAsync to the device + kernel, timed together"
                               : "; pages already on the device";
    p.unsupported = [m] {
      std::string why = unsupported_reason(kind::managed, true);
      if (why.empty() && m == "prefetch") {
        why = ub::needs_capability("cudaMemPrefetchAsync", &unimem::device_profile::concurrent_managed_access,
                                   "concurrentManagedAccess", ", as on every Jetson before Thor");
      }
      return why;
    };
    p.prepare = [m](origin o, std::size_t bytes) {
      void* ptr = get(kind::managed, o, 0, bytes).device;
      const bool migrates = ub::gpu().profile.concurrent_managed_access;
      prepared r;
      if (m == "resident") {
        if (migrates) {
          check(prefetch_async(ptr, bytes, false, nullptr), "cudaMemPrefetchAsync(device)");
          check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
        }
      } else if (migrates) {
        // The data starts on the host, as after the CPU produced it.
        r.reset = [=](cudaStream_t s) { check(prefetch_async(ptr, bytes, true, s), "cudaMemPrefetchAsync(host)"); };
      }
      if (m == "prefetch") {
        r.op = [=](cudaStream_t s) {
          check(prefetch_async(ptr, bytes, false, s), "cudaMemPrefetchAsync(device)");
          launch_read(ptr, bytes, s);
        };
      } else {
        r.op = [=](cudaStream_t s) { launch_read(ptr, bytes, s); };
      }
      return r;
    };
    paths.push_back(std::move(p));
  }

  for (const kind h : {kind::pageable, kind::pinned, kind::pinned_wc, kind::registered, kind::mapped, kind::managed}) {
    for (const bool write : {false, true}) {
      path p;
      p.name = std::string("cpu/") + (write ? "write/" : "read/") + kind_name(h);
      p.on_cpu = true;
      p.use_blocker = false;
      p.peak = peak_of::cpu;
      p.note = write ? "; one thread, memset" : "; one thread, XOR of 64-bit words";
      if (h == kind::pinned_wc && !write) p.note += "; write-combined memory is uncached for CPU reads";
      if (h == kind::managed) p.max_bytes = 256 * MiB;
      // Pageable memory is the one kind the CPU paths can use without a GPU.
      p.unsupported = [h] { return h == kind::pageable ? std::string() : unsupported_reason(h, false); };
      p.prepare = [h, write](origin o, std::size_t bytes) {
        void* ptr = get(h, o, 0, bytes).host;
        prepared r;
        if (write) {
          r.cpu_op = [ptr, bytes, v = 0]() mutable { cpu_write(ptr, bytes, (v++ & 0x7f) + 1); };
        } else {
          r.cpu_op = [ptr, bytes] { cpu_sink = cpu_sink ^ cpu_read(ptr, bytes); };
        }
        return r;
      };
      paths.push_back(std::move(p));
    }
  }
  return paths;
}

// ----------------------------------------------------------------------------------------------
// The benchmark body.

struct settings {
  int trials = 11;             ///< timed trials per side; the median is reported
  double trial_seconds = 0.01; ///< a trial repeats the transfer to last about this long
  double guard_seconds = 30;   ///< skip a size predicted to take longer than this
};

settings& run_settings() {
  static settings s;
  return s;
}

/// Median GB/s measured at the previous size of each path, to predict the next one's duration.
std::map<std::string, double>& last_rate() {
  static std::map<std::string, double> rates;
  return rates;
}

double run_trial(const path& p, const prepared& side, stream_timer* timer, int loops) {
  if (p.on_cpu) {
    const auto t0 = clock_type::now();
    for (int i = 0; i < loops; ++i) side.cpu_op();
    return std::chrono::duration<double>(clock_type::now() - t0).count();
  }
  const cudaStream_t s = timer->stream();
  if (side.reset) {
    side.reset(s);
    check(cudaStreamSynchronize(s), "cudaStreamSynchronize(reset)");
  }
  const bool block = p.use_blocker && !blocker_disabled();
  if (block) blocker().block(s);
  timer->start();
  for (int i = 0; i < loops; ++i) side.op(s);
  timer->stop();
  if (block) blocker().release();
  const double seconds = timer->wait_seconds();
  if (block && blocker().timed_out()) {
    blocker_disabled() = true;
    throw std::runtime_error(
        "the stream blocker timed out (the host could not enqueue the trial within 5 s); the rest of the run "
        "times without it, so small transfers include launch overhead");
  }
  check(cudaGetLastError(), "kernel");
  return seconds;
}

std::string peak_label(const path& p, double& peak) {
  const auto& pk = ub::device_peaks();
  const bool integrated = ub::gpu().ok && ub::gpu().profile.integrated;
  char buf[96] = "no peak known";
  peak = 0;
  if (p.peak == peak_of::host_link && !integrated && pk.pcie > 0) {
    peak = pk.pcie;
    std::snprintf(buf, sizeof(buf), "of %s = %.1f GB/s", pk.pcie_text.c_str(), peak / 1e9);
  } else if ((p.peak == peak_of::dram || integrated) && pk.dram > 0) {
    peak = pk.dram;
    std::snprintf(buf, sizeof(buf), "of DRAM %.1f GB/s", peak / 1e9);
  } else if (p.peak == peak_of::cpu) {
    std::snprintf(buf, sizeof(buf), "host DRAM peak not known");
  }
  return buf;
}

void bandwidth(benchmark::State& state, const path& p) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const settings& cfg = run_settings();
  if (const auto it = last_rate().find(p.name); it != last_rate().end() && it->second > 0) {
    const double predicted = 2.0 * (cfg.trials + 2) * std::max(cfg.trial_seconds, bytes / (it->second * 1e9));
    if (predicted > cfg.guard_seconds) {
      char why[256];
      std::snprintf(why, sizeof(why),
                    "about %.0f s at the %.3f GB/s measured at the previous size (limit %.0f s; "
                    "the full run, without UNIMEM_BENCH_QUICK, allows more)",
                    predicted, it->second, cfg.guard_seconds);
      ub::skip_run(state, why);
      return;
    }
  }
  try {
    cache().begin_benchmark();
    const prepared u = p.prepare(origin::unimem, bytes);
    const prepared r = p.prepare(origin::raw, bytes);
    std::unique_ptr<stream_timer> ut, rt;
    if (!p.on_cpu) {
      ut = std::make_unique<unimem_timer>();
      rt = std::make_unique<raw_timer>();
    }
    // Warm-up, which also sizes a trial.
    const double first = std::max(run_trial(p, u, ut.get(), 1), run_trial(p, r, rt.get(), 1));
    const int max_loops = p.one_op_per_trial ? 1 : p.use_blocker ? 64 : p.on_cpu ? (1 << 16) : 256;
    const int loops = static_cast<int>(std::clamp(cfg.trial_seconds / std::max(first, 1e-9), 1.0, double(max_loops)));
    std::vector<double> us, rs;
    bool unimem_first = true;
    for (auto _ : state) {
      double tu = 0, tr = 0;
      if (unimem_first) {
        tu = run_trial(p, u, ut.get(), loops);
        tr = run_trial(p, r, rt.get(), loops);
      } else {
        tr = run_trial(p, r, rt.get(), loops);
        tu = run_trial(p, u, ut.get(), loops);
      }
      unimem_first = !unimem_first;
      us.push_back(tu);
      rs.push_back(tr);
      state.SetIterationTime(tu / loops);
    }
    const double moved = static_cast<double>(bytes) * loops;
    const double gbps = moved / ub::median(us) / 1e9;
    const double raw_gbps = moved / ub::median(rs) / 1e9;
    last_rate()[p.name] = gbps;
    double peak = 0;
    const std::string label = peak_label(p, peak);
    state.counters["bytes"] = static_cast<double>(bytes);
    state.counters["loops"] = loops;
    state.counters["GBps"] = gbps;
    state.counters["raw_GBps"] = raw_gbps;
    state.counters["bw_ratio_vs_raw"] = raw_gbps > 0 ? gbps / raw_gbps : 0;
    if (peak > 0) state.counters["of_peak"] = gbps * 1e9 / peak;
    state.SetLabel(label + p.note + (p.use_blocker && blocker_disabled() ? "; without the stream blocker" : ""));
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

/// Runs host-to-device copies for ~50 ms so that the PCIe link is at full speed when sysfs is read.
void wake_pcie_link() {
  try {
    const std::size_t bytes = 64 * MiB;
    void* h = nullptr;
    void* d = nullptr;
    check(cudaHostAlloc(&h, bytes, cudaHostAllocPortable), "cudaHostAlloc");
    const cudaError_t err = cudaMalloc(&d, bytes);
    if (err == cudaSuccess) {
      const auto t0 = clock_type::now();
      while (clock_type::now() - t0 < std::chrono::milliseconds(50)) {
        cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice);
      }
      cudaFree(d);
    }
    cudaFreeHost(h);
    cudaGetLastError();
  } catch (const std::exception&) {
    // Only the peak's accuracy depends on this.
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = ub::quick_mode();
  ub::create_cuda_context();
  settings& cfg = run_settings();
  if (quick) cfg = settings{5, 0.002, 3.0};

  const std::size_t largest = ub::largest_sweep_bytes();
  const std::vector<std::size_t> sizes =
      ub::capped(quick ? std::vector<std::size_t>{4 * KiB, 64 * KiB, MiB, 16 * MiB, 256 * MiB} : ub::pow2_sweep(4 * KiB, GiB, 2),
                 largest);
  const ub::peaks& pk = ub::device_peaks(wake_pcie_link);
  char sweep[160];
  std::snprintf(sweep, sizeof(sweep), "%s to %s; %d trials per side, median; trials of about %.0f ms",
                ub::format_bytes(sizes.front()).c_str(), ub::format_bytes(sizes.back()).c_str(), cfg.trials,
                cfg.trial_seconds * 1e3);
  ub::add_context(pk, sweep);

  // Registered in path order, sizes ascending: the slow-size guard predicts from the previous size.
  // What cannot run on this machine is left out, with the reason, before anything runs.
  static std::vector<path> paths = all_paths();
  for (const path& p : paths) {
    if (const std::string why = p.unsupported(); !why.empty()) {
      ub::leave_out(p.name, why);
      continue;
    }
    auto* b = ub::add(p.name, [&p](benchmark::State& s) { bandwidth(s, p); });
    for (const std::size_t s : sizes) {
      if (s <= p.max_bytes) b->Arg(static_cast<std::int64_t>(s));
    }
    b->Iterations(cfg.trials)->UseManualTime()->Unit(benchmark::kMicrosecond);
  }
  ub::check_counter("bw_ratio_vs_raw", 0.95, 1.05, "unimem GB/s over plain CUDA GB/s, same path, same loop");
  const int rc = ub::run_with_peer_table(argc, argv);
  cache().clear();
  return rc;
}
