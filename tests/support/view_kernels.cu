#include "support/view_kernels.hpp"

#include <cuda_runtime.h>

#include <unimem/error.hpp>
#include <unimem_support/cuda.hpp>
#include <unimem/typed/mdspan.hpp>

namespace unimem::test {
namespace {

using support::check;

void finish(stream_view stream, const char* what) {
  check(cudaGetLastError(), what);
  check(cudaStreamSynchronize(stream.value()), what);
}

dim3 grid_2d(std::int64_t rows, std::int64_t cols) {
  const auto gx = static_cast<unsigned>((cols + 31) / 32);
  const auto gy = static_cast<unsigned>((rows + 7) / 8);
  return {gx < 1 ? 1U : (gx > 1024 ? 1024U : gx), gy < 1 ? 1U : (gy > 1024 ? 1024U : gy)};
}

template <class Out, class In>
__global__ void affine_kernel(Out out, In in, float a, float b) {
  for (std::int64_t i = blockIdx.y * blockDim.y + threadIdx.y; i < out.extent(0); i += gridDim.y * blockDim.y) {
    for (std::int64_t j = blockIdx.x * blockDim.x + threadIdx.x; j < out.extent(1); j += gridDim.x * blockDim.x) {
      out(i, j) = a * in(i, j) + b;
    }
  }
}

template <class View>
__global__ void coordinates_kernel(View v) {
  const std::int64_t n = static_cast<std::int64_t>(v.size());
  for (std::int64_t t = blockIdx.x * blockDim.x + threadIdx.x; t < n; t += gridDim.x * blockDim.x) {
    const std::int64_t k = t % v.extent(2);
    const std::int64_t j = t / v.extent(2) % v.extent(1);
    const std::int64_t i = t / (v.extent(2) * v.extent(1));
    v[i][j][k] = static_cast<std::int32_t>(i * 10000 + j * 100 + k);
  }
}

__global__ void row_sums_kernel(tensor_view<const float, 2> in, tensor_view<float, 1> out) {
  for (std::int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < in.extent(0); i += gridDim.x * blockDim.x) {
    const tensor_view<const float, 1> row = in[i];  // a row of a contiguous view is contiguous
    float sum = 0.0F;
    for (std::int64_t j = 0; j < row.extent(0); ++j) sum += row[j];
    out[i] = sum;
  }
}

__global__ void mdspan_double_kernel(strided_mdspan<float, 2> out, strided_mdspan<const float, 2> in) {
  for (std::int64_t i = blockIdx.y * blockDim.y + threadIdx.y; i < out.extent(0); i += gridDim.y * blockDim.y) {
    for (std::int64_t j = blockIdx.x * blockDim.x + threadIdx.x; j < out.extent(1); j += gridDim.x * blockDim.x) {
      out(i, j) = 2.0F * in(i, j);
    }
  }
}

}  // namespace

void view_affine_2d(strided_view<float, 2> out, strided_view<const float, 2> in, float a, float b, stream_view stream) {
  affine_kernel<<<grid_2d(out.extent(0), out.extent(1)), dim3(32, 8), 0, stream.value()>>>(out, in, a, b);
  finish(stream, "affine_kernel<strided>");
}

void dense_affine_2d(tensor_view<float, 2> out, tensor_view<const float, 2> in, float a, float b, stream_view stream) {
  affine_kernel<<<grid_2d(out.extent(0), out.extent(1)), dim3(32, 8), 0, stream.value()>>>(out, in, a, b);
  finish(stream, "affine_kernel<contiguous>");
}

void view_fill_coordinates_3d(strided_view<std::int32_t, 3> v, stream_view stream) {
  coordinates_kernel<<<64, 256, 0, stream.value()>>>(v);
  finish(stream, "coordinates_kernel<strided>");
}

void pitched_fill_coordinates_3d(pitched_view<std::int32_t, 3> v, stream_view stream) {
  coordinates_kernel<<<64, 256, 0, stream.value()>>>(v);
  finish(stream, "coordinates_kernel<pitched>");
}

void dense_fill_coordinates_3d(tensor_view<std::int32_t, 3> v, stream_view stream) {
  coordinates_kernel<<<64, 256, 0, stream.value()>>>(v);
  finish(stream, "coordinates_kernel<contiguous>");
}

void view_row_sums(tensor_view<const float, 2> in, tensor_view<float, 1> out, stream_view stream) {
  row_sums_kernel<<<16, 128, 0, stream.value()>>>(in, out);
  finish(stream, "row_sums_kernel");
}

void mdspan_double_2d(strided_view<float, 2> out, strided_view<const float, 2> in, stream_view stream) {
  mdspan_double_kernel<<<grid_2d(out.extent(0), out.extent(1)), dim3(32, 8), 0, stream.value()>>>(to_mdspan(out),
                                                                                                   to_mdspan(in));
  finish(stream, "mdspan_double_kernel");
}

}  // namespace unimem::test
