// Accounting helpers and the dtype table.
#include <cstdint>
#include <limits>
#include <stdexcept>

#include <gtest/gtest.h>

#include <unimem/typed/dtype.hpp>
#include <unimem/typed/tensor_bytes.hpp>

namespace unimem::test {
namespace {

static_assert(dtype_of_v<float> == dtype::f32);
static_assert(dtype_of_v<const double> == dtype::f64);
static_assert(dtype_of_v<std::int8_t> == dtype::i8);
static_assert(dtype_of_v<std::uint8_t> == dtype::u8);
static_assert(dtype_of_v<std::int16_t> == dtype::i16);
static_assert(dtype_of_v<std::uint16_t> == dtype::u16);
static_assert(dtype_of_v<std::int32_t> == dtype::i32);
static_assert(dtype_of_v<std::uint32_t> == dtype::u32);
static_assert(dtype_of_v<long long> == dtype::i64);
static_assert(dtype_of_v<std::uint64_t> == dtype::u64);
static_assert(dtype_of_v<bool> == dtype::boolean);
static_assert(dtype_of_v<__half> == dtype::f16);  // declared by dtype.hpp, no CUDA header needed
static_assert(dtype_of_v<__nv_bfloat16> == dtype::bf16);
static_assert(dtype_of_v<__nv_fp8_e4m3> == dtype::f8_e4m3);
static_assert(dtype_of_v<__nv_fp8_e5m2> == dtype::f8_e5m2);
static_assert(!has_dtype_v<char>, "char's signedness differs between x86 and the Jetson's aarch64");
static_assert(!has_dtype_v<long double>);
static_assert(!has_dtype_v<float*>);

TEST(dtype, sizes_names_and_kinds) {
  EXPECT_EQ(size_of(dtype::u16), 2U);
  EXPECT_EQ(size_of(dtype::u32), 4U);
  EXPECT_EQ(size_of(dtype::u64), 8U);
  EXPECT_EQ(size_of(dtype::f8_e4m3), 1U);
  EXPECT_EQ(to_string(dtype::u16), "uint16");
  EXPECT_EQ(to_string(dtype::bf16), "bfloat16");
  EXPECT_TRUE(is_floating_point(dtype::bf16));
  EXPECT_TRUE(is_floating_point(dtype::f8_e5m2));
  EXPECT_FALSE(is_floating_point(dtype::i8));
  EXPECT_FALSE(is_floating_point(dtype::boolean));
}

TEST(tensor_bytes, a_1024_by_512_fully_connected_layer) {
  const std::uint64_t params = linear_parameters(1024, 512);
  EXPECT_EQ(params, 524'800U);  // 1024 × 512 weights + 512 biases
  EXPECT_EQ(parameter_bytes(params, dtype::f32), 2'099'200U);  // ≈ 2.1 MB
  EXPECT_NEAR(static_cast<double>(parameter_bytes(params, dtype::f32)) / 1e6, 2.1, 0.01);
  EXPECT_EQ(parameter_bytes(params, dtype::f16), 2'099'200U / 2);
  EXPECT_EQ(parameter_bytes(params, dtype::bf16), 2'099'200U / 2);
  EXPECT_EQ(parameter_bytes(params, dtype::i8), 2'099'200U / 4);
  EXPECT_EQ(linear_parameters(1024, 512, false), 524'288U);
}

TEST(tensor_bytes, convolutions) {
  EXPECT_EQ(conv2d_parameters(3, 64, 7, 7, 1, false), 9'408U);  // ResNet-50's first layer
  EXPECT_EQ(conv2d_parameters(32, 32, 3, 3, 32), 32U * 9 + 32);  // depthwise with bias
  EXPECT_THROW((void)conv2d_parameters(30, 32, 3, 3, 4), std::invalid_argument);
  EXPECT_THROW((void)conv2d_parameters(3, 64, 7, 7, 0), std::invalid_argument);
}

TEST(tensor_bytes, bytes_for_shapes) {
  EXPECT_EQ(bytes_for({1, 3, 224, 224}, dtype::f16), 301'056U);
  EXPECT_EQ(bytes_for({}, dtype::f32), 4U);  // a scalar
  EXPECT_EQ(bytes_for({8, 0, 3}, dtype::f64), 0U);
  EXPECT_EQ(bytes_for(std::vector<std::int64_t>{2, 2}, dtype::u16), 8U);
  EXPECT_EQ(element_count({2, 3, 4}), 24U);
  EXPECT_THROW((void)bytes_for({2, -2}, dtype::f32), std::invalid_argument);
  const std::int64_t big = std::int64_t{1} << 32;
  EXPECT_THROW((void)element_count({big, big}), std::overflow_error);
  EXPECT_THROW((void)bytes_for({std::int64_t{1} << 62}, dtype::f32), std::overflow_error);
  EXPECT_EQ(element_count({big, big, 0}), 0U);  // a zero extent wins over overflow
}

TEST(tensor_bytes, allocation_bytes_round_up_to_the_alignment) {
  EXPECT_EQ(allocation_bytes(0), 0U);
  EXPECT_EQ(allocation_bytes(1), 256U);
  EXPECT_EQ(allocation_bytes(256), 256U);
  EXPECT_EQ(allocation_bytes(257), 512U);
  EXPECT_EQ(allocation_bytes(100, 64), 128U);
  EXPECT_THROW((void)allocation_bytes(1, 3), std::invalid_argument);
  EXPECT_THROW((void)allocation_bytes(std::numeric_limits<std::size_t>::max()), std::overflow_error);
}

TEST(tensor_bytes, parameter_counts_that_overflow_are_refused) {
  EXPECT_THROW((void)parameter_bytes(std::numeric_limits<std::uint64_t>::max() / 2, dtype::f32),
               std::overflow_error);
  EXPECT_THROW((void)linear_parameters(std::uint64_t{1} << 40, std::uint64_t{1} << 40), std::overflow_error);
}

}  // namespace
}  // namespace unimem::test
