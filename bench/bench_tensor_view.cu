// Does indexing through tensor_view cost anything in a kernel? One memory-bound kernel
// (out = a * in + b) runs over raw pointers with hand-written index arithmetic, over a contiguous
// tensor_view (layout_right) — or, for a column range, the pitched_view that subview() returns —
// over a strided_view of the same elements and over cuda::std::mdspan.
// Each benchmark iteration times every variant once with CUDA events, alternating which goes
// first, so the variants share clocks, caches and thermal state; the counters report the medians
// and their ratio. The target (BRIEF §4) is view_over_raw <= 1.02.
//
//   ./build/bench/bench_tensor_view --benchmark_counters_tabular=true
//   UNIMEM_BENCH_QUICK=1 ./build/bench/bench_tensor_view   # short run (0.05 s per case)
//
// The kernels are what one writes for a bandwidth-bound element-wise operation: 64-bit indices
// (views of more than 2^31 elements work), coalesced (consecutive threads take consecutive
// elements of a row), grid-stride loops (any size runs on any grid), and each thread loads kIlp
// elements before it stores any, so enough loads are in flight to approach the DRAM bandwidth
// without __restrict__ (which a view could not carry). Every variant instantiates the same loop
// nest (affine_1d/2d/3d below) with a different element accessor, so only the index arithmetic
// differs. The raw accessors get, for each array, the pointer and the integers that locate its
// elements (NPP's pSrc/nSrcStep/pDst/nDstStep convention) — exactly what a view carries — because
// a kernel over two views is a kernel over two independently laid out arrays.
//
// Counters: <variant>_us (median kernel time), <variant>_over_raw (ratio of the medians),
// view_over_raw_mean (ratio of the totals), raw_GBps / view_GBps (bytes read and written per
// second) and view_peak_fraction (of the device's theoretical DRAM bandwidth). The reported
// iteration time is the view kernel's. Every variant's output is checked once before timing.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include "support/bench_env.hpp"

#include <unimem/typed/buffer.hpp>
#include <unimem/device_profile.hpp>
#include <unimem/resources/device_resource.hpp>
#include <unimem/typed/mdspan.hpp>
#include <unimem/typed/tensor_view.hpp>
#include <unimem_support/stats.hpp>

