// The dtype-erased tensor over host memory. Device tensors are in test_typed_gpu.cpp.
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <unimem/error.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/typed/tensor.hpp>

#include "support/typed_resources.hpp"

namespace unimem::test {
namespace {

static_assert(!std::is_copy_constructible_v<tensor>);
static_assert(std::is_nothrow_move_constructible_v<tensor>);

TEST(tensor, shape_dtype_sizes_and_strides) {
  recording_resource mr;
  tensor t({2, 3, 4}, dtype::f16, mr, fake_stream(5));
  EXPECT_EQ(t.element_type(), dtype::f16);
  EXPECT_EQ(t.rank(), 3U);
  EXPECT_EQ(t.shape(), (std::vector<std::int64_t>{2, 3, 4}));
  EXPECT_EQ(t.strides(), (std::vector<std::int64_t>{12, 4, 1}));
  EXPECT_EQ(t.extent(2), 4);
  EXPECT_THROW((void)t.extent(3), std::out_of_range);
  EXPECT_EQ(t.size(), 24U);
  EXPECT_EQ(t.size_bytes(), 48U);
  EXPECT_EQ(t.stream(), fake_stream(5));
  EXPECT_EQ(t.resource(), &mr);
  EXPECT_EQ(t.device(), -1);  // host memory has no device
  ASSERT_EQ(mr.allocations.size(), 1U);
  EXPECT_EQ(mr.allocations[0].bytes, 48U);
  EXPECT_EQ(mr.allocations[0].alignment, 256U);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data()) % 256, 0U);
}

TEST(tensor, default_and_empty_tensors) {
  tensor d;
  EXPECT_EQ(d.shape(), (std::vector<std::int64_t>{0}));
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(d.data(), nullptr);
  host_resource mr;
  tensor e({3, 0}, dtype::f32, mr);
  EXPECT_TRUE(e.empty());
  EXPECT_EQ(e.size_bytes(), 0U);
  tensor scalar(std::vector<std::int64_t>{}, dtype::f64, mr);
  EXPECT_EQ(scalar.rank(), 0U);
  EXPECT_EQ(scalar.size(), 1U);
  scalar.host_view<double, 0>()() = 4.5;
  EXPECT_EQ((scalar.view<const double, 0>()()), 4.5);
}

TEST(tensor, typed_views_check_dtype_and_rank) {
  host_resource mr;
  tensor t({2, 3}, dtype::f32, mr);
  auto v = t.host_view<float, 2>();
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) v(i, j) = static_cast<float>(10 * i + j);
  }
  const tensor& ct = t;
  tensor_view<const float, 2> cv = ct.view<float, 2>();
  EXPECT_EQ(cv(1, 2), 12.0F);
  EXPECT_TRUE(cv.is_contiguous());
  try {
    (void)t.view<double, 2>();
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("float32"), std::string::npos) << what;
    EXPECT_NE(what.find("float64"), std::string::npos) << what;
  }
  EXPECT_THROW((void)(t.view<float, 3>()), std::invalid_argument);
  EXPECT_THROW((void)(t.view<std::int32_t, 2>()), std::invalid_argument);  // same size, other type
}

TEST(tensor, half_precision_views_use_cuda_types) {
  host_resource mr;
  tensor t({4}, dtype::f16, mr);
  auto v = t.host_view<__half, 1>();
  v(0) = __float2half(1.5F);
  EXPECT_EQ(__half2float(t.view<const __half, 1>()(0)), 1.5F);
  EXPECT_THROW((void)(t.view<__nv_bfloat16, 1>()), std::invalid_argument);
}

TEST(tensor, bad_shapes_are_refused_before_allocating) {
  recording_resource mr;
  EXPECT_THROW(tensor({2, -1}, dtype::f32, mr), std::invalid_argument);
  const std::int64_t big = std::int64_t{1} << 40;
  EXPECT_THROW(tensor({big, big}, dtype::u8, mr), std::overflow_error);
  EXPECT_THROW(tensor({std::int64_t{1} << 61}, dtype::f64, mr), std::overflow_error);
  // An empty shape whose other extents multiply past std::ptrdiff_t: 0 elements, but its
  // row-major strides would overflow (UBSan) the first time strides() or a view is asked for.
  EXPECT_THROW(tensor({0, big, big}, dtype::f32, mr), std::overflow_error);
  EXPECT_TRUE(mr.allocations.empty());
  tensor empty({0, 4}, dtype::f32, mr);
  EXPECT_THROW(empty.reshape({big, big, 0}), std::overflow_error);
  EXPECT_EQ(empty.shape(), (std::vector<std::int64_t>{0, 4})) << "a refused reshape changes nothing";
  empty.reshape({4, 0, 8});
  EXPECT_EQ(empty.strides(), (std::vector<std::int64_t>{8, 8, 1}));
}

TEST(tensor, host_view_refuses_device_memory_but_view_does_not) {
  recording_resource mr(fake_device_traits);
  tensor t({8, 8}, dtype::f32, mr);
  EXPECT_THROW((void)(t.host_view<float, 2>()), host_access_error);
  const tensor& ct = t;
  EXPECT_THROW((void)(ct.host_view<float, 2>()), host_access_error);
  EXPECT_NO_THROW((void)(t.view<float, 2>()));  // for kernels
}

TEST(tensor, reshape_keeps_the_elements) {
  host_resource mr;
  tensor t({2, 6}, dtype::i32, mr);
  auto flat = t.host_view<std::int32_t, 2>().flat();
  std::iota(flat.begin(), flat.end(), 0);
  t.reshape({3, 2, 2});
  EXPECT_EQ(t.rank(), 3U);
  EXPECT_EQ((t.host_view<std::int32_t, 3>()(2, 1, 0)), 10);
  EXPECT_THROW(t.reshape({5, 2}), std::invalid_argument);
  EXPECT_THROW(t.reshape({-3, -4}), std::invalid_argument);
  EXPECT_EQ(t.shape(), (std::vector<std::int64_t>{3, 2, 2}));  // unchanged by the failures
}

TEST(tensor, copies_are_explicit_and_independent) {
  host_resource mr;
  recording_resource other;
  tensor t({3}, dtype::i64, mr);
  const std::int64_t src[3] = {7, 8, 9};
  t.copy_from(src, sizeof(src), {});
  tensor c = t.copy(other, fake_stream(3));
  EXPECT_EQ(c.resource(), &other);
  EXPECT_EQ(c.stream(), fake_stream(3));
  EXPECT_EQ(c.shape(), t.shape());
  EXPECT_EQ(c.element_type(), dtype::i64);
  t.host_view<std::int64_t, 1>()(0) = 0;
  std::int64_t out[3] = {};
  c.copy_to(out, sizeof(out), {});
  EXPECT_EQ(out[0], 7);
  EXPECT_EQ(out[2], 9);
  EXPECT_THROW(t.copy_from(src, 16, {}), std::invalid_argument);
  EXPECT_THROW(c.copy_to(out, 8, {}), std::invalid_argument);
}

TEST(tensor, moves_keep_the_memory_alive_once) {
  recording_resource mr;
  {
    tensor a({16}, dtype::u8, mr);
    void* p = a.data();
    tensor b(std::move(a));
    EXPECT_EQ(b.data(), p);
    tensor c;
    c = std::move(b);
    EXPECT_EQ(c.data(), p);
    EXPECT_TRUE(mr.deallocations.empty());
  }
  EXPECT_EQ(mr.deallocations.size(), 1U);
}

}  // namespace
}  // namespace unimem::test
