// What the memory microbenchmarks (bench_bandwidth, bench_latency) share: the GPU or the reason
// there is none, the size sweeps (full and UNIMEM_BENCH_QUICK=1), the peaks a result is a fraction
// of, and (from unimem_support) medians and a throwing CUDA check. Header-only; needs the CUDA
// runtime API, not nvcc.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <unimem/device_profile.hpp>
#include <unimem/pcie.hpp>
#include <unimem/system_memory.hpp>
#include <unimem_support/cuda.hpp>
#include <unimem_support/stats.hpp>

#include "support/bench_main.hpp"

namespace unimem::bench {

inline constexpr std::size_t KiB = std::size_t{1} << 10;
inline constexpr std::size_t MiB = std::size_t{1} << 20;
inline constexpr std::size_t GiB = std::size_t{1} << 30;

/// Throws unimem::cuda_error naming the call; benchmarks turn it into SkipWithError so one
/// failing path does not end the run (an error, reported as one: what cannot run here is left
/// out before the run, see bench_main.hpp).
using support::check;

/// The GPU the benchmarks run on, or why there is none.
struct gpu_state {
  bool ok = false;
  std::string why;  ///< set when !ok
  device_profile profile;
};

inline const gpu_state& gpu() {
  static const gpu_state state = [] {
    gpu_state s;
    if (cuda_device_count(&s.why) == 0) return s;
    try {
      s.profile = device_profile::current();
      s.ok = true;
    } catch (const std::exception& e) {
      s.why = e.what();
    }
    return s;
  }();
  return state;
}

/// Creates the CUDA context, where there is a GPU, before the first benchmark so that none pays
/// for it.
inline void create_cuda_context() {
  if (gpu().ok) cudaFree(nullptr);
}

/// Why a benchmark that needs a GPU is left out here: "no CUDA GPU (<why>)".
inline std::string no_gpu_reason() { return "no CUDA GPU (" + gpu().why + ")"; }

/// "" when this machine's GPU reports `flag`; otherwise why `what` is left out, naming the device
/// attribute and this device's value, e.g. "registered memory needs hostRegisterSupported = 1
/// (Jetson Nano: 0)". Without a GPU, no_gpu_reason().
inline std::string needs_capability(const std::string& what, bool device_profile::*flag, const char* attribute,
                                    const std::string& note = "") {
  if (!gpu().ok) return no_gpu_reason();
  if (gpu().profile.*flag) return {};
  return what + " needs " + attribute + " = 1 (" + gpu().profile.name + ": 0" + note + ")";
}

using support::median;

/// Keeps at most `capacity` samples (reservoir sampling with a fixed seed), so that benchmarks
/// whose iteration count Google Benchmark chooses (millions for a cheap malloc) still report a
/// median without storing every sample.
class sample_keeper {
 public:
  explicit sample_keeper(std::size_t capacity = std::size_t{1} << 16) : capacity_(capacity) { samples_.reserve(1024); }
  void add(double x) {
    ++seen_;
    if (samples_.size() < capacity_) {
      samples_.push_back(x);
      return;
    }
    state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
    const std::uint64_t slot = (state_ >> 17) % seen_;
    if (slot < capacity_) samples_[slot] = x;
  }
  double median() const { return bench::median(samples_); }
  double sum() const {
    double s = 0;
    for (double x : samples_) s += x;
    return s;
  }
  std::size_t size() const noexcept { return samples_.size(); }

