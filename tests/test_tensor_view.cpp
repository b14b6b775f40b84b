// tensor_view on the host: layout, indexing, slicing, contiguity, and the validation that keeps
// byte sizes and offsets from overflowing. Kernels indexing views are in test_typed_gpu.cpp.
#include <array>
#include <cstdint>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/typed/span.hpp>
#include <unimem/typed/tensor_view.hpp>

namespace unimem::test {
namespace {

static_assert(std::is_trivially_copyable_v<tensor_view<float, 3>>, "views are passed to kernels by value");
static_assert(std::is_trivially_copyable_v<strided_view<float, 3>>, "views are passed to kernels by value");
// A contiguous view stores no strides: a pointer and the extents, like the arguments of a raw kernel.
static_assert(sizeof(tensor_view<float, 2>) == sizeof(float*) + 2 * sizeof(std::int64_t));
static_assert(sizeof(strided_view<float, 2>) == sizeof(float*) + 4 * sizeof(std::int64_t));
static_assert(std::is_same_v<tensor_view<float, 2>, tensor_view<float, 2, layout_right>>);
static_assert(tensor_view<float, 2>::is_always_contiguous() && !strided_view<float, 2>::is_always_contiguous());
// Adding const and going from contiguous to strided are implicit; the reverse of either is not.
static_assert(std::is_convertible_v<tensor_view<float, 2>, tensor_view<const float, 2>>);
static_assert(!std::is_convertible_v<tensor_view<const float, 2>, tensor_view<float, 2>>);
static_assert(std::is_convertible_v<tensor_view<float, 2>, strided_view<float, 2>>);
static_assert(std::is_convertible_v<tensor_view<float, 2>, strided_view<const float, 2>>);
static_assert(std::is_convertible_v<strided_view<float, 2>, strided_view<const float, 2>>);
static_assert(!std::is_convertible_v<strided_view<float, 2>, tensor_view<float, 2>>);
static_assert(std::is_convertible_v<tensor_view<float, 2>, pitched_view<const float, 2>>);
static_assert(std::is_convertible_v<pitched_view<float, 2>, strided_view<const float, 2>>);
static_assert(!std::is_convertible_v<pitched_view<float, 2>, tensor_view<float, 2>>);
static_assert(!std::is_convertible_v<strided_view<float, 2>, pitched_view<float, 2>>);
static_assert(std::is_constructible_v<pitched_view<float, 2>, strided_view<float, 2>>);  // explicit, checked
static_assert(std::is_constructible_v<tensor_view<float, 2>, pitched_view<float, 2>>);   // explicit, checked
static_assert(sizeof(pitched_view<float, 2>) == sizeof(float*) + 4 * sizeof(std::int64_t));
static_assert(pitched_view<float, 2>::is_always_unit_stride() && !strided_view<float, 2>::is_always_unit_stride());
static_assert(std::is_constructible_v<tensor_view<const float, 2>, strided_view<float, 2>>);  // explicit, checked
static_assert(!std::is_constructible_v<tensor_view<float, 2>, strided_view<const float, 2>>);
static_assert(!std::is_convertible_v<tensor_view<float, 2>, tensor_view<float, 3>>);
static_assert(!std::is_convertible_v<tensor_view<float, 2>, strided_view<int, 2>>);
static_assert(tensor_view<float, 3>::rank() == 3);
// What slicing returns: strided, except operator[] on a contiguous view (a row stays contiguous).
static_assert(std::is_same_v<decltype(std::declval<tensor_view<int, 3>>().slice(0, 0, 1)), strided_view<int, 3>>);
static_assert(std::is_same_v<decltype(std::declval<tensor_view<int, 3>>().subview({}, {})), pitched_view<int, 3>>);
static_assert(std::is_same_v<decltype(std::declval<pitched_view<int, 3>>().subview({}, {})), pitched_view<int, 3>>);
static_assert(std::is_same_v<decltype(std::declval<strided_view<int, 3>>().subview({}, {})), strided_view<int, 3>>);
static_assert(std::is_same_v<decltype(std::declval<pitched_view<int, 3>>()[0]), pitched_view<int, 2>>);
static_assert(std::is_same_v<decltype(std::declval<pitched_view<int, 3>>().slice(2, 0, 1)), strided_view<int, 3>>);
static_assert(std::is_same_v<decltype(std::declval<tensor_view<int, 3>>().select(1, 0)), strided_view<int, 2>>);
static_assert(std::is_same_v<decltype(std::declval<tensor_view<int, 3>>().transpose(0, 1)), strided_view<int, 3>>);
static_assert(std::is_same_v<decltype(std::declval<tensor_view<int, 3>>()[0]), tensor_view<int, 2>>);
static_assert(std::is_same_v<decltype(std::declval<strided_view<int, 3>>()[0]), strided_view<int, 2>>);
static_assert(
    std::is_same_v<decltype(std::declval<strided_view<int, 3>>().reshape(index_array<1>{})), tensor_view<int, 1>>);

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
  strided_view<const int, 2> v(data.data(), {3, 2}, {1, 3});
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
  EXPECT_THROW((strided_view<float, 2>(&x, {2, 3}, {3, -1})), std::invalid_argument);
  EXPECT_THROW((strided_view<float, 2>(&x, {2, -3}, {3, 1})), std::invalid_argument);
}

TEST(tensor_view, byte_sizes_and_offsets_that_overflow_are_refused) {
  float x = 0;
  const std::int64_t big = std::int64_t{1} << 32;
  // 2^64 elements: the element count itself overflows.
  EXPECT_THROW((tensor_view<float, 2>(&x, {big, big})), std::overflow_error);
  // 2^62 floats = 2^64 bytes: the count fits, the bytes do not.
  EXPECT_THROW((tensor_view<float, 1>(&x, std::int64_t{1} << 62)), std::overflow_error);
  // A fine shape with a stride that reaches past what ptrdiff_t can count.
  EXPECT_THROW((strided_view<float, 2>(&x, {4, 4}, {std::numeric_limits<std::int64_t>::max() / 8, 1})),
               std::overflow_error);
  EXPECT_THROW((strided_view<float, 2>(&x, {big, big})), std::overflow_error);
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

// An empty box or slice may start at the extent; with a huge stride of an extent-1 dimension that
// offset passes everything the constructor checked, so it must not be formed (UBSan: overflow).
TEST(tensor_view, empty_subviews_and_slices_at_the_end_form_no_offset) {
  float x[4] = {};
  const std::int64_t huge = std::numeric_limits<std::int64_t>::max() / 2;
  const strided_view<float, 2> v(x, {1, 4}, {huge, 1});
  const auto box = v.subview({1, 4}, {0, 0});
  EXPECT_TRUE(box.empty());
  EXPECT_EQ(box.data(), x);
  const auto none = v.slice(0, 1, 1);
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.data(), x);
  EXPECT_EQ(v.subview({0, 1}, {1, 2}).data(), x + 1) << "a non-empty box still moves";
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
  pitched_view<int, 2> box = v.subview({1, 2}, {2, 3});
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
  strided_view<int, 2> plane = v.select(0, 1);
  EXPECT_EQ(plane.extents(), (index_array<2>{3, 4}));
  EXPECT_EQ(plane(2, 3), 23);
  strided_view<int, 2> cols = v.select(2, 1);  // every (i, j, 1)
  EXPECT_EQ(cols.extents(), (index_array<2>{2, 3}));
  EXPECT_EQ(cols.strides(), (index_array<2>{12, 4}));
  EXPECT_EQ(cols(1, 2), 21);
  strided_view<int, 1> row = plane.select(0, 2);
  EXPECT_EQ(row(0), 20);
  strided_view<int, 0> one = row.select(0, 3);
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
  strided_view<int, 3> unit(data.data(), {2, 1, 12}, {12, 999, 1});
  EXPECT_TRUE(unit.is_contiguous());
  EXPECT_EQ(unit.reshape(index_array<1>{24})[23], 23);
}

TEST(tensor_view, broadcast_strides_are_allowed) {
  std::vector<int> row = {1, 2, 3};
  strided_view<const int, 2> v(row.data(), {4, 3}, {0, 1});
  EXPECT_EQ(v.size(), 12U);
  EXPECT_EQ(v.required_span_size(), 3U);
  EXPECT_EQ(v(3, 2), 3);
  EXPECT_FALSE(v.is_contiguous());
}

TEST(tensor_view, pitched_views_have_contiguous_rows_and_stored_pitches) {
  // A 3 × 4 image in rows of 6 elements (a pitched allocation): the last 2 of each row are padding.
  std::vector<int> data = iota(18);
  pitched_view<int, 2> img(data.data(), {3, 4}, {6, 1});
  EXPECT_EQ(img(2, 3), 15);
  EXPECT_EQ(img[1][2], 8);
  EXPECT_EQ(img.strides(), (index_array<2>{6, 1}));
  EXPECT_FALSE(img.is_contiguous());
  EXPECT_TRUE(img.has_unit_inner_stride());
  EXPECT_EQ(img.required_span_size(), 16U);  // 0 .. 15
  const strided_view<int, 2> as_strided = img;
  EXPECT_EQ(img.offset(2, 3), as_strided.offset(2, 3));
  // A region of interest of it is pitched too, at the parent's pitch.
  pitched_view<int, 2> roi = img.subview({1, 1}, {2, 2});
  EXPECT_EQ(roi.data(), data.data() + 7);
  EXPECT_EQ(roi(1, 1), 14);
  EXPECT_EQ(roi.stride(0), 6);
  // Innermost stride 1 is the promise; an innermost extent of 0 or 1 never uses it.
  try {
    pitched_view<int, 2> bad(data.data(), {3, 2}, {6, 2});
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("innermost stride 2"), std::string::npos) << what;
    EXPECT_NE(what.find("strided_view"), std::string::npos) << what;
  }
  pitched_view<int, 2> column(data.data(), {3, 1}, {6, 99});
  EXPECT_EQ(column.stride(1), 1);  // normalised
  EXPECT_EQ(column(2, 0), 12);
  // A pitched view of rank 3: planes of 3 rows of 6.
  pitched_view<const int, 3> planes(data.data(), {1, 3, 4}, {18, 6, 1});
  EXPECT_EQ(planes(0, 2, 1), 13);
  EXPECT_THROW((pitched_view<int, 2>(data.data(), {3, 4}, {-6, 1})), std::invalid_argument);
}