namespace {

using unimem::strided_view;
using unimem::tensor_view;

constexpr float kA = 1.5F;
constexpr float kB = 0.25F;
// Elements each thread loads before storing: 4 × 4 B × 2048 threads = 32 KiB in flight per SM,
// about what HBM needs to stay busy. Without it (one element at a time) a thread waits for each
// load, and a kernel that cannot reorder loads past stores of a possibly aliasing array stalls.
constexpr int kIlp = 4;
// Block shapes are compile-time constants, as in NVIDIA's copy and transpose samples: the kIlp
// elements of a thread are a constant distance apart, so their addresses differ by immediate
// offsets instead of 64-bit multiplies.
constexpr int kBlock1d = 256;
constexpr int kTileX = 32;  // a warp reads kTileX contiguous elements (128 B) of one row ...
constexpr int kTileY = 8;   // ... and a block kTileY rows of kIlp × kTileX columns

// ---- the loop nests, shared by every variant -----------------------------------------------------
//
// `in(i)` / `out(i)` (or (i, j), (k, i, j)) are the variant's accessors. The loops carry
// `#pragma unroll 1`: unrolling a 64-bit grid-stride loop makes the compiler compute its trip count
// with a 64-bit division per thread (a CALL to a ~70-instruction routine), which cost the previous
// version of this benchmark a factor of 2.5 on 2-D shapes where each thread does one tile.

template <class In, class Out>
__device__ __forceinline__ void affine_1d(std::int64_t n, In in, Out out, float a, float b) {
  constexpr std::int64_t tile = std::int64_t{kIlp} * kBlock1d;
#pragma unroll 1
  for (std::int64_t i = blockIdx.x * tile + threadIdx.x; i < n; i += tile * gridDim.x) {
    float v[kIlp];
#pragma unroll
    for (int u = 0; u < kIlp; ++u) {
      if (i + u * kBlock1d < n) v[u] = in(i + u * kBlock1d);
    }
#pragma unroll
    for (int u = 0; u < kIlp; ++u) {
      if (i + u * kBlock1d < n) out(i + u * kBlock1d) = a * v[u] + b;
    }
  }
}

// Each thread takes kIlp elements of one row, kTileX apart; a block covers kTileY rows of
// kIlp × kTileX columns.
template <class In, class Out>
__device__ __forceinline__ void affine_2d(std::int64_t rows, std::int64_t cols, In in, Out out, float a, float b) {
  constexpr std::int64_t tile_cols = std::int64_t{kIlp} * kTileX;
#pragma unroll 1
  for (std::int64_t i = blockIdx.y * std::int64_t{kTileY} + threadIdx.y; i < rows;
       i += gridDim.y * std::int64_t{kTileY}) {
#pragma unroll 1
    for (std::int64_t j = blockIdx.x * tile_cols + threadIdx.x; j < cols; j += gridDim.x * tile_cols) {
      float v[kIlp];
#pragma unroll
      for (int u = 0; u < kIlp; ++u) {
        if (j + u * kTileX < cols) v[u] = in(i, j + u * kTileX);
      }
#pragma unroll
      for (int u = 0; u < kIlp; ++u) {
        if (j + u * kTileX < cols) out(i, j + u * kTileX) = a * v[u] + b;
      }
    }
  }
}

// Planar C × H × W images: blockIdx.z walks the channels, the rest is the 2-D nest.
template <class In, class Out>
__device__ __forceinline__ void affine_3d(std::int64_t c, std::int64_t h, std::int64_t w, In in, Out out, float a,
                                          float b) {
  constexpr std::int64_t tile_cols = std::int64_t{kIlp} * kTileX;
#pragma unroll 1
  for (std::int64_t k = blockIdx.z; k < c; k += gridDim.z) {
#pragma unroll 1
    for (std::int64_t i = blockIdx.y * std::int64_t{kTileY} + threadIdx.y; i < h;
         i += gridDim.y * std::int64_t{kTileY}) {
#pragma unroll 1
      for (std::int64_t j = blockIdx.x * tile_cols + threadIdx.x; j < w; j += gridDim.x * tile_cols) {
        float v[kIlp];
#pragma unroll
        for (int u = 0; u < kIlp; ++u) {
          if (j + u * kTileX < w) v[u] = in(k, i, j + u * kTileX);
        }
#pragma unroll
        for (int u = 0; u < kIlp; ++u) {
          if (j + u * kTileX < w) out(k, i, j + u * kTileX) = a * v[u] + b;
        }
      }
    }
  }
}

// ---- kernels: raw pointers ---------------------------------------------------------------------

__global__ void raw_1d(float* out, const float* in, std::int64_t n, float a, float b) {
  affine_1d(
      n, [=](std::int64_t i) -> const float& { return in[i]; }, [=](std::int64_t i) -> float& { return out[i]; }, a,
      b);
}

// Dense row-major matrices, each indexed by its own width (as two tensor_views are).
__global__ void raw_2d(float* out, std::int64_t rows, std::int64_t cols, const float* in, std::int64_t cols_in,
                       float a, float b) {
  affine_2d(
      rows, cols, [=](std::int64_t i, std::int64_t j) -> const float& { return in[i * cols_in + j]; },
      [=](std::int64_t i, std::int64_t j) -> float& { return out[i * cols + j]; }, a, b);
}

// Row-major with a leading dimension (row pitch, in elements) per array, ld > cols: a column range
// or a pitched allocation (cudaMallocPitch), the raw peer of a pitched_view.
__global__ void raw_2d_pitched(float* out, std::int64_t rows, std::int64_t cols, std::int64_t ld_out,
                               const float* in, std::int64_t ld_in, float a, float b) {
  affine_2d(
      rows, cols, [=](std::int64_t i, std::int64_t j) -> const float& { return in[i * ld_in + j]; },
      [=](std::int64_t i, std::int64_t j) -> float& { return out[i * ld_out + j]; }, a, b);
}

// Dense planar images; each array indexed by its own height and width, as two views would be.
__global__ void raw_3d(float* out, std::int64_t c, std::int64_t h, std::int64_t w, const float* in,
                       std::int64_t h_in, std::int64_t w_in, float a, float b) {
  affine_3d(
      c, h, w,
      [=](std::int64_t k, std::int64_t i, std::int64_t j) -> const float& { return in[(k * h_in + i) * w_in + j]; },
      [=](std::int64_t k, std::int64_t i, std::int64_t j) -> float& { return out[(k * h + i) * w + j]; }, a, b);
}

// ---- kernels: views (tensor_view, pitched_view, strided_view, mdspan) ---------------------------
//
// One template per rank: Out/In are tensor_view<float, R> (layout_right), pitched_view<float, R>,
// strided_view<float, R> or cuda::std::mdspan. Loop bounds come from the output's extents, as
// raw's come from its arguments.

template <class Out, class In>
__global__ void view_1d(Out out, In in, float a, float b) {
  affine_1d(
      out.extent(0), [=](std::int64_t i) -> const float& { return in(i); },
      [=](std::int64_t i) -> float& { return out(i); }, a, b);
}

template <class Out, class In>
__global__ void view_2d(Out out, In in, float a, float b) {
  affine_2d(
      out.extent(0), out.extent(1), [=](std::int64_t i, std::int64_t j) -> const float& { return in(i, j); },
      [=](std::int64_t i, std::int64_t j) -> float& { return out(i, j); }, a, b);
}

template <class Out, class In>
__global__ void view_3d(Out out, In in, float a, float b) {
  affine_3d(
      out.extent(0), out.extent(1), out.extent(2),
      [=](std::int64_t k, std::int64_t i, std::int64_t j) -> const float& { return in(k, i, j); },
      [=](std::int64_t k, std::int64_t i, std::int64_t j) -> float& { return out(k, i, j); }, a, b);
}

// ---- helpers -------------------------------------------------------------------------------------

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

// in = a pattern that makes a misplaced element visible; rows × cols with row pitch ld.
__global__ void fill_pattern(float* p, std::int64_t rows, std::int64_t cols, std::int64_t ld) {
  const std::int64_t n = rows * cols;
  for (std::int64_t t = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; t < n;
       t += std::int64_t{gridDim.x} * blockDim.x) {
    p[t / cols * ld + t % cols] = static_cast<float>(t % 8191);
  }
}

__global__ void count_mismatches(const float* out, const float* in, std::int64_t rows, std::int64_t cols,
                                 std::int64_t ld, float a, float b, unsigned long long* count) {
  const std::int64_t n = rows * cols;
  for (std::int64_t t = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; t < n;
       t += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t at = t / cols * ld + t % cols;
    const float want = a * in[at] + b;
    if (out[at] != want) atomicAdd(count, 1ULL);
  }
}

bool check(cudaError_t err, benchmark::State& state) {
  if (err == cudaSuccess) return true;
  state.SkipWithError(cudaGetErrorString(err));
  return false;
}

const dim3 kBlock2d(kTileX, kTileY);

unsigned clamp_grid(std::int64_t blocks, std::int64_t limit) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min<std::int64_t>(blocks, limit)));
}

