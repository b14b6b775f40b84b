// tensor_view on the host: layout, indexing, slicing, contiguity, and the validation that keeps
// byte sizes and offsets from overflowing. Kernels indexing views are in test_typed_gpu.cpp.
#include <array>
#include <cstdint>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/span.hpp>
#include <unimem/tensor_view.hpp>

namespace unimem::test {
namespace {

static_assert(std::is_trivially_copyable_v<tensor_view<float, 3>>, "views are passed to kernels by value");
static_assert(sizeof(tensor_view<float, 2>) == sizeof(float*) + 4 * sizeof(std::int64_t));
static_assert(std::is_convertible_v<tensor_view<float, 2>, tensor_view<const float, 2>>);
static_assert(!std::is_convertible_v<tensor_view<const float, 2>, tensor_view<float, 2>>);
static_assert(tensor_view<float, 3>::rank() == 3);

std::vector<int> iota(std::size_t n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

TEST(tensor_view, row_major_by_default) {
  std::vector<int> data = iota(24);
  tensor_view<int, 3> v(data.data(), 2, 3, 4);
  EXPECT_EQ(v.extents(), (index_array<3>{2, 3, 4}));
  EXPECT_EQ(v.strides(), (index_array<3>{12, 4, 1}));
  EXPECT_EQ(v.size(), 24U);
  EXPECT_EQ(v.size_bytes(), 24 * sizeof(int));
  EXPECT_EQ(v.required_span_size(), 24U);
  EXPECT_TRUE(v.is_contiguous());
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < 4; ++k) {
        EXPECT_EQ(v(i, j, k), i * 12 + j * 4 + k);
        EXPECT_EQ(v[i][j][k], v(i, j, k));
        EXPECT_EQ(v.offset(i, j, k), i * 12 + j * 4 + k);
      }
    }
  }
  v(1, 2, 3) = -1;
  EXPECT_EQ(data[23], -1);
}

TEST(tensor_view, extents_of_any_integer_type_build_it) {
  std::vector<int> data = iota(6);
  const std::size_t rows = 2;
  const unsigned cols = 3;
  tensor_view<int, 2> a(data.data(), rows, cols);
  tensor_view<int, 2> b(data.data(), {rows, cols});
  tensor_view<int, 2> c(data.data(), std::array<std::size_t, 2>{rows, cols});
  EXPECT_EQ(a.extents(), b.extents());
  EXPECT_EQ(b.extents(), c.extents());
}

TEST(tensor_view, explicit_strides_address_column_major_data) {
  // 3×2 matrix stored column-major: element (i, j) at i + 3j.
  std::vector<int> data = {0, 1, 2, 10, 11, 12};
  tensor_view<const int, 2> v(data.data(), {3, 2}, {1, 3});
  EXPECT_EQ(v(0, 1), 10);
  EXPECT_EQ(v(2, 0), 2);
  EXPECT_EQ(v(2, 1), 12);
  EXPECT_FALSE(v.is_contiguous());
  EXPECT_EQ(v.required_span_size(), 6U);
  EXPECT_THROW((void)v.flat(), std::invalid_argument);
}

TEST(tensor_view, negative_extents_and_strides_are_refused_by_name) {
  float x = 0;
  try {
    tensor_view<float, 2> v(&x, {2, -3});
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("-3"), std::string::npos) << what;
    EXPECT_NE(what.find("dimension 1"), std::string::npos) << what;
  }
  EXPECT_THROW((tensor_view<float, 2>(&x, {2, 3}, {3, -1})), std::invalid_argument);
}

TEST(tensor_view, byte_sizes_and_offsets_that_overflow_are_refused) {
  float x = 0;
  const std::int64_t big = std::int64_t{1} << 32;
  // 2^64 elements: the element count itself overflows.
  EXPECT_THROW((tensor_view<float, 2>(&x, {big, big})), std::overflow_error);
  // 2^62 floats = 2^64 bytes: the count fits, the bytes do not.
  EXPECT_THROW((tensor_view<float, 1>(&x, std::int64_t{1} << 62)), std::overflow_error);
  // A fine shape with a stride that reaches past what ptrdiff_t can count.
  EXPECT_THROW((tensor_view<float, 2>(&x, {4, 4}, {std::numeric_limits<std::int64_t>::max() / 8, 1})),
               std::overflow_error);
  // Just inside the limit is fine (nothing is dereferenced).
  const std::int64_t max_floats = std::numeric_limits<std::ptrdiff_t>::max() / 4;
  EXPECT_NO_THROW((tensor_view<float, 1>(&x, max_floats)));
  EXPECT_THROW((tensor_view<float, 1>(&x, max_floats + 1)), std::overflow_error);
}