 private:
  std::size_t capacity_;
  std::vector<double> samples_;
  std::uint64_t seen_ = 0;
  std::uint64_t state_ = 0x9e3779b97f4a7c15ull;
};

/// Largest buffer a sweep uses: 1 GiB, or less where memory is short (a 4 GB Jetson must not be
/// pushed into the OOM killer by a benchmark). A bandwidth benchmark holds up to four buffers of
/// this size at once (source and destination, for unimem and for plain CUDA).
inline std::size_t largest_sweep_bytes() {
  std::size_t limit = GiB;
  if (const auto m = read_meminfo()) limit = std::min(limit, m->mem_available / 16);
  if (gpu().ok && !gpu().profile.integrated && gpu().profile.total_memory_bytes > 0) {
    limit = std::min(limit, gpu().profile.total_memory_bytes / 8);
  }
  std::size_t p = 4 * KiB;
  while (p * 2 <= limit) p *= 2;
  return p;
}

/// Powers of two from `lo` to `hi` inclusive, multiplying by 2^step_log2.
inline std::vector<std::size_t> pow2_sweep(std::size_t lo, std::size_t hi, unsigned step_log2) {
  std::vector<std::size_t> v;
  for (std::size_t s = lo; s <= hi; s <<= step_log2) v.push_back(s);
  return v;
}

/// `sizes` without those above `hi`.
inline std::vector<std::size_t> capped(std::vector<std::size_t> sizes, std::size_t hi) {
  sizes.erase(std::remove_if(sizes.begin(), sizes.end(), [hi](std::size_t s) { return s > hi; }), sizes.end());
  return sizes;
}

inline std::string format_bytes(std::size_t b) {
  char buf[32];
  if (b >= GiB && b % GiB == 0) std::snprintf(buf, sizeof(buf), "%zu GiB", b / GiB);
  else if (b >= MiB && b % MiB == 0) std::snprintf(buf, sizeof(buf), "%zu MiB", b / MiB);
  else if (b >= KiB && b % KiB == 0) std::snprintf(buf, sizeof(buf), "%zu KiB", b / KiB);
  else std::snprintf(buf, sizeof(buf), "%zu B", b);
  return buf;
}

/// Theoretical peaks a measured bandwidth is reported as a fraction of.
struct peaks {
  double dram = 0;  ///< device DRAM (on Jetson the DRAM the CPU shares), bytes/s; 0 when unknown
  double pcie = 0;  ///< host link of a discrete GPU, bytes/s; 0 when integrated or unknown
  std::string pcie_text;  ///< e.g. "PCIe 32 GT/s x16"
};

/// Reads the peaks on the first call and returns them ever after. The PCIe link is read after
/// `wake_link` (when given) has run, because GPUs lower the link speed while idle and sysfs then
/// reports the idle speed.
inline const peaks& device_peaks(void (*wake_link)() = nullptr) {
  static const peaks p = [&] {
    peaks r;
    if (!gpu().ok) return r;
    r.dram = gpu().profile.peak_bandwidth_bytes_per_s();
    if (gpu().profile.integrated) return r;
    if (wake_link != nullptr) wake_link();
    if (const auto link = pcie_link_of_device(gpu().profile.device)) {
      r.pcie = link->peak_bytes_per_s();
      char buf[96];
      std::snprintf(buf, sizeof(buf), "PCIe %g GT/s x%d%s", link->speed_gt_per_s, link->width,
                    link->downgraded() ? " (below the device's maximum)" : "");
      r.pcie_text = buf;
    }
    return r;
  }();
  return p;
}

/// Google Benchmark's context block (printed first, and in the JSON under "context"): what the
/// plotting script needs to label charts and draw the peaks.
inline void add_context(const peaks& pk, const std::string& sweep) {
  benchmark::AddCustomContext("unimem_mode", quick_mode() ? "quick (UNIMEM_BENCH_QUICK=1)" : "full");
  benchmark::AddCustomContext("unimem_sweep", sweep);
  if (!gpu().ok) {
    benchmark::AddCustomContext("unimem_gpu", "none: " + gpu().why);
    return;
  }
  const auto& p = gpu().profile;
  benchmark::AddCustomContext("unimem_gpu", p.name);
  benchmark::AddCustomContext("unimem_integrated", p.integrated ? "1" : "0");
  benchmark::AddCustomContext("unimem_dram_peak_GBps", std::to_string(pk.dram / 1e9));
  int l2 = 0;
  if (cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, p.device) == cudaSuccess && l2 > 0) {
    benchmark::AddCustomContext("unimem_l2_bytes", std::to_string(l2));
  }
  cudaGetLastError();
  if (pk.pcie > 0) {
    benchmark::AddCustomContext("unimem_pcie_peak_GBps", std::to_string(pk.pcie / 1e9));
    benchmark::AddCustomContext("unimem_pcie_link", pk.pcie_text);
  }
}

}  // namespace unimem::bench