// Blocks for the 2-D nests: one kTileY × (kIlp · kTileX) tile each.
dim3 grid_2d(std::int64_t rows, std::int64_t cols, std::int64_t planes = 1) {
  const std::int64_t tile_cols = std::int64_t{kIlp} * kTileX;
  return dim3(clamp_grid((cols + tile_cols - 1) / tile_cols, 65535), clamp_grid((rows + kTileY - 1) / kTileY, 65535),
              clamp_grid(planes, 65535));
}

unsigned grid_1d(std::int64_t n) {
  const std::int64_t tile = std::int64_t{kIlp} * kBlock1d;
  return clamp_grid((n + tile - 1) / tile, 0x7fffffff);
}

double median(const std::vector<float>& v) { return unimem::support::median(std::vector<double>(v.begin(), v.end())); }

struct variant {
  std::string name;  // "raw" first, "view" second
  std::function<void()> launch;
};

/// The data every case works on: `rows` rows of `cols` elements at row pitch `ld` (a 1-D or 3-D
/// case is rows = 1 or C·H rows). Fills the input with a pattern.
struct workload {
  std::int64_t rows;
  std::int64_t cols;
  std::int64_t ld;
  unimem::device_resource mr;
  unimem::buffer<float> in;
  unimem::buffer<float> out;
  workload(std::int64_t r, std::int64_t c, std::int64_t l)
      : rows(r), cols(c), ld(l), in(static_cast<std::size_t>(r * l), mr), out(static_cast<std::size_t>(r * l), mr) {
    fill_pattern<<<1024, 256>>>(in.data(), rows, cols, ld);
  }
  double bytes_moved() const { return 2.0 * static_cast<double>(rows * cols) * sizeof(float); }
};