TEST(tensor_view, empty_views) {
  tensor_view<float, 2> d;
  EXPECT_EQ(d.data(), nullptr);
  EXPECT_TRUE(d.empty());
  float x = 0;
  tensor_view<float, 3> v(&x, 4, 0, 5);
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v.size_bytes(), 0U);
  EXPECT_EQ(v.required_span_size(), 0U);
  EXPECT_TRUE(v.is_contiguous());
  EXPECT_GT(v.stride(0), 0);  // row-major strides stay positive with a zero extent
}

TEST(tensor_view, rank_zero_is_a_scalar) {
  float x = 2.5F;
  tensor_view<float, 0> v(&x, index_array<0>{});
  EXPECT_EQ(v.size(), 1U);
  EXPECT_EQ(v(), 2.5F);
  EXPECT_TRUE(v.is_contiguous());
  EXPECT_EQ(v.required_span_size(), 1U);
}

TEST(tensor_view, at_checks_bounds) {
  std::vector<int> data = iota(6);
  tensor_view<int, 2> v(data.data(), 2, 3);
  EXPECT_EQ(v.at(1, 2), 5);
  try {
    (void)v.at(1, 3);
    FAIL() << "expected std::out_of_range";
  } catch (const std::out_of_range& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("index 3 of dimension 1"), std::string::npos) << what;
  }
  EXPECT_THROW((void)v.at(-1, 0), std::out_of_range);
}

TEST(tensor_view, subview_is_a_box_with_the_parent_strides) {
  std::vector<int> data = iota(20);
  tensor_view<int, 2> v(data.data(), 4, 5);
  auto box = v.subview({1, 2}, {2, 3});
  EXPECT_EQ(box.extents(), (index_array<2>{2, 3}));
  EXPECT_EQ(box.strides(), v.strides());
  EXPECT_FALSE(box.is_contiguous());
  EXPECT_EQ(box(0, 0), 7);
  EXPECT_EQ(box(1, 2), 14);
  EXPECT_EQ(box.required_span_size(), 8U);  // from 7 through 14
  EXPECT_NO_THROW((void)v.subview({4, 5}, {0, 0}));  // an empty box at the far corner
  EXPECT_THROW((void)v.subview({3, 0}, {2, 1}), std::out_of_range);
  EXPECT_THROW((void)v.subview({-1, 0}, {1, 1}), std::out_of_range);
}

TEST(tensor_view, slice_takes_ranges_with_steps) {
  std::vector<int> data = iota(20);
  tensor_view<int, 2> v(data.data(), 4, 5);
  auto odd_cols = v.slice(1, 1, 5, 2);  // columns 1 and 3
  EXPECT_EQ(odd_cols.extents(), (index_array<2>{4, 2}));
  EXPECT_EQ(odd_cols.strides(), (index_array<2>{5, 2}));
  EXPECT_EQ(odd_cols(2, 1), 13);
  auto rows = v.slice(0, 1, 3);
  EXPECT_EQ(rows.extents(), (index_array<2>{2, 5}));
  EXPECT_TRUE(rows.is_contiguous());  // whole rows stay contiguous
  EXPECT_EQ(rows(0, 0), 5);
  auto every_third = v.slice(1, 0, 5, 3);  // columns 0 and 3
  EXPECT_EQ(every_third.extent(1), 2);
  EXPECT_EQ(every_third(1, 1), 8);
  EXPECT_EQ(v.slice(1, 2, 2).extent(1), 0);
  auto one = v.slice(1, 4, 5, std::numeric_limits<std::int64_t>::max());  // a huge step, no overflow
  EXPECT_EQ(one.extent(1), 1);
  EXPECT_EQ(one(3, 0), 19);
  EXPECT_THROW((void)v.slice(2, 0, 1), std::out_of_range);
  EXPECT_THROW((void)v.slice(1, 3, 6), std::out_of_range);
  EXPECT_THROW((void)v.slice(1, 3, 2), std::out_of_range);
  EXPECT_THROW((void)v.slice(1, 0, 5, 0), std::invalid_argument);
}

