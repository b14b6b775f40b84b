// Estimator: bytes by dtype and shape, activations from a plan, and the batch chooser.
#include <unimem/planning/estimator.hpp>

#include <limits>
#include <stdexcept>

#include <gtest/gtest.h>

namespace {

using unimem::dtype;

TEST(estimator, tensor_and_parameter_bytes_by_dtype) {
  EXPECT_EQ(unimem::tensor_bytes(1000, dtype::f32), 4000u);
  EXPECT_EQ(unimem::tensor_bytes(1000, dtype::bf16), 2000u);
  EXPECT_EQ(unimem::tensor_bytes(1000, dtype::f8_e4m3), 1000u);
  EXPECT_EQ(unimem::tensor_bytes({8, 3, 224, 224}, dtype::f16), 8u * 3 * 224 * 224 * 2);
  EXPECT_EQ(unimem::tensor_bytes(std::vector<std::size_t>{}, dtype::f64), 8u);  // a scalar
  EXPECT_EQ(unimem::tensor_bytes({4, 0, 7}, dtype::f32), 0u);
  // ResNet-50: 25 557 032 parameters.
  const std::vector<unimem::parameter_group> resnet = {{"weights", 25557032 - 53120, dtype::f16},
                                                       {"batchnorm", 53120, dtype::f32}};
  EXPECT_EQ(unimem::parameter_bytes(resnet), (25557032u - 53120) * 2 + 53120 * 4);
  EXPECT_EQ(unimem::parameter_bytes({}), 0u);
}

TEST(estimator, overflow_is_an_error_not_a_small_number) {
  const std::size_t big = std::numeric_limits<std::size_t>::max() / 2;
  EXPECT_THROW(unimem::tensor_bytes(big, dtype::f32), std::overflow_error);
  EXPECT_THROW(unimem::tensor_bytes({big, 4}, dtype::u8), std::overflow_error);
  EXPECT_THROW(unimem::parameter_bytes({{"a", big, dtype::u8}, {"b", big, dtype::u8}, {"c", 2, dtype::u8}}),
               std::overflow_error);
  unimem::memory_estimate e;
  e.parameter_bytes = big;
  e.activation_bytes = big;
  e.input_bytes = 2;
  EXPECT_THROW(e.total(), std::overflow_error);
}

TEST(estimator, activations_come_from_the_plan) {
  // The toy instance of Pisarchyk & Lee: 124 bytes with reuse, 234 without.
  const std::vector<unimem::tensor_lifetime> t = {{32, 0, 1, 1}, {28, 1, 4, 1}, {36, 2, 5, 1}, {16, 3, 5, 1},
                                                  {8, 4, 5, 1},  {64, 5, 7, 1}, {10, 6, 8, 1}, {40, 7, 8, 1}};
  EXPECT_EQ(unimem::activation_bytes(t), 124u);
  EXPECT_EQ(unimem::activation_bytes(unimem::plan_memory(t)), 124u);
  unimem::memory_estimate e{1000, unimem::activation_bytes(t), 60, 4, 12};
  EXPECT_EQ(e.total(), 1200u);
}

TEST(estimator, choose_batch_keeps_the_headroom) {
  // 1000 B budget, 20% headroom: 800 usable; 100 fixed; 70 per sample -> 10 samples (800 B).
  EXPECT_EQ(unimem::choose_batch(1000, 70, 100), 10u);
  EXPECT_EQ(unimem::choose_batch(1000, 70, 100, 0.0), 12u);
  EXPECT_EQ(unimem::choose_batch(1000, 700, 100), 1u);
  EXPECT_EQ(unimem::choose_batch(1000, 701, 100), 0u);  // one sample does not fit
  EXPECT_EQ(unimem::choose_batch(1000, 1, 800), 0u);    // the fixed part alone fills the budget
  EXPECT_EQ(unimem::choose_batch(1000, 1, 5000), 0u);
  EXPECT_EQ(unimem::choose_batch(0, 1, 0), 0u);
  // 4 GB Nano, 20% headroom: ResNet-50 fp16 weights (51 MB) and 120 MB of activations per sample.
  const std::size_t gib = std::size_t{1} << 30, mib = std::size_t{1} << 20;
  const std::size_t usable = 4 * gib - 858993460;  // 20% of 4 GiB is 858993459.2 B, rounded up
  const std::size_t batch = unimem::choose_batch(4 * gib, 120 * mib, 51 * mib);
  EXPECT_EQ(batch, 26u);
  EXPECT_LE(51 * mib + batch * 120 * mib, usable);
  EXPECT_GT(51 * mib + (batch + 1) * 120 * mib, usable);
  // No overflow at the top of the range.
  const std::size_t max = std::numeric_limits<std::size_t>::max();
  EXPECT_EQ(unimem::choose_batch(max, max, 0, 0.0), 1u);
  EXPECT_LE(unimem::choose_batch(max, 1, 0), max);
}

TEST(estimator, choose_batch_rejects_nonsense) {
  EXPECT_THROW(unimem::choose_batch(1000, 0, 100), std::invalid_argument);
  EXPECT_THROW(unimem::choose_batch(1000, 10, 100, 1.0), std::invalid_argument);
  EXPECT_THROW(unimem::choose_batch(1000, 10, 100, -0.01), std::invalid_argument);
  EXPECT_THROW(unimem::choose_batch(1000, 10, 100, std::numeric_limits<double>::quiet_NaN()), std::invalid_argument);
  try {
    unimem::choose_batch(1000, 0, 100);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("per_sample_bytes"), std::string::npos) << e.what();
  }
}

}  // namespace
