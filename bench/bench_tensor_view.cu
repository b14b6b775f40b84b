// Does indexing through tensor_view cost anything in a kernel? The same memory-bound kernel
// (out = a * in + b) runs over raw pointers with hand-written index arithmetic, over tensor_view
// and, where it applies, over cuda::std::mdspan. Each benchmark iteration times every variant once
// with CUDA events, alternating which goes first, so the variants share clocks, caches and thermal
// state; the counters report the medians and their ratio. The target (BRIEF §4) is
// view_over_raw <= 1.02.
//
//   ./build/bench/bench_tensor_view --benchmark_counters_tabular=true
//
// Counters: raw_us / view_us / mdspan_us (median kernel time), view_over_raw and mdspan_over_raw
// (ratio of the medians), view_over_raw_mean (ratio of the totals), raw_GBps / view_GBps (bytes read
// and written per second) and view_peak_fraction (of the device's theoretical DRAM bandwidth). The
// reported iteration time is the view kernel's.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <unimem/buffer.hpp>
#include <unimem/device_profile.hpp>
#include <unimem/device_resource.hpp>
#include <unimem/mdspan.hpp>
#include <unimem/tensor_view.hpp>

namespace {

using unimem::index_array;
using unimem::tensor_view;

constexpr float kA = 1.5F;
constexpr float kB = 0.25F;
constexpr dim3 kBlock2d(32, 8);

// ---- kernels: identical loop nests, only the addressing differs --------------------------------

__global__ void raw_1d(float* out, const float* in, std::int64_t n, float a, float b) {
  for (std::int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += std::int64_t{gridDim.x} * blockDim.x) {
    out[i] = a * in[i] + b;
  }
}

__global__ void view_1d(tensor_view<float, 1> out, tensor_view<const float, 1> in, float a, float b) {
  for (std::int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < out.extent(0);
       i += std::int64_t{gridDim.x} * blockDim.x) {
    out(i) = a * in(i) + b;
  }
}

__global__ void raw_2d(float* out, const float* in, std::int64_t rows, std::int64_t cols, std::int64_t ld_out,
                       std::int64_t ld_in, float a, float b) {
  for (std::int64_t i = blockIdx.y * blockDim.y + threadIdx.y; i < rows; i += std::int64_t{gridDim.y} * blockDim.y) {
    for (std::int64_t j = blockIdx.x * blockDim.x + threadIdx.x; j < cols; j += std::int64_t{gridDim.x} * blockDim.x) {
      out[i * ld_out + j] = a * in[i * ld_in + j] + b;
    }
  }
}

__global__ void view_2d(tensor_view<float, 2> out, tensor_view<const float, 2> in, float a, float b) {
  for (std::int64_t i = blockIdx.y * blockDim.y + threadIdx.y; i < out.extent(0);
       i += std::int64_t{gridDim.y} * blockDim.y) {
    for (std::int64_t j = blockIdx.x * blockDim.x + threadIdx.x; j < out.extent(1);
         j += std::int64_t{gridDim.x} * blockDim.x) {
      out(i, j) = a * in(i, j) + b;
    }
  }
}

template <class OutSpan, class InSpan>
__global__ void mdspan_2d(OutSpan out, InSpan in, float a, float b) {
  for (std::int64_t i = blockIdx.y * blockDim.y + threadIdx.y; i < out.extent(0);
       i += std::int64_t{gridDim.y} * blockDim.y) {
    for (std::int64_t j = blockIdx.x * blockDim.x + threadIdx.x; j < out.extent(1);
         j += std::int64_t{gridDim.x} * blockDim.x) {
      out(i, j) = a * in(i, j) + b;
    }
  }
}

// Planar C×H×W images (a camera frame per channel): one z block row per channel.
__global__ void raw_3d(float* out, const float* in, std::int64_t c, std::int64_t h, std::int64_t w, float a,
                       float b) {
  for (std::int64_t k = blockIdx.z; k < c; k += gridDim.z) {
    for (std::int64_t i = blockIdx.y * blockDim.y + threadIdx.y; i < h; i += std::int64_t{gridDim.y} * blockDim.y) {
      for (std::int64_t j = blockIdx.x * blockDim.x + threadIdx.x; j < w; j += std::int64_t{gridDim.x} * blockDim.x) {
        const std::int64_t idx = (k * h + i) * w + j;
        out[idx] = a * in[idx] + b;
      }
    }
  }
}

__global__ void view_3d(tensor_view<float, 3> out, tensor_view<const float, 3> in, float a, float b) {
  for (std::int64_t k = blockIdx.z; k < out.extent(0); k += gridDim.z) {
    for (std::int64_t i = blockIdx.y * blockDim.y + threadIdx.y; i < out.extent(1);
         i += std::int64_t{gridDim.y} * blockDim.y) {
      for (std::int64_t j = blockIdx.x * blockDim.x + threadIdx.x; j < out.extent(2);
           j += std::int64_t{gridDim.x} * blockDim.x) {
        out(k, i, j) = a * in(k, i, j) + b;
      }
    }
  }
}

// Keeps the GPU busy for about `ns` so that the host has queued every timed launch before the
// first start event is reached; otherwise the first variant of a round would also time the launch
// latency of its kernel.
__global__ void spin(std::int64_t ns) {
  const long long start = clock64();
  // clock64 counts SM cycles; 2 GHz is an upper bound for the parts this runs on, so this waits at
  // least `ns`.
  while (clock64() - start < 2 * ns) {
  }
}

// ---- measurement ---------------------------------------------------------------------------------

bool require_gpu(benchmark::State& state) {
  std::string why;
  if (unimem::cuda_device_count(&why) > 0) return true;
  state.SkipWithError(("needs a CUDA GPU: " + why).c_str());
  return false;
}

void check(cudaError_t err, benchmark::State& state) {
  if (err != cudaSuccess) state.SkipWithError(cudaGetErrorString(err));
}

unsigned clamp_grid(std::int64_t blocks, unsigned limit) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min<std::int64_t>(blocks, limit)));
}

