// recommend() over every simulated profile, checked against BRIEF section 3.
#include <gtest/gtest.h>

#include <unimem/error.hpp>
#include <unimem/resources/policy.hpp>

namespace unimem {
namespace {

constexpr access_pattern all_patterns[] = {access_pattern::gpu_scratch, access_pattern::cpu_writes_gpu_reads,
                                           access_pattern::cpu_gpu_shared, access_pattern::gpu_writes_cpu_reads,
                                           access_pattern::weights};

TEST(policy, every_profile_and_pattern_gets_a_reason) {
  for (const auto& p : device_profile::simulated_profiles()) {
    for (auto pattern : all_patterns) {
      const recommendation r = recommend(p, pattern);
      EXPECT_FALSE(r.reason.empty()) << p.name << " / " << to_string(pattern);
      EXPECT_EQ(r.reason.find('\n'), std::string::npos) << "reason must be one line";
    }
  }
}

TEST(policy, integrated_gpus_never_stage_copies) {
  for (const auto& p : device_profile::simulated_profiles()) {
    if (!p.integrated) continue;
    for (auto pattern : all_patterns) {
      const recommendation r = recommend(p, pattern);
      SCOPED_TRACE(p.name + " / " + std::string(to_string(pattern)));
      EXPECT_FALSE(r.needs_copy);
      EXPECT_FALSE(r.staging.has_value());
    }
  }
}

TEST(policy, scratch_is_device_memory_everywhere) {
  for (const auto& p : device_profile::simulated_profiles()) {
    EXPECT_EQ(recommend(p, access_pattern::gpu_scratch).kind, memory_kind::device) << p.name;
  }
}

TEST(policy, frames_are_zero_copy_on_jetson_and_staged_on_discrete) {
  for (const auto& p : device_profile::simulated_profiles()) {
    const recommendation r = recommend(p, access_pattern::cpu_writes_gpu_reads);
    if (p.integrated) {
      EXPECT_EQ(r.kind, memory_kind::mapped) << p.name;
    } else {
      EXPECT_EQ(r.kind, memory_kind::device) << p.name;
      ASSERT_TRUE(r.staging.has_value());
      EXPECT_EQ(*r.staging, memory_kind::pinned);
      EXPECT_TRUE(r.needs_copy);
    }
  }
}

TEST(policy, shared_state_is_managed_and_pre_thor_jetsons_must_synchronise) {
  for (const auto& p : device_profile::simulated_profiles()) {
    if (!p.integrated) continue;
    const recommendation r = recommend(p, access_pattern::cpu_gpu_shared);
    EXPECT_EQ(r.kind, memory_kind::managed) << p.name;
    EXPECT_EQ(r.needs_sync_before_cpu_access, !p.concurrent_managed_access) << p.name;
    EXPECT_NE(r.reason.find("concurrentManagedAccess"), std::string::npos) << r.reason;
  }
  EXPECT_TRUE(recommend(device_profile::jetson_agx_orin(), access_pattern::cpu_gpu_shared).needs_sync_before_cpu_access);
  EXPECT_FALSE(recommend(device_profile::jetson_thor(), access_pattern::cpu_gpu_shared).needs_sync_before_cpu_access);
}

TEST(policy, results_avoid_uncached_pinned_memory_on_nano_and_tx2) {
  // Pinned memory is uncached on the CPU below CC 7.2: CPU reads of results would be 7-12x slower.
  for (auto p : {device_profile::jetson_nano(), device_profile::jetson_tx2()}) {
    const recommendation r = recommend(p, access_pattern::gpu_writes_cpu_reads);
    EXPECT_EQ(r.kind, memory_kind::managed) << p.name;
    EXPECT_NE(r.reason.find("uncached"), std::string::npos) << r.reason;
  }
  for (auto p : {device_profile::jetson_agx_xavier(), device_profile::jetson_agx_orin(), device_profile::jetson_orin_nx(),
                 device_profile::jetson_orin_nano(), device_profile::jetson_thor()}) {
    EXPECT_EQ(recommend(p, access_pattern::gpu_writes_cpu_reads).kind, memory_kind::mapped) << p.name;
  }
  const recommendation d = recommend(device_profile::discrete_h100(), access_pattern::gpu_writes_cpu_reads);
  EXPECT_EQ(d.kind, memory_kind::device);
  EXPECT_EQ(d.staging, memory_kind::pinned);
}

TEST(policy, weights_are_cached_on_both_sides_of_a_jetson_and_in_device_memory_on_discrete) {
  // Kernels read weights on every run: pinned or mapped memory would be uncached for the iGPU.
  for (const auto& p : device_profile::simulated_profiles()) {
    const recommendation r = recommend(p, access_pattern::weights);
    if (p.integrated) {
      EXPECT_EQ(r.kind, memory_kind::managed) << p.name;
      EXPECT_FALSE(r.needs_copy) << p.name;
      EXPECT_EQ(r.needs_sync_before_cpu_access, !p.concurrent_managed_access) << p.name;
      EXPECT_NE(r.reason.find("concurrentManagedAccess"), std::string::npos) << r.reason;
    } else {
      EXPECT_EQ(r.kind, memory_kind::device) << p.name;
      EXPECT_EQ(r.staging, memory_kind::pinned) << p.name;
      EXPECT_TRUE(r.needs_copy) << p.name;
    }
  }
  EXPECT_NE(recommend(device_profile::jetson_nano(), access_pattern::weights).reason.find("attached to the host"),
            std::string::npos);
}

TEST(policy, recommendations_never_need_a_capability_the_board_lacks) {
  for (const auto& p : device_profile::simulated_profiles()) {
    for (auto pattern : all_patterns) {
      const recommendation r = recommend(p, pattern);
      if (r.kind == memory_kind::registered) {
        EXPECT_TRUE(p.host_register_supported) << p.name;
      }
      if (r.kind == memory_kind::mapped) {
        EXPECT_TRUE(p.can_map_host_memory) << p.name;
      }
      if (r.kind == memory_kind::managed) {
        EXPECT_TRUE(p.managed_memory) << p.name;
      }
    }
  }
}

TEST(policy, make_resource_refuses_what_the_board_cannot_do_and_names_the_alternative) {
  try {
    (void)make_resource(memory_kind::registered, device_profile::jetson_nano());
    FAIL() << "registered memory on a Nano was accepted";
  } catch (const unsupported_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("hostRegisterSupported = 0"), std::string::npos) << what;
    EXPECT_NE(what.find("unimem::mapped_resource"), std::string::npos) << what;
  }
  device_profile no_map = device_profile::jetson_agx_orin();
  no_map.can_map_host_memory = false;
  EXPECT_THROW((void)make_resource(memory_kind::mapped, no_map), unsupported_error);
  device_profile no_managed = device_profile::jetson_agx_orin();
  no_managed.managed_memory = false;
  EXPECT_THROW((void)make_resource(memory_kind::managed, no_managed), unsupported_error);
  // Kinds every device has construct without touching a GPU.
  EXPECT_NE(make_resource(memory_kind::host, device_profile::jetson_nano()), nullptr);
  EXPECT_NE(make_resource(memory_kind::pinned, device_profile::jetson_nano()), nullptr);
  EXPECT_NE(make_resource(memory_kind::registered, device_profile::jetson_agx_orin()), nullptr);
}

TEST(policy, names_are_stable) {
  EXPECT_EQ(to_string(access_pattern::cpu_writes_gpu_reads), "cpu_writes_gpu_reads");
  EXPECT_EQ(to_string(access_pattern::weights), "weights");
  EXPECT_EQ(to_string(memory_kind::mapped), "mapped");
  EXPECT_EQ(to_string(memory_kind::registered), "registered");
}

}  // namespace
}  // namespace unimem