/// Checks each variant's output once, then times each once per benchmark iteration, in rotating
/// order, and publishes the counters. variants[0] is the raw-pointer peer, variants[1] the view.
void run_variants(benchmark::State& state, workload& w, const std::vector<variant>& variants) {
  const std::size_t n = variants.size();
  unsigned long long* mismatches = nullptr;
  if (!check(cudaMalloc(&mismatches, sizeof(unsigned long long)), state)) return;
  bool ok = true;  // State::error_occurred() is not in every Google Benchmark version
  for (const variant& v : variants) {
    cudaMemset(w.out.data(), 0xFF, w.out.size_bytes());  // NaNs: an element not written fails
    cudaMemset(mismatches, 0, sizeof(unsigned long long));
    v.launch();
    count_mismatches<<<1024, 256>>>(w.out.data(), w.in.data(), w.rows, w.cols, w.ld, kA, kB, mismatches);
    unsigned long long bad = 0;
    ok = check(cudaMemcpy(&bad, mismatches, sizeof bad, cudaMemcpyDeviceToHost), state);
    if (ok && bad != 0) {
      state.SkipWithError((v.name + " kernel wrote " + std::to_string(bad) + " wrong elements").c_str());
      ok = false;
    }
    if (!ok) break;
  }
  cudaFree(mismatches);
  if (!ok) return;

  std::vector<cudaEvent_t> start(n);
  std::vector<cudaEvent_t> stop(n);
  for (std::size_t v = 0; v < n; ++v) {
    cudaEventCreate(&start[v]);
    cudaEventCreate(&stop[v]);
  }
  for (int warm = 0; warm < 3; ++warm) {
    for (const variant& v : variants) v.launch();
  }
  check(cudaDeviceSynchronize(), state);
  std::vector<std::vector<float>> ms(n);
  std::size_t round = 0;
  for (auto _ : state) {
    spin<<<1, 1>>>(50'000);
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t v = (round + k) % n;  // rotate who goes first
      cudaEventRecord(start[v]);
      variants[v].launch();
      cudaEventRecord(stop[v]);
    }
    check(cudaEventSynchronize(stop[(round + n - 1) % n]), state);
    for (std::size_t v = 0; v < n; ++v) {
      float t = 0;
      cudaEventElapsedTime(&t, start[v], stop[v]);
      ms[v].push_back(t);
    }
    state.SetIterationTime(ms[1].back() / 1e3);
    ++round;
  }
  check(cudaGetLastError(), state);
  for (std::size_t v = 0; v < n; ++v) {
    cudaEventDestroy(start[v]);
    cudaEventDestroy(stop[v]);
  }
  const double raw = median(ms[0]);
  for (std::size_t v = 0; v < n; ++v) {
    const double t = median(ms[v]);
    state.counters[variants[v].name + "_us"] = t * 1e3;
    if (v > 0) state.counters[variants[v].name + "_over_raw"] = raw > 0 ? t / raw : 0;
  }
  const double view = median(ms[1]);
  double raw_total = 0;
  double view_total = 0;
  for (float t : ms[0]) raw_total += t;
  for (float t : ms[1]) view_total += t;
  const double bytes = w.bytes_moved();
  state.counters["view_over_raw_mean"] = raw_total > 0 ? view_total / raw_total : 0;
  state.counters["raw_GBps"] = raw > 0 ? bytes / (raw * 1e-3) / 1e9 : 0;
  state.counters["view_GBps"] = view > 0 ? bytes / (view * 1e-3) / 1e9 : 0;
  const double peak = unimem::device_profile::current().peak_bandwidth_bytes_per_s();
  if (peak > 0 && view > 0) state.counters["view_peak_fraction"] = bytes / (view * 1e-3) / peak;
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * static_cast<std::int64_t>(state.iterations()));
}