double median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0.0 : (n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

/// Times each launcher once per benchmark iteration, in rotating order, and publishes the counters.
/// launchers[0] is the raw-pointer peer, launchers[1] the tensor_view, launchers[2] (optional) mdspan.
template <class... Launch>
void run_variants(benchmark::State& state, double bytes_moved, Launch... launch) {
  constexpr std::size_t n = sizeof...(Launch);
  std::vector<std::function<void()>> launchers{launch...};
  cudaEvent_t start[n];
  cudaEvent_t stop[n];
  for (std::size_t v = 0; v < n; ++v) {
    cudaEventCreate(&start[v]);
    cudaEventCreate(&stop[v]);
  }
  for (int warm = 0; warm < 3; ++warm) {
    for (auto& l : launchers) l();
  }
  check(cudaDeviceSynchronize(), state);
  std::vector<std::vector<float>> ms(n);
  std::size_t round = 0;
  for (auto _ : state) {
    spin<<<1, 1>>>(50'000);
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t v = (round + k) % n;  // rotate who goes first
      cudaEventRecord(start[v]);
      launchers[v]();
      cudaEventRecord(stop[v]);
    }
    check(cudaEventSynchronize(stop[(round + n - 1) % n]), state);
    float view_ms = 0;
    for (std::size_t v = 0; v < n; ++v) {
      float t = 0;
      cudaEventElapsedTime(&t, start[v], stop[v]);
      ms[v].push_back(t);
      if (v == 1) view_ms = t;
    }
    state.SetIterationTime(view_ms / 1e3);
    ++round;
  }
  check(cudaGetLastError(), state);
  for (std::size_t v = 0; v < n; ++v) {
    cudaEventDestroy(start[v]);
    cudaEventDestroy(stop[v]);
  }
  const double raw = median(ms[0]);
  const double view = median(ms[1]);
  double raw_total = 0;
  double view_total = 0;
  for (float t : ms[0]) raw_total += t;
  for (float t : ms[1]) view_total += t;
  state.counters["raw_us"] = raw * 1e3;
  state.counters["view_us"] = view * 1e3;
  state.counters["view_over_raw"] = raw > 0 ? view / raw : 0;
  state.counters["view_over_raw_mean"] = raw_total > 0 ? view_total / raw_total : 0;
  state.counters["raw_GBps"] = raw > 0 ? bytes_moved / (raw * 1e-3) / 1e9 : 0;
  state.counters["view_GBps"] = view > 0 ? bytes_moved / (view * 1e-3) / 1e9 : 0;
  if (n > 2) {
    const double md = median(ms[2]);
    state.counters["mdspan_us"] = md * 1e3;
    state.counters["mdspan_over_raw"] = raw > 0 ? md / raw : 0;
  }
  const double peak = unimem::device_profile::current().peak_bandwidth_bytes_per_s();
  if (peak > 0 && view > 0) state.counters["view_peak_fraction"] = bytes_moved / (view * 1e-3) / peak;
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes_moved) * static_cast<std::int64_t>(state.iterations()));
}

// ---- cases -----------------------------------------------------------------------------------------

/// 1-D: n floats (2^26 = 256 MiB in, 256 MiB out by default).
void BM_affine_1d(benchmark::State& state) {
  if (!require_gpu(state)) return;
  const std::int64_t n = state.range(0);
  unimem::device_resource mr;
  unimem::buffer<float> in(static_cast<std::size_t>(n), mr);
  unimem::buffer<float> out(static_cast<std::size_t>(n), mr);
  check(cudaMemset(in.data(), 0, in.size_bytes()), state);
  const unsigned grid = clamp_grid((n + 255) / 256, 65535);
  float* o = out.data();
  const float* i = in.data();
  tensor_view<float, 1> vo(o, n);
  tensor_view<const float, 1> vi(i, n);
  run_variants(
      state, 2.0 * static_cast<double>(n) * sizeof(float), [=] { raw_1d<<<grid, 256>>>(o, i, n, kA, kB); },
      [=] { view_1d<<<grid, 256>>>(vo, vi, kA, kB); });
}