TEST(tensor_view, views_convert_explicitly_to_layouts_whose_promise_they_keep) {
  std::vector<int> data = iota(20);
  tensor_view<int, 2> v(data.data(), 4, 5);
  // A column range from slice() is strided by type but has contiguous rows.
  pitched_view<int, 2> cols(v.slice(1, 1, 4));
  EXPECT_EQ(cols.strides(), (index_array<2>{5, 1}));
  EXPECT_EQ(cols(3, 2), 18);
  using pitched = pitched_view<int, 2>;
  EXPECT_THROW((void)pitched(v.slice(1, 0, 5, 2)), std::invalid_argument);  // every other column
  EXPECT_THROW((void)pitched(v.transpose(0, 1)), std::invalid_argument);
  EXPECT_NO_THROW((void)pitched(strided_view<int, 2>(data.data(), {4, 1}, {5, 7})));  // one column: stride unused
  // Back to contiguous when the box spans whole rows.
  using dense = tensor_view<const int, 2>;
  EXPECT_EQ(dense(v.subview({1, 0}, {2, 5}))(1, 4), 14);
  EXPECT_THROW((void)dense(v.subview({1, 1}, {2, 4})), std::invalid_argument);
}

TEST(tensor_view, contiguous_and_strided_layouts_name_the_same_elements) {
  std::vector<int> data = iota(2 * 1 * 3 * 4);
  // Extents of 1 included: layout_right's Horner form and the stored strides must still agree.
  tensor_view<int, 4> v(data.data(), 2, 1, 3, 4);
  strided_view<int, 4> s = v;
  pitched_view<int, 4> p = v;
  EXPECT_EQ(p.strides(), v.strides());
  EXPECT_EQ(s.strides(), v.strides());
  EXPECT_EQ(v.strides(), (index_array<4>{12, 12, 4, 1}));
  EXPECT_EQ(v.stride(0), 12);
  EXPECT_EQ(v.stride(3), 1);
  EXPECT_EQ(s.extents(), v.extents());
  EXPECT_TRUE(s.is_contiguous());
  for (int a = 0; a < 2; ++a) {
    for (int c = 0; c < 3; ++c) {
      for (int d = 0; d < 4; ++d) {
        EXPECT_EQ(v.offset(a, 0, c, d), s.offset(a, 0, c, d));
        EXPECT_EQ(&v(a, 0, c, d), &s(a, 0, c, d));
        EXPECT_EQ(&v[a][0][c][d], &s[a][0][c][d]);
        EXPECT_EQ(&v(a, 0, c, d), &p(a, 0, c, d));
        EXPECT_EQ(&v[a][0][c][d], &p[a][0][c][d]);
      }
    }
  }
  EXPECT_EQ(v.required_span_size(), s.required_span_size());
  EXPECT_EQ(v.size_bytes(), s.size_bytes());
}

