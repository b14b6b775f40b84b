// Test support: kernels that index memory through tensor_view and cuda::std::mdspan, to prove the
// views work on the device. Plain C++ declarations (tensor_view.hpp needs no CUDA header), so test
// files stay free of CUDA syntax. Each call launches on `stream`, synchronizes it and throws
// cuda_error on failure.
#pragma once

#include <cstdint>

#include <unimem/stream.hpp>
#include <unimem/typed/tensor_view.hpp>

namespace unimem::test {

/// out(i, j) = a * in(i, j) + b for every element; any strides (transposed, sliced views).
void view_affine_2d(strided_view<float, 2> out, strided_view<const float, 2> in, float a, float b, stream_view stream);

/// The same kernel over contiguous views (layout_right: strides derived from the extents in the
/// kernel).
void dense_affine_2d(tensor_view<float, 2> out, tensor_view<const float, 2> in, float a, float b, stream_view stream);

/// v[i][j][k] = i * 10000 + j * 100 + k, written through operator[] chains (sub-views made in the
/// kernel).
void view_fill_coordinates_3d(strided_view<std::int32_t, 3> v, stream_view stream);

/// The same kernel over a pitched view (a box of a contiguous one: contiguous rows).
void pitched_fill_coordinates_3d(pitched_view<std::int32_t, 3> v, stream_view stream);

/// The same kernel over a contiguous view, whose operator[] chains stay contiguous.
void dense_fill_coordinates_3d(tensor_view<std::int32_t, 3> v, stream_view stream);

/// out(i) = sum over j of in(i, j), one thread per row, rows taken in the kernel with operator[]
/// (contiguous rows of a contiguous view).
void view_row_sums(tensor_view<const float, 2> in, tensor_view<float, 1> out, stream_view stream);

/// out(i, j) = 2 * in(i, j) through cuda::std::mdspan objects converted from the views on the host
/// (unimem::to_mdspan) and indexed in the kernel.
void mdspan_double_2d(strided_view<float, 2> out, strided_view<const float, 2> in, stream_view stream);

}  // namespace unimem::test
