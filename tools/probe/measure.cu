// The quick measurement table of unimem-probe. Method: a warm-up, then the median of several timed
// repetitions, CUDA events around GPU work (unimem_support's time_on_stream), steady_clock around
// allocation calls. The full sweep (sizes, copy kernels, pointer chase) lives in bench/.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include <cuda_runtime.h>

#include <unimem/pcie.hpp>
#include <unimem/unimem.hpp>
#include <unimem_support/cuda.hpp>
#include <unimem_support/stats.hpp>

#include "probe.hpp"

namespace unimem::probe {
namespace {

constexpr std::size_t copy_bytes = 64u << 20;
constexpr int reps = 9;

using support::check;

/// Median seconds of `work` enqueued on `s` (one warm-up first).
double time_on_stream(cudaStream_t s, const std::function<void()>& work) {
  return support::median(support::time_on_stream(s, reps, work));
}

double kernel_read_gbps(const void* p, std::size_t bytes, const device_profile& profile, int* sink, cudaStream_t s) {
  const unsigned blocks = static_cast<unsigned>(profile.multiprocessors * 4);
  const double sec = time_on_stream(s, [&] { support::launch_read_kernel(p, bytes, blocks, 512, sink, s); });
  return static_cast<double>(bytes) / sec / 1e9;
}

double copy_gbps(void* dst, const void* src, std::size_t bytes, cudaStream_t s) {
  const double sec = time_on_stream(s, [&] { check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s), "cudaMemcpyAsync"); });
  return static_cast<double>(bytes) / sec / 1e9;
}

/// Median microseconds of one allocate+deallocate pair of `bytes` from `mr`.
double alloc_free_us(memory_resource& mr, std::size_t bytes) {
  mr.deallocate(mr.allocate(bytes), bytes);  // warm-up: first-touch costs are not the steady state
  std::vector<double> us;
  for (int i = 0; i < 15; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    void* p = mr.allocate(bytes);
    mr.deallocate(p, bytes);
    const auto t1 = std::chrono::steady_clock::now();
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  return support::median(us);
}

}  // namespace

std::vector<measurement> measure(const device_profile& profile) {
  std::vector<measurement> rows;
  const double dram_peak = profile.peak_bandwidth_bytes_per_s();
  const std::optional<double> pcie_peak = profile.integrated ? std::nullopt : unimem::pcie_peak_bytes_per_s(profile.device);

  // Copies cross PCIe on a discrete GPU and stay in DRAM on an integrated one.
  auto bw_row = [&](std::string name, double gbps, bool through_host_link) {
    measurement m{std::move(name), gbps, "GB/s", std::nullopt, {}, {}};
    if (through_host_link && !profile.integrated) {
      if (pcie_peak) {
        m.fraction_of_peak = gbps * 1e9 / *pcie_peak;
        m.peak_name = "PCIe";
      }
    } else if (dram_peak > 0) {
      m.fraction_of_peak = gbps * 1e9 / dram_peak;
      m.peak_name = "DRAM";
    }
    rows.push_back(std::move(m));
  };

  cuda_stream stream;
  cudaStream_t s = stream.view().value();
  device_resource device_mr;
  pinned_resource pinned_mr;
  host_resource host_mr;
  int* sink = nullptr;
  check(cudaMalloc(&sink, sizeof(int)), "cudaMalloc(sink)");
  std::unique_ptr<int, decltype(&cudaFree)> sink_guard(sink, &cudaFree);

  {
    void* dev = device_mr.allocate(copy_bytes);
    void* pinned = pinned_mr.allocate(copy_bytes);
    void* pageable = host_mr.allocate(copy_bytes, 4096);
    std::memset(pinned, 1, copy_bytes);
    std::memset(pageable, 1, copy_bytes);
    bw_row("H2D pageable", copy_gbps(dev, pageable, copy_bytes, s), true);
    bw_row("H2D pinned", copy_gbps(dev, pinned, copy_bytes, s), true);
    bw_row("D2H pageable", copy_gbps(pageable, dev, copy_bytes, s), true);
    bw_row("D2H pinned", copy_gbps(pinned, dev, copy_bytes, s), true);
    host_mr.deallocate(pageable, copy_bytes, 4096);
    pinned_mr.deallocate(pinned, copy_bytes);
    device_mr.deallocate(dev, copy_bytes);
  }
  if (profile.can_map_host_memory) {
    mapped_resource mapped_mr;
    void* p = mapped_mr.allocate(copy_bytes);
    std::memset(p, 1, copy_bytes);
    bw_row("kernel read, mapped (zero-copy)", kernel_read_gbps(mapped_mr.device_pointer(p), copy_bytes, profile, sink, s), true);
    mapped_mr.deallocate(p, copy_bytes);
  }
  {
    // Large enough to spill any L2 (H200: 60 MB) many times over.
    const std::size_t bytes = std::size_t{1} << 30;
    void* dev = device_mr.allocate(bytes);
    check(cudaMemset(dev, 1, bytes), "cudaMemset");
    bw_row("kernel read, device", kernel_read_gbps(dev, bytes, profile, sink, s), false);
    device_mr.deallocate(dev, bytes);
  }

  const std::size_t alloc_bytes = 1u << 20;
  auto latency_row = [&](const char* name, const std::function<std::unique_ptr<memory_resource>()>& make,
                         const char* unsupported) {
    if (unsupported != nullptr) {
      rows.push_back({name, 0, "us", std::nullopt, {}, unsupported});
      return;
    }
    auto mr = make();
    rows.push_back({name, alloc_free_us(*mr, alloc_bytes), "us", std::nullopt, {}, "1 MiB allocate+free, median"});
  };
  latency_row("alloc+free host", [] { return std::make_unique<host_resource>(); }, nullptr);
  latency_row("alloc+free device", [] { return std::make_unique<device_resource>(); }, nullptr);
  latency_row("alloc+free managed", [&] { return std::make_unique<managed_resource>(managed_attach::global, profile); },
              profile.managed_memory ? nullptr : "skipped: managedMemory = 0");
  latency_row("alloc+free pinned", [&] { return std::make_unique<pinned_resource>(pinned_options{}, profile); }, nullptr);
  latency_row("alloc+free mapped", [&] { return std::make_unique<mapped_resource>(false, profile); },
              profile.can_map_host_memory ? nullptr : "skipped: canMapHostMemory = 0");
  latency_row("alloc+free registered", [&] { return std::make_unique<registered_resource>(profile); },
              profile.host_register_supported ? nullptr : "skipped: hostRegisterSupported = 0");
  return rows;
}

}  // namespace unimem::probe