// ---- cases -----------------------------------------------------------------------------------------

/// 1-D: n floats (2^26 = 256 MiB in, 256 MiB out; 2^20 = 4 MiB, which stays in the L2 of an H100).
void BM_affine_1d(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  workload w(1, n, n);
  float* o = w.out.data();
  const float* i = w.in.data();
  const tensor_view<float, 1> vo(o, n);
  const tensor_view<const float, 1> vi(i, n);
  const strided_view<float, 1> so = vo;
  const strided_view<const float, 1> si = vi;
  const auto mo = unimem::to_row_major_mdspan(vo);
  const auto mi = unimem::to_row_major_mdspan(vi);
  const unsigned grid = grid_1d(n);
  run_variants(state, w,
               {{"raw", [=] { raw_1d<<<grid, kBlock1d>>>(o, i, n, kA, kB); }},
                {"view", [=] { view_1d<<<grid, kBlock1d>>>(vo, vi, kA, kB); }},
                {"strided", [=] { view_1d<<<grid, kBlock1d>>>(so, si, kA, kB); }},
                {"mdspan", [=] { view_1d<<<grid, kBlock1d>>>(mo, mi, kA, kB); }}});
}

/// 2-D contiguous rows × cols: raw, tensor_view, strided_view, mdspan layout_right.
void BM_affine_2d(benchmark::State& state) {
  const std::int64_t rows = state.range(0);
  const std::int64_t cols = state.range(1);
  workload w(rows, cols, cols);
  float* o = w.out.data();
  const float* i = w.in.data();
  const tensor_view<float, 2> vo(o, rows, cols);
  const tensor_view<const float, 2> vi(i, rows, cols);
  const strided_view<float, 2> so = vo;
  const strided_view<const float, 2> si = vi;
  const auto mo = unimem::to_row_major_mdspan(vo);
  const auto mi = unimem::to_row_major_mdspan(vi);
  const dim3 grid = grid_2d(rows, cols);
  run_variants(state, w,
               {{"raw", [=] { raw_2d<<<grid, kBlock2d>>>(o, rows, cols, i, cols, kA, kB); }},
                {"view", [=] { view_2d<<<grid, kBlock2d>>>(vo, vi, kA, kB); }},
                {"strided", [=] { view_2d<<<grid, kBlock2d>>>(so, si, kA, kB); }},
                {"mdspan", [=] { view_2d<<<grid, kBlock2d>>>(mo, mi, kA, kB); }}});
}

