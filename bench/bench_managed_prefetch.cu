// Managed memory used by a kernel, with and without prefetch.
//
// The situation: the CPU has just written a buffer of managed memory (a frame, a batch of inputs),
// so its pages sit in host memory; a kernel now reads and writes all of it. Without a prefetch the
// kernel faults the pages over on demand; with one they migrate in bulk first. Peers in the same
// run: the raw cudaMemPrefetchAsync call (unimem::prefetch must cost the same), the explicit
// alternative (cudaMemcpyAsync from pinned into device memory, then the kernel), and the kernel on
// data already resident (the floor). A round trip adds the way back: the CPU reads the result,
// through faults or through unimem::host_access (prefetch to the CPU, then read).
//
// Sizes stay at 64 and 256 MiB: large managed allocations can hang a shared GPU.
// Timing: kernel-side cases use CUDA events (manual time); round trips use the wall clock.
// At the end a table gives each case's time relative to its peers.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <unimem/device_profile.hpp>
#include <unimem/movement/host_access.hpp>
#include <unimem/resources/managed_resource.hpp>
#include <unimem/movement/prefetch.hpp>
#include <unimem/stream.hpp>
#include <unimem_support/cuda.hpp>

#include "support/bench_names.hpp"

namespace {

__global__ void axpb_kernel(float* x, std::size_t n, float a, float b) {
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n; i += std::size_t{gridDim.x} * blockDim.x) {
    x[i] = x[i] * a + b;
  }
}

void launch(float* x, std::size_t n, cudaStream_t s) {
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  axpb_kernel<<<sms * 8, 256, 0, s>>>(x, n, 1.0001f, 1.0f);
  check(cudaGetLastError(), "axpb_kernel launch");
}

/// The CPU writes every page, so they all live on the host before the timed part.
void cpu_touch(float* x, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(i & 1023);
}

double cpu_sum(const float* x, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; i += 16) s += x[i];  // one read per 64 B line touches every page
  return s;
}

enum class mode { no_prefetch, cuda_prefetch, unimem_prefetch, resident };

/// state.range(0) MiB of floats in globally attached managed memory on the current device.
struct managed_floats {
  explicit managed_floats(const benchmark::State& state)
      : bytes(static_cast<std::size_t>(state.range(0)) * MiB),
        n(bytes / sizeof(float)),
        prof(unimem::device_profile::current()),
        mr(unimem::managed_attach::global, prof),
        x(static_cast<float*>(mr.allocate(bytes))) {}
  ~managed_floats() { mr.deallocate(x, bytes); }
  managed_floats(const managed_floats&) = delete;
  managed_floats& operator=(const managed_floats&) = delete;

  const std::size_t bytes;
  const std::size_t n;
  const unimem::device_profile prof;
  unimem::managed_resource mr;
  float* const x;
};