/// 2-D contiguous rows × cols, plus the mdspan peers (layout_right and layout_stride).
void BM_affine_2d(benchmark::State& state) {
  if (!require_gpu(state)) return;
  const std::int64_t rows = state.range(0);
  const std::int64_t cols = state.range(1);
  unimem::device_resource mr;
  unimem::buffer<float> in(static_cast<std::size_t>(rows * cols), mr);
  unimem::buffer<float> out(static_cast<std::size_t>(rows * cols), mr);
  check(cudaMemset(in.data(), 0, in.size_bytes()), state);
  const dim3 grid(clamp_grid((cols + 31) / 32, 65535), clamp_grid((rows + 7) / 8, 65535));
  float* o = out.data();
  const float* i = in.data();
  tensor_view<float, 2> vo(o, rows, cols);
  tensor_view<const float, 2> vi(i, rows, cols);
  auto mo = unimem::to_row_major_mdspan(vo);
  auto mi = unimem::to_row_major_mdspan(vi);
  run_variants(
      state, 2.0 * static_cast<double>(rows * cols) * sizeof(float),
      [=] { raw_2d<<<grid, kBlock2d>>>(o, i, rows, cols, cols, cols, kA, kB); },
      [=] { view_2d<<<grid, kBlock2d>>>(vo, vi, kA, kB); },
      [=] { mdspan_2d<<<grid, kBlock2d>>>(mo, mi, kA, kB); });
}

/// 2-D strided: the left half of every row of a rows × (2 cols) matrix (a column slice), so the
/// row stride is not the row length.
void BM_affine_2d_column_slice(benchmark::State& state) {
  if (!require_gpu(state)) return;
  const std::int64_t rows = state.range(0);
  const std::int64_t cols = state.range(1);
  const std::int64_t ld = 2 * cols;
  unimem::device_resource mr;
  unimem::buffer<float> in(static_cast<std::size_t>(rows * ld), mr);
  unimem::buffer<float> out(static_cast<std::size_t>(rows * ld), mr);
  check(cudaMemset(in.data(), 0, in.size_bytes()), state);
  const dim3 grid(clamp_grid((cols + 31) / 32, 65535), clamp_grid((rows + 7) / 8, 65535));
  float* o = out.data();
  const float* i = in.data();
  tensor_view<float, 2> vo = tensor_view<float, 2>(o, rows, ld).slice(1, 0, cols);
  tensor_view<const float, 2> vi = tensor_view<const float, 2>(i, rows, ld).slice(1, 0, cols);
  auto mo = unimem::to_mdspan(vo);
  auto mi = unimem::to_mdspan(vi);
  run_variants(
      state, 2.0 * static_cast<double>(rows * cols) * sizeof(float),
      [=] { raw_2d<<<grid, kBlock2d>>>(o, i, rows, cols, ld, ld, kA, kB); },
      [=] { view_2d<<<grid, kBlock2d>>>(vo, vi, kA, kB); },
      [=] { mdspan_2d<<<grid, kBlock2d>>>(mo, mi, kA, kB); });
}

/// 3-D planar image C × H × W (default 3 × 2160 × 3840: a 4K frame per channel).
void BM_affine_3d_planar(benchmark::State& state) {
  if (!require_gpu(state)) return;
  const std::int64_t c = state.range(0);
  const std::int64_t h = state.range(1);
  const std::int64_t w = state.range(2);
  unimem::device_resource mr;
  unimem::buffer<float> in(static_cast<std::size_t>(c * h * w), mr);
  unimem::buffer<float> out(static_cast<std::size_t>(c * h * w), mr);
  check(cudaMemset(in.data(), 0, in.size_bytes()), state);
  const dim3 grid(clamp_grid((w + 31) / 32, 65535), clamp_grid((h + 7) / 8, 65535), clamp_grid(c, 65535));
  float* o = out.data();
  const float* i = in.data();
  tensor_view<float, 3> vo(o, c, h, w);
  tensor_view<const float, 3> vi(i, c, h, w);
  run_variants(
      state, 2.0 * static_cast<double>(c * h * w) * sizeof(float),
      [=] { raw_3d<<<grid, kBlock2d>>>(o, i, c, h, w, kA, kB); },
      [=] { view_3d<<<grid, kBlock2d>>>(vo, vi, kA, kB); });
}

}  // namespace

BENCHMARK(BM_affine_1d)->Arg(std::int64_t{1} << 26)->Arg(std::int64_t{1} << 20)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_affine_2d)->Args({8192, 8192})->Args({1080, 1920})->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_affine_2d_column_slice)->Args({8192, 4096})->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_affine_3d_planar)->Args({3, 2160, 3840})->UseManualTime()->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