/// 2-D pitched: the left half of every row of a rows × (2 cols) matrix (a column range, or a
/// region of interest of an image), so the row stride is not the row length. Raw with a row pitch
/// per array; the view is the pitched_view that subview() returns, "strided" the strided_view that
/// slice() returns for the same elements, and the mdspan layout_stride.
void BM_affine_2d_column_slice(benchmark::State& state) {
  const std::int64_t rows = state.range(0);
  const std::int64_t cols = state.range(1);
  const std::int64_t ld = 2 * cols;
  workload w(rows, cols, ld);
  float* o = w.out.data();
  const float* i = w.in.data();
  const tensor_view<float, 2> whole_o(o, rows, ld);
  const tensor_view<const float, 2> whole_i(i, rows, ld);
  const unimem::pitched_view<float, 2> vo = whole_o.subview({0, 0}, {rows, cols});
  const unimem::pitched_view<const float, 2> vi = whole_i.subview({0, 0}, {rows, cols});
  const strided_view<float, 2> so = whole_o.slice(1, 0, cols);
  const strided_view<const float, 2> si = whole_i.slice(1, 0, cols);
  const auto mo = unimem::to_mdspan(so);
  const auto mi = unimem::to_mdspan(si);
  const dim3 grid = grid_2d(rows, cols);
  run_variants(state, w,
               {{"raw", [=] { raw_2d_pitched<<<grid, kBlock2d>>>(o, rows, cols, ld, i, ld, kA, kB); }},
                {"view", [=] { view_2d<<<grid, kBlock2d>>>(vo, vi, kA, kB); }},
                {"strided", [=] { view_2d<<<grid, kBlock2d>>>(so, si, kA, kB); }},
                {"mdspan", [=] { view_2d<<<grid, kBlock2d>>>(mo, mi, kA, kB); }}});
}

/// 3-D planar image C × H × W (default 3 × 2160 × 3840: a 4K frame per channel).
void BM_affine_3d_planar(benchmark::State& state) {
  const std::int64_t c = state.range(0);
  const std::int64_t h = state.range(1);
  const std::int64_t wd = state.range(2);
  workload w(c * h, wd, wd);
  float* o = w.out.data();
  const float* i = w.in.data();
  const tensor_view<float, 3> vo(o, c, h, wd);
  const tensor_view<const float, 3> vi(i, c, h, wd);
  const strided_view<float, 3> so = vo;
  const strided_view<const float, 3> si = vi;
  const auto mo = unimem::to_row_major_mdspan(vo);
  const auto mi = unimem::to_row_major_mdspan(vi);
  const dim3 grid = grid_2d(h, wd, c);
  run_variants(state, w,
               {{"raw", [=] { raw_3d<<<grid, kBlock2d>>>(o, c, h, wd, i, h, wd, kA, kB); }},
                {"view", [=] { view_3d<<<grid, kBlock2d>>>(vo, vi, kA, kB); }},
                {"strided", [=] { view_3d<<<grid, kBlock2d>>>(so, si, kA, kB); }},
                {"mdspan", [=] { view_3d<<<grid, kBlock2d>>>(mo, mi, kA, kB); }}});
}

}  // namespace

int main(int argc, char** argv) {
  namespace ub = unimem::bench;
  const std::pair<const char*, void (*)(benchmark::State&)> cases[] = {
      {"BM_affine_1d", BM_affine_1d},
      {"BM_affine_2d", BM_affine_2d},
      {"BM_affine_2d_column_slice", BM_affine_2d_column_slice},
      {"BM_affine_3d_planar", BM_affine_3d_planar},
  };
  for (const auto& [name, fn] : cases) {
    if (!ub::gpu().ok) {
      ub::leave_out(name, ub::no_gpu_reason());
      continue;
    }
    auto* b = ub::add(name, fn);
    if (fn == BM_affine_1d) b->Arg(std::int64_t{1} << 26)->Arg(std::int64_t{1} << 20);
    if (fn == BM_affine_2d) b->Args({8192, 8192})->Args({1080, 1920});
    if (fn == BM_affine_2d_column_slice) b->Args({8192, 4096});
    if (fn == BM_affine_3d_planar) b->Args({3, 2160, 3840});
    b->UseManualTime()->Unit(benchmark::kMicrosecond);
  }
  ub::console_reporter reporter;
  return ub::run_benchmarks(argc, argv, reporter, [] { std::printf("device: %s\n", ub::gpu().profile.name.c_str()); });
}