void kernel_on_managed(benchmark::State& state, mode m) {
  managed_floats buf(state);
  auto& [bytes, n, prof, mr, x] = buf;
  unimem::cuda_stream stream;
  unimem::support::stream_stopwatch watch;
  for (auto _ : state) {
    if (m == mode::resident) {
      (void)unimem::prefetch(x, bytes, unimem::location::on_device(prof.device), stream, prof);
      stream.synchronize();
    } else {
      cpu_touch(x, n);
    }
    watch.start(stream);
    if (m == mode::cuda_prefetch) {
#if CUDART_VERSION >= 13000
      cudaMemLocation loc{};
      loc.type = cudaMemLocationTypeDevice;
      loc.id = prof.device;
      check(cudaMemPrefetchAsync(x, bytes, loc, 0, stream.view()), "cudaMemPrefetchAsync");
#else
      check(cudaMemPrefetchAsync(x, bytes, prof.device, stream.view()), "cudaMemPrefetchAsync");
#endif
    } else if (m == mode::unimem_prefetch) {
      (void)unimem::prefetch(x, bytes, unimem::location::on_device(prof.device), stream, prof);
    }
    launch(x, n, stream.view());
    watch.stop(stream);
    state.SetIterationTime(watch.seconds());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

/// The explicit alternative: pinned staging, cudaMemcpyAsync into device memory, the kernel.
void kernel_on_device_after_copy(benchmark::State& state) {
  const std::size_t bytes = static_cast<std::size_t>(state.range(0)) * MiB;
  const std::size_t n = bytes / sizeof(float);
  float* host = nullptr;
  float* dev = nullptr;
  check(cudaMallocHost(&host, bytes), "cudaMallocHost");
  check(cudaMalloc(&dev, bytes), "cudaMalloc");
  unimem::cuda_stream stream;
  unimem::support::stream_stopwatch watch;
  for (auto _ : state) {
    cpu_touch(host, n);
    watch.start(stream);
    check(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, stream.view()), "cudaMemcpyAsync");
    launch(dev, n, stream.view());
    watch.stop(stream);
    state.SetIterationTime(watch.seconds());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  cudaFree(dev);
  cudaFreeHost(host);
}

/// CPU writes, kernel, CPU reads: by page faults both ways, or with unimem::prefetch on the way in
/// and unimem::host_access (prefetch to the CPU + stream sync) on the way back.
void round_trip(benchmark::State& state, bool with_unimem) {
  managed_floats buf(state);
  auto& [bytes, n, prof, mr, x] = buf;
  unimem::cuda_stream stream;
  double sink = 0;
  for (auto _ : state) {
    cpu_touch(x, n);  // untimed by construction: the clock starts after it
    const auto t0 = std::chrono::steady_clock::now();
    if (with_unimem) {
      (void)unimem::prefetch(x, bytes, unimem::location::on_device(prof.device), stream, prof);
      launch(x, n, stream.view());
      unimem::host_access guard(x, bytes, {stream.view()}, unimem::attachment::global(), prof);
      sink += cpu_sum(x, n);
    } else {
      launch(x, n, stream.view());
      stream.synchronize();
      sink += cpu_sum(x, n);
    }
    const auto t1 = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
  benchmark::DoNotOptimize(sink);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes * 2));
}

void configure(benchmark::internal::Benchmark* b) {
  b->Arg(64)->Arg(256)->ArgName("MiB")->UseManualTime()->Unit(benchmark::kMillisecond);
}

/// Prints the console table as usual and remembers each case's time for the ratio table.
class ratio_reporter : public ub::console_reporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    console_reporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.run_type == Run::RT_Iteration && r.iterations > 0) times_[r.benchmark_name()] = r.GetAdjustedRealTime();
    }
  }

  void print_ratios() const {
    std::printf("\nRatios (time of the first over time of the second; < 1 means the first is faster):\n");
    for (const char* size : {"64", "256"}) {
      const auto t = [&](const std::string& name) {
        const auto it = times_.find(name + "/MiB:" + size + "/manual_time");
        return it == times_.end() ? 0.0 : it->second;
      };
      const auto line = [&](const char* what, const std::string& a, const std::string& b) {
        const double ta = t(a), tb = t(b);
        if (ta > 0 && tb > 0) std::printf("  %4s MiB  %-58s %6.3f\n", size, what, ta / tb);
      };
      line("unimem::prefetch / no prefetch (page faults)", "kernel_on_managed/unimem_prefetch",
           "kernel_on_managed/no_prefetch");
      line("unimem::prefetch / raw cudaMemPrefetchAsync (wrapper cost)", "kernel_on_managed/unimem_prefetch",
           "kernel_on_managed/cuda_prefetch");
      line("unimem::prefetch / pinned copy + device memory", "kernel_on_managed/unimem_prefetch",
           "kernel_on_device_after_copy");
      line("resident (floor) / unimem::prefetch", "kernel_on_managed/resident", "kernel_on_managed/unimem_prefetch");
      line("round trip: prefetch + host_access / page faults", "round_trip/unimem_prefetch_and_host_access",
           "round_trip/page_faults");
    }
  }

 private:
  std::map<std::string, double> times_;
};

}  // namespace

int main(int argc, char** argv) {
  using unimem::device_profile;
  const std::string managed_why = ub::needs_capability("managed memory", &device_profile::managed_memory, "managedMemory");
  std::string prefetch_why = managed_why;
  if (prefetch_why.empty()) {
    prefetch_why = ub::needs_capability("the raw cudaMemPrefetchAsync", &device_profile::concurrent_managed_access,
                                        "concurrentManagedAccess", "; unimem::prefetch attaches instead there");
  }
  const std::string device_why = ub::gpu().ok ? std::string() : ub::no_gpu_reason();
  const std::pair<std::string, std::function<void(benchmark::State&)>> cases[] = {
      {"kernel_on_managed/no_prefetch", [](benchmark::State& s) { kernel_on_managed(s, mode::no_prefetch); }},
      {"kernel_on_managed/cuda_prefetch", [](benchmark::State& s) { kernel_on_managed(s, mode::cuda_prefetch); }},
      {"kernel_on_managed/unimem_prefetch", [](benchmark::State& s) { kernel_on_managed(s, mode::unimem_prefetch); }},
      {"kernel_on_managed/resident", [](benchmark::State& s) { kernel_on_managed(s, mode::resident); }},
      {"kernel_on_device_after_copy", kernel_on_device_after_copy},
      {"round_trip/page_faults", [](benchmark::State& s) { round_trip(s, false); }},
      {"round_trip/unimem_prefetch_and_host_access", [](benchmark::State& s) { round_trip(s, true); }},
  };
  for (const auto& [name, fn] : cases) {
    const std::string& why = name == "kernel_on_managed/cuda_prefetch" ? prefetch_why
                             : name == "kernel_on_device_after_copy"  ? device_why
                                                                       : managed_why;
    if (why.empty()) configure(ub::add(name, fn));
    else ub::leave_out(name, why);
  }
  ratio_reporter reporter;
  return ub::run_benchmarks(
      argc, argv, reporter,
      [] {
        const device_profile& prof = ub::gpu().profile;
        std::printf("device: %s, concurrentManagedAccess = %d, integrated = %d\n", prof.name.c_str(),
                    prof.concurrent_managed_access ? 1 : 0, prof.integrated ? 1 : 0);
      },
      [&reporter] { reporter.print_ratios(); });
}