TEST(tensor_view, a_strided_view_converts_back_only_when_it_is_contiguous) {
  std::vector<int> data = iota(20);
  tensor_view<int, 2> v(data.data(), 4, 5);
  // Whole rows of a contiguous view are contiguous, though slice() returns a strided view.
  tensor_view<const int, 2> rows(v.slice(0, 1, 3));
  EXPECT_EQ(rows.extents(), (index_array<2>{2, 5}));
  EXPECT_EQ(&rows(1, 4), &data[14]);
  try {
    (void)tensor_view<int, 2>(v.transpose(0, 1));
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("not contiguous"), std::string::npos) << what;
    EXPECT_NE(what.find("(1, 5)"), std::string::npos) << what;  // the strides it was given
  }
  using dense = tensor_view<int, 2>;
  EXPECT_THROW((void)dense(v.slice(1, 0, 4)), std::invalid_argument);  // a column slice
  EXPECT_NO_THROW((void)dense(v.slice(1, 2, 2)));                     // empty: any strides
}

TEST(tensor_view, operator_brackets_of_a_contiguous_view_stay_contiguous) {
  std::vector<int> data = iota(24);
  tensor_view<int, 3> v(data.data(), 2, 3, 4);
  tensor_view<int, 2> plane = v[1];
  EXPECT_EQ(plane.data(), data.data() + 12);
  EXPECT_EQ(plane.extents(), (index_array<2>{3, 4}));
  tensor_view<int, 1> row = plane[2];
  EXPECT_EQ(row.data(), data.data() + 20);
  EXPECT_EQ(row[3], 23);
}

TEST(tensor_view, spans_and_views_convert) {
  std::vector<float> data = {1, 2, 3, 4};
  span<float> s(data.data(), data.size());
  tensor_view<float, 1> v = s;
  EXPECT_EQ(v.extent(0), 4);
  EXPECT_EQ(v[2], 3.0F);
  tensor_view<const float, 1> cv = v;
  EXPECT_EQ(cv(3), 4.0F);
  strided_view<const float, 1> sv = s;
  EXPECT_EQ(sv.stride(0), 1);
  EXPECT_EQ(sv[1], 2.0F);
  span<const float> cs = s;
  EXPECT_EQ(cs.subspan(1, 2).size(), 2U);
  EXPECT_EQ(cs.subspan(1)[0], 2.0F);
  EXPECT_EQ(cs.last(1).front(), 4.0F);
  EXPECT_EQ(cs.first(2).back(), 2.0F);
  EXPECT_EQ(cs.size_bytes(), 16U);
}

}  // namespace
}  // namespace unimem::test
