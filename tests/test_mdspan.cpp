// tensor_view ↔ cuda::std::mdspan on the host. A kernel indexing a converted mdspan is in
// test_typed_gpu.cpp.
#include <gtest/gtest.h>

#if __has_include(<cuda/std/mdspan>)

#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include <unimem/typed/mdspan.hpp>
#include <unimem/typed/tensor_view.hpp>

namespace unimem::test {
namespace {

std::vector<float> iota(std::size_t n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), 0.0F);
  return v;
}

template <class V, class M>
void expect_same_elements(const V& v, const M& m) {
  ASSERT_EQ(static_cast<std::size_t>(m.rank()), V::rank());
  for (std::size_t d = 0; d < V::rank(); ++d) ASSERT_EQ(m.extent(d), v.extent(d));
  for (std::int64_t i = 0; i < v.extent(0); ++i) {
    for (std::int64_t j = 0; j < v.extent(1); ++j) {
      EXPECT_EQ(&m(i, j), &v(i, j)) << i << ", " << j;
    }
  }
}

TEST(mdspan, contiguous_and_strided_views_convert) {
  std::vector<float> data = iota(30);
  tensor_view<float, 2> v(data.data(), 5, 6);
  expect_same_elements(v, to_mdspan(v));
  expect_same_elements(v, to_row_major_mdspan(v));
  auto t = v.transpose(0, 1);
  auto mt = to_mdspan(t);
  EXPECT_EQ(mt.stride(0), 1);
  EXPECT_EQ(mt.stride(1), 6);
  expect_same_elements(t, mt);
  auto s = v.slice(1, 1, 6, 2).slice(0, 0, 5, 3);
  expect_same_elements(s, to_mdspan(s));
  EXPECT_THROW((void)to_row_major_mdspan(t), std::invalid_argument);
}

TEST(mdspan, broadcast_and_overlapping_views_have_no_layout_stride) {
  std::vector<float> data = iota(8);
  strided_view<float, 2> broadcast(data.data(), {4, 3}, {0, 1});
  EXPECT_THROW((void)to_mdspan(broadcast), std::invalid_argument);
  strided_view<float, 2> overlapping(data.data(), {3, 3}, {1, 1});
  EXPECT_THROW((void)to_mdspan(overlapping), std::invalid_argument);
  // Unit and empty dimensions never use their stride, so any value converts.
  strided_view<float, 2> unit(data.data(), {1, 4}, {0, 1});
  EXPECT_NO_THROW((void)to_mdspan(unit));
  strided_view<float, 2> empty(data.data(), {0, 4}, {0, 0});
  EXPECT_NO_THROW((void)to_mdspan(empty));
}

TEST(mdspan, mdspans_convert_back) {
  std::vector<float> data = iota(12);
  using ext = cuda::std::dextents<int, 2>;
  cuda::std::mdspan<float, ext, cuda::std::layout_left> col_major(data.data(), ext(3, 4));
  strided_view<float, 2> v = to_tensor_view(col_major);
  EXPECT_EQ(v.stride(0), 1);
  EXPECT_EQ(v.stride(1), 3);
  EXPECT_EQ(&v(2, 3), &col_major(2, 3));
  strided_view<float, 2> back = to_tensor_view(to_mdspan(v.transpose(0, 1)));
  EXPECT_EQ(&back(3, 2), &v(2, 3));
  // A layout_right mdspan comes back as a contiguous view.
  using ext_right = cuda::std::dextents<std::int64_t, 2>;
  cuda::std::mdspan<float, ext_right, cuda::std::layout_right> row_major(data.data(), ext_right(3, 4));
  tensor_view<float, 2> dense = to_tensor_view(row_major);
  static_assert(std::is_same_v<decltype(dense), tensor_view<float, 2>>);
  EXPECT_EQ(&dense(2, 3), &row_major(2, 3));
  expect_same_elements(dense, to_row_major_mdspan(dense));
}

}  // namespace
}  // namespace unimem::test

#else

TEST(mdspan, header_available) { GTEST_SKIP() << "<cuda/std/mdspan> not on the include path (CCCL)"; }

#endif
