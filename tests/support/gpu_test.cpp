#include "support/gpu_test.hpp"

#include <cstdlib>
#include <cstring>

#include <unimem/device_profile.hpp>

namespace unimem::test {

bool gpu_available(std::string* why) { return cuda_device_count(why) > 0; }

bool gpu_required() {
  const char* v = std::getenv("UNIMEM_REQUIRE_GPU");
  return v != nullptr && std::strcmp(v, "0") != 0 && *v != '\0';
}

void gpu_test::SetUp() {
  std::string why;
  if (gpu_available(&why)) return;
  if (gpu_required()) FAIL() << "UNIMEM_REQUIRE_GPU=1 but " << why;
  GTEST_SKIP() << "needs a CUDA GPU: " << why;
}

}  // namespace unimem::test