TEST(tensor_view, select_fixes_a_dimension) {
  std::vector<int> data = iota(24);
  tensor_view<int, 3> v(data.data(), 2, 3, 4);
  tensor_view<int, 2> plane = v.select(0, 1);
  EXPECT_EQ(plane.extents(), (index_array<2>{3, 4}));
  EXPECT_EQ(plane(2, 3), 23);
  tensor_view<int, 2> cols = v.select(2, 1);  // every (i, j, 1)
  EXPECT_EQ(cols.extents(), (index_array<2>{2, 3}));
  EXPECT_EQ(cols.strides(), (index_array<2>{12, 4}));
  EXPECT_EQ(cols(1, 2), 21);
  tensor_view<int, 1> row = plane.select(0, 2);
  EXPECT_EQ(row(0), 20);
  tensor_view<int, 0> one = row.select(0, 3);
  EXPECT_EQ(one(), 23);
  EXPECT_THROW((void)v.select(3, 0), std::out_of_range);
  EXPECT_THROW((void)v.select(1, 3), std::out_of_range);
}

TEST(tensor_view, transpose_swaps_dimensions_without_moving_data) {
  std::vector<int> data = iota(6);
  tensor_view<int, 2> v(data.data(), 2, 3);
  auto t = v.transpose(0, 1);
  EXPECT_EQ(t.extents(), (index_array<2>{3, 2}));
  EXPECT_FALSE(t.is_contiguous());
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) EXPECT_EQ(t(j, i), v(i, j));
  }
  EXPECT_TRUE(t.transpose(1, 0).is_contiguous());
  EXPECT_THROW((void)v.transpose(0, 2), std::out_of_range);
}

TEST(tensor_view, reshape_and_flat_need_contiguous_views) {
  std::vector<int> data = iota(24);
  tensor_view<int, 3> v(data.data(), 2, 3, 4);
  tensor_view<int, 2> m = v.reshape(index_array<2>{6, 4});
  EXPECT_EQ(m(5, 3), 23);
  EXPECT_EQ(v.flat().size(), 24U);
  EXPECT_EQ(v.flat()[13], 13);
  EXPECT_THROW((void)v.reshape(index_array<2>{5, 5}), std::invalid_argument);
  EXPECT_THROW((void)v.transpose(0, 2).reshape(index_array<1>{24}), std::invalid_argument);
  // Dimensions of extent 1 do not break contiguity, whatever their stride.
  tensor_view<int, 3> unit(data.data(), {2, 1, 12}, {12, 999, 1});
  EXPECT_TRUE(unit.is_contiguous());
}

TEST(tensor_view, broadcast_strides_are_allowed) {
  std::vector<int> row = {1, 2, 3};
  tensor_view<const int, 2> v(row.data(), {4, 3}, {0, 1});
  EXPECT_EQ(v.size(), 12U);
  EXPECT_EQ(v.required_span_size(), 3U);
  EXPECT_EQ(v(3, 2), 3);
  EXPECT_FALSE(v.is_contiguous());
}

TEST(tensor_view, spans_and_views_convert) {
  std::vector<float> data = {1, 2, 3, 4};
  span<float> s(data.data(), data.size());
  tensor_view<float, 1> v = s;
  EXPECT_EQ(v.extent(0), 4);
  EXPECT_EQ(v[2], 3.0F);
  tensor_view<const float, 1> cv = v;
  EXPECT_EQ(cv(3), 4.0F);
  span<const float> cs = s;
  EXPECT_EQ(cs.subspan(1, 2).size(), 2U);
  EXPECT_EQ(cs.subspan(1)[0], 2.0F);
  EXPECT_EQ(cs.last(1).front(), 4.0F);
  EXPECT_EQ(cs.first(2).back(), 2.0F);
  EXPECT_EQ(cs.size_bytes(), 16U);
}

}  // namespace
}  // namespace unimem::test
