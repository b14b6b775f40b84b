#include <set>
#include <string>

#include <gtest/gtest.h>

#include <unimem/device_profile.hpp>
#include <unimem/error.hpp>

#include "support/gpu_test.hpp"

namespace unimem {
namespace {

double gbps(const device_profile& p) { return p.peak_bandwidth_bytes_per_s() / 1e9; }

TEST(device_profile, jetson_peak_bandwidth_matches_the_data_sheets) {
  // BRIEF section 3: Nano 25.6 GB/s, TX2 59.7, AGX Xavier 137, Orin Nano 68, Orin NX 102.4,
  // AGX Orin 204.8, Thor 273.
  EXPECT_NEAR(gbps(device_profile::jetson_nano()), 25.6, 0.1);
  EXPECT_NEAR(gbps(device_profile::jetson_tx2()), 59.7, 0.1);
  EXPECT_NEAR(gbps(device_profile::jetson_agx_xavier()), 137.0, 0.6);
  EXPECT_NEAR(gbps(device_profile::jetson_orin_nano()), 68.0, 0.5);
  EXPECT_NEAR(gbps(device_profile::jetson_orin_nx()), 102.4, 0.1);
  EXPECT_NEAR(gbps(device_profile::jetson_agx_orin()), 204.8, 0.1);
  EXPECT_NEAR(gbps(device_profile::jetson_thor()), 273.0, 0.1);
}

TEST(device_profile, io_coherency_starts_at_xavier) {
  EXPECT_FALSE(device_profile::jetson_nano().io_coherent());
  EXPECT_FALSE(device_profile::jetson_tx2().io_coherent());
  EXPECT_TRUE(device_profile::jetson_agx_xavier().io_coherent());
  EXPECT_TRUE(device_profile::jetson_agx_orin().io_coherent());
  EXPECT_TRUE(device_profile::jetson_thor().io_coherent());
  // I/O coherency is a property of integrated GPUs; a discrete GPU never has it.
  EXPECT_FALSE(device_profile::discrete_h100().io_coherent());
}

TEST(device_profile, jetson_capabilities_follow_brief_section_3) {
  for (const auto& p : device_profile::simulated_profiles()) {
    SCOPED_TRACE(p.name);
    EXPECT_TRUE(p.simulated);
    EXPECT_EQ(p.device, -1);
    EXPECT_TRUE(p.can_map_host_memory);
    EXPECT_TRUE(p.managed_memory);
    EXPECT_GT(p.total_memory_bytes, 0u);
    EXPECT_GT(p.multiprocessors, 0);
    if (!p.integrated) continue;
    // hostRegister needs I/O coherency (not Nano/TX2); concurrent managed access only on Thor.
    EXPECT_EQ(p.host_register_supported, p.compute_capability() >= 72);
    EXPECT_EQ(p.concurrent_managed_access, p.compute_capability() >= 110);
    EXPECT_EQ(p.pageable_memory_access, p.compute_capability() >= 110);
  }
}

TEST(device_profile, simulated_profiles_are_distinct_and_jetsons_come_first) {
  const auto all = device_profile::simulated_profiles();
  ASSERT_EQ(all.size(), 8u);
  std::set<std::string> names;
  for (const auto& p : all) names.insert(p.name);
  EXPECT_EQ(names.size(), all.size());
  for (std::size_t i = 0; i + 1 < all.size(); ++i) EXPECT_TRUE(all[i].integrated) << all[i].name;
  EXPECT_FALSE(all.back().integrated);
}

TEST(device_profile, device_count_never_throws_and_explains_zero) {
  std::string why;
  const int n = cuda_device_count(&why);
  EXPECT_GE(n, 0);
  if (n == 0) {
    EXPECT_FALSE(why.empty());
  }
}

TEST(device_profile, query_without_device_or_with_bad_ordinal_is_a_cuda_error) {
  const int n = cuda_device_count();
  try {
    (void)device_profile::query(n + 3);
    FAIL() << "query of a device that does not exist succeeded";
  } catch (const cuda_error& e) {
    EXPECT_FALSE(e.call().empty());
    EXPECT_FALSE(e.error_name().empty());
  }
  EXPECT_THROW((void)device_profile::query(-1), cuda_error);
}

class device_profile_gpu : public test::gpu_test {};

TEST_F(device_profile_gpu, current_device_reads_plausible_values) {
  const device_profile p = device_profile::current();
  EXPECT_FALSE(p.simulated);
  EXPECT_GE(p.device, 0);
  EXPECT_FALSE(p.name.empty());
  EXPECT_GE(p.compute_capability(), 50);
  EXPECT_GT(p.multiprocessors, 0);
  EXPECT_GT(p.total_memory_bytes, std::size_t{1} << 30);
  EXPECT_TRUE(p.unified_addressing);
  EXPECT_GT(p.memory_bus_width_bits, 0);
  EXPECT_GT(p.memory_clock_khz, 0);
  EXPECT_GT(p.peak_bandwidth_bytes_per_s(), 1e10);
  // The cached copy and a fresh query agree.
  const device_profile q = device_profile::query(p.device);
  EXPECT_EQ(p.name, q.name);
  EXPECT_EQ(p.concurrent_managed_access, q.concurrent_managed_access);
}

}  // namespace
}  // namespace unimem
