/// @file mdspan.hpp
/// @brief Conversions between tensor_view and cuda::std::mdspan (CCCL, shipped with the CUDA
/// toolkit), for code written against the standard multidimensional view.
///
/// Optional: it needs <cuda/std/mdspan>. nvcc finds it by itself; a host compiler needs the
/// toolkit's CCCL folder on the include path (<toolkit>/include/cccl on CUDA 13, <toolkit>/include
/// on CUDA 12), which linking unimem::unimem provides.
#pragma once

#if defined(__has_include)
#if !__has_include(<cuda/std/mdspan>)
#error "unimem/mdspan.hpp needs CCCL's <cuda/std/mdspan>: add <cuda toolkit>/include/cccl (CUDA 13) or <cuda toolkit>/include (CUDA 12.x) to the include path, e.g. by linking unimem::unimem"
#endif
#endif

#include <cuda/std/mdspan>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include <unimem/typed/tensor_view.hpp>

namespace unimem {

/// @brief The mdspan a view of either layout converts to: same element type, int64 extents, any
/// strides.
template <class T, std::size_t Rank>
using strided_mdspan = cuda::std::mdspan<T, cuda::std::dextents<std::int64_t, Rank>, cuda::std::layout_stride>;

/// @brief The mdspan of a contiguous row-major tensor_view (layout_right: no strides stored).
template <class T, std::size_t Rank>
using row_major_mdspan = cuda::std::mdspan<T, cuda::std::dextents<std::int64_t, Rank>, cuda::std::layout_right>;

namespace detail {

/// layout_stride requires positive strides that do not make two indices share an element.
/// tensor_view allows stride 0 (broadcast) and overlap, so those are refused here; the strides of
/// dimensions of extent 0 or 1 are never used and are replaced by row-major ones.
template <std::size_t Rank>
std::array<std::int64_t, Rank> mdspan_strides(const index_array<Rank>& extents, const index_array<Rank>& strides) {
  std::array<std::int64_t, Rank> out{};
  bool empty = false;
  for (std::size_t d = 0; d < Rank; ++d) empty = empty || extents[d] == 0;
  std::int64_t step = 1;
  for (std::size_t d = Rank; d-- > 0;) {
    out[d] = (empty || extents[d] <= 1) ? step : strides[d];
    step *= extents[d] > 1 ? extents[d] : 1;
  }
  if (empty) return out;  // no element can be reached: the row-major strides are as good as any
  // Sort dimensions by stride; each must step over everything the previous ones span.
  std::array<std::size_t, Rank> order{};
  for (std::size_t d = 0; d < Rank; ++d) order[d] = d;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return out[a] < out[b]; });
  for (std::size_t i = 0; i < Rank; ++i) {
    const std::size_t d = order[i];
    if (out[d] <= 0) {
      throw std::invalid_argument("unimem::to_mdspan: stride 0 in dimension " + std::to_string(d) + " of extent " +
                                  std::to_string(extents[d]) +
                                  " (a broadcast view) has no cuda::std::layout_stride equivalent");
    }
    if (i > 0) {
      const std::size_t p = order[i - 1];
      // out[d] >= out[p] * extent[p], written so nothing overflows: (extent - 1) * stride is an
      // offset of the view, which its constructor checked.
      if (out[d] - out[p] < out[p] * (extents[p] - 1)) {
        throw std::invalid_argument("unimem::to_mdspan: dimensions " + std::to_string(p) + " and " +
                                    std::to_string(d) +
                                    " overlap (two indices name one element), which cuda::std::layout_stride "
                                    "does not allow");
      }
    }
  }
  return out;
}

}  // namespace detail

/// @brief The mdspan over the same elements (layout_stride), from a view of either layout. Host
/// only; pass the result to a kernel by value.
/// @throws std::invalid_argument a broadcast (stride 0) or overlapping view
template <class T, std::size_t Rank, class Layout>
strided_mdspan<T, Rank> to_mdspan(const tensor_view<T, Rank, Layout>& v) {
  using extents_t = cuda::std::dextents<std::int64_t, Rank>;
  const std::array<std::int64_t, Rank> strides = detail::mdspan_strides(v.extents(), v.strides());
  cuda::std::array<std::int64_t, Rank> e{};
  cuda::std::array<std::int64_t, Rank> s{};
  for (std::size_t d = 0; d < Rank; ++d) {
    e[d] = v.extent(d);
    s[d] = strides[d];
  }
  return strided_mdspan<T, Rank>(v.data(), cuda::std::layout_stride::mapping<extents_t>(extents_t(e), s));
}

/// @brief The layout_right mdspan of a contiguous view, whose indexing needs no stride loads.
/// @throws std::invalid_argument a strided view that is not contiguous
template <class T, std::size_t Rank, class Layout>
row_major_mdspan<T, Rank> to_row_major_mdspan(const tensor_view<T, Rank, Layout>& v) {
  if (!v.is_contiguous()) {
    const index_array<Rank> s = v.strides();
    detail::throw_not_contiguous("unimem::to_row_major_mdspan", Rank, &v.extents()[0], &s[0]);
  }
  cuda::std::array<std::int64_t, Rank> e{};
  for (std::size_t d = 0; d < Rank; ++d) e[d] = v.extent(d);
  return row_major_mdspan<T, Rank>(v.data(), cuda::std::dextents<std::int64_t, Rank>(e));
}

/// @brief A strided_view of an mdspan with any strided layout (layout_left, layout_stride) and the
/// default accessor.
/// @throws std::invalid_argument, std::overflow_error as strided_view's constructor
template <class T, class Extents, class Layout>
strided_view<T, Extents::rank()> to_tensor_view(
    const cuda::std::mdspan<T, Extents, Layout, cuda::std::default_accessor<T>>& m) {
  constexpr std::size_t rank = Extents::rank();
  index_array<rank> e;
  index_array<rank> s;
  for (std::size_t d = 0; d < rank; ++d) {
    e[d] = static_cast<std::int64_t>(m.extent(d));
    s[d] = static_cast<std::int64_t>(m.stride(d));
  }
  return strided_view<T, rank>(m.data_handle(), e, s);
}

/// @brief The contiguous tensor_view of a layout_right mdspan.
/// @throws std::overflow_error as tensor_view's constructor
template <class T, class Extents>
tensor_view<T, Extents::rank()> to_tensor_view(
    const cuda::std::mdspan<T, Extents, cuda::std::layout_right, cuda::std::default_accessor<T>>& m) {
  constexpr std::size_t rank = Extents::rank();
  index_array<rank> e;
  for (std::size_t d = 0; d < rank; ++d) e[d] = static_cast<std::int64_t>(m.extent(d));
  return tensor_view<T, rank>(m.data_handle(), e);
}

}  // namespace unimem
