// Test support: GPU availability and the skip-or-fail rule.
#pragma once

#include <string>

#include <gtest/gtest.h>

namespace unimem::test {

/// True when a CUDA device is usable; otherwise `why` says what is missing.
bool gpu_available(std::string* why = nullptr);

/// True when UNIMEM_REQUIRE_GPU=1: a missing GPU is then a failure, not a skip.
bool gpu_required();

/// Fixture for tests that need a GPU: skips with the reason when there is none, and fails
/// instead under UNIMEM_REQUIRE_GPU=1.
class gpu_test : public ::testing::Test {
 protected:
  void SetUp() override;
};

}  // namespace unimem::test

/// For tests outside gpu_test (typed suites): skip or fail from the test body. A macro because
/// GTEST_SKIP must return from the test function itself.
#define UNIMEM_NEEDS_GPU()                                                                  \
  do {                                                                                      \
    std::string unimem_why_;                                                                \
    if (!::unimem::test::gpu_available(&unimem_why_)) {                                     \
      if (::unimem::test::gpu_required()) FAIL() << "UNIMEM_REQUIRE_GPU=1 but " << unimem_why_; \
      GTEST_SKIP() << "needs a CUDA GPU: " << unimem_why_;                                  \
    }                                                                                       \
  } while (0)
